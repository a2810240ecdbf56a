//! Contract tests of the Compliance API client against the fake Compliance API over real HTTP:
//! every endpoint and record shape, paging walks checked against the fake's manifest, every
//! error class, the retry rules under injected faults, timeouts and the rate-limit headers.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use logwarden_compliance::{
    ActivityQuery, Chat, ChatOrder, ChatQuery, Client, ClientConfig, ContentBlock, CursorListing,
    CursorPager, Direction, Error, Identified, Message, MessageQuery, RetryPolicy, Role, Secret,
};
use logwarden_fake_api::faults::{
    BodyFault, BodyFaultKind, RateLimitFault, ServerErrorFault, SlowFault, Trigger,
};
use logwarden_fake_api::{
    spawn, ApiKeySpec, FakeConfig, FakeServer, FaultConfig, Manifest, Scope, DEFAULT_TEST_KEY,
};
use serde_json::Value;

/// A small organisation without the real rate limit, so walks with tiny pages stay fast.
fn small() -> FakeConfig {
    FakeConfig {
        seed: 11,
        users: 5,
        days: 2,
        plant_rate: 0.25,
        rate_limit: None,
        ..FakeConfig::default()
    }
}

/// Enough chats that tool calls, attachments, artifacts and deleted chats all occur.
fn rich() -> FakeConfig {
    FakeConfig {
        users: 6,
        days: 3,
        ..small()
    }
}

/// Millisecond backoffs so retry tests take no real time.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 8,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(8),
        max_malformed_retries: 2,
        max_retry_after: Duration::from_secs(2),
    }
}

async fn start(config: FakeConfig) -> FakeServer {
    spawn(config).await.expect("fake API starts")
}

fn client_with(fake: &FakeServer, key: &str, retry: RetryPolicy) -> Client {
    let mut config =
        ClientConfig::from_base_url(&fake.base_url(), Secret::new(key)).expect("base url");
    config.network.allow_loopback_http = true;
    config.retry = retry;
    Client::new(config).expect("client")
}

fn client(fake: &FakeServer) -> Client {
    client_with(fake, DEFAULT_TEST_KEY, fast_retries())
}

/// A window covering most of the history and running past the fake's clock.
fn window(fake: &FakeServer) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        fake.history_start() + chrono::Duration::hours(20),
        fake.history_end() + chrono::Duration::hours(6),
    )
}

/// Everything a cursor walk returned, page by page.
struct Walk<P: CursorListing> {
    items: Vec<P::Item>,
    /// Per page: its `request-id` and `last_id`.
    pages: Vec<(Option<String>, Option<String>)>,
    pager: CursorPager<P>,
}

async fn walk<P>(mut pager: CursorPager<P>) -> Walk<P>
where
    P: CursorListing,
    P::Item: Clone,
{
    let mut items = Vec::new();
    let mut pages = Vec::new();
    while let Some(page) = pager.next_page().await.expect("page") {
        items.extend(page.body.items().iter().cloned());
        pages.push((
            page.meta.request_id.clone(),
            page.body.last_id().map(str::to_owned),
        ));
    }
    Walk {
        items,
        pages,
        pager,
    }
}

fn ids<T: Identified>(items: &[T]) -> Vec<String> {
    items.iter().map(|item| item.id().to_owned()).collect()
}

fn assert_unique<T: Identified>(items: &[T], what: &str) {
    let unique: HashSet<&str> = items.iter().map(Identified::id).collect();
    assert_eq!(unique.len(), items.len(), "{what} repeated across pages");
}

/// Checks what every finished walk must report: where it started, where it ended, the
/// request id of its last page.
fn assert_walk_bookkeeping<P: CursorListing>(walk: &Walk<P>, start: Option<&str>) {
    assert!(walk.pager.is_done());
    assert_eq!(walk.pager.start_cursor(), start);
    assert_eq!(walk.pager.pages_fetched(), walk.pages.len() as u64);
    assert_eq!(walk.pager.records_returned(), walk.items.len() as u64);
    let (last_request_id, _) = walk.pages.last().expect("at least one page");
    assert!(last_request_id
        .as_deref()
        .is_some_and(|id| id.starts_with("req_")));
    assert_eq!(walk.pager.last_request_id(), last_request_id.as_deref());
    // The terminal cursor is the last non-null last_id, to resume from later.
    let terminal = walk.pages.iter().rev().find_map(|(_, last)| last.clone());
    assert_eq!(walk.pager.cursor(), terminal.as_deref());
    assert!(terminal.is_some());
}

/// What a complete walk of a window found, in the manifest's terms.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    activities: u64,
    chats: u64,
    messages: u64,
    prompt_events: u64,
}

impl Counts {
    fn of(manifest: &Manifest) -> Self {
        Self {
            activities: manifest.activities,
            chats: manifest.chats,
            messages: manifest.messages,
            prompt_events: manifest.prompt_events,
        }
    }
}

/// Page sizes of a window walk.
struct Limits {
    activities: u32,
    chats: u32,
    messages: u32,
}

const TINY_PAGES: Limits = Limits {
    activities: 7,
    chats: 3,
    messages: 2,
};

/// Walks `[from, to)` the way an ingest job does and returns the counts with the activity and
/// chat ids in walk order. Asserts order, uniqueness and pager bookkeeping on the way.
async fn walk_window(
    client: &Client,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limits: &Limits,
) -> (Counts, Vec<String>, Vec<String>) {
    let activities = walk(
        client
            .activities(
                ActivityQuery::new()
                    .created_at_gte(from)
                    .created_at_lt(to)
                    .limit(limits.activities),
            )
            .expect("activity pager"),
    )
    .await;
    assert_unique(&activities.items, "activities");
    assert_walk_bookkeeping(&activities, None);
    let keys: Vec<_> = activities
        .items
        .iter()
        .map(|a| (a.created_at, a.id.clone()))
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] > w[1]),
        "activities are newest first, ties by id"
    );
    assert!(keys.iter().all(|(t, _)| *t >= from && *t < to));

    let chats = walk(
        client
            .chats(
                ChatQuery::new()
                    .order_by(ChatOrder::UpdatedAt)
                    .updated_at_gte(from)
                    .updated_at_lt(to)
                    .limit(limits.chats),
            )
            .expect("chat pager"),
    )
    .await;
    assert_unique(&chats.items, "chats");
    assert_walk_bookkeeping(&chats, None);
    let keys: Vec<_> = chats
        .items
        .iter()
        .map(|c| (c.updated_at, c.id.clone()))
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "chats ascend by updated_at, ties by id"
    );

    let (mut messages, mut prompt_events) = (0u64, 0u64);
    for chat in &chats.items {
        let walked = walk(
            client
                .messages(&chat.id, MessageQuery::new().limit(limits.messages))
                .expect("message pager"),
        )
        .await;
        assert_unique(&walked.items, "messages");
        let keys: Vec<_> = walked
            .items
            .iter()
            .map(|m| (m.created_at, m.id.clone()))
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "messages ascend by created_at"
        );
        messages += walked.items.len() as u64;
        if !chat.is_deleted() {
            prompt_events += walked.items.iter().filter(|m| m.role == Role::User).count() as u64;
        }
    }
    let counts = Counts {
        activities: activities.items.len() as u64,
        chats: chats.items.len() as u64,
        messages,
        prompt_events,
    };
    (counts, ids(&activities.items), ids(&chats.items))
}

/// Status, error type and request id of an API error; panics on any other variant.
fn api_error(error: &Error) -> (u16, &str, &str) {
    match error {
        Error::Api {
            status,
            error_type,
            request_id,
            ..
        } => (
            *status,
            error_type.as_str(),
            request_id
                .as_deref()
                .expect("an API error carries a request id"),
        ),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Asserts the error is the given API error class, one line, quoting its request id.
fn assert_api_error(error: &Error, status: u16, error_type: &str) {
    let (got_status, got_type, request_id) = api_error(error);
    assert_eq!((got_status, got_type), (status, error_type), "{error}");
    assert_eq!(error.class(), error_type);
    assert_eq!(error.status(), Some(status));
    assert!(request_id.starts_with("req_"), "{request_id}");
    let text = error.to_string();
    assert!(
        text.contains(&format!("HTTP {status} {error_type}")),
        "{text}"
    );
    assert!(text.contains(request_id), "{text}");
    assert!(!text.contains('\n'), "{text}");
}

/// Raw pages of `path` through plain HTTP, following `last_id`, for comparison with the typed
/// client.
async fn raw_walk(fake: &FakeServer, path: &str, params: &[(&str, String)]) -> Vec<Value> {
    let http = reqwest::Client::new();
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut query: Vec<(&str, String)> = params.to_vec();
        if let Some(cursor) = &after {
            query.push(("after_id", cursor.clone()));
        }
        let body: Value = http
            .get(format!("{}{path}", fake.base_url()))
            .header("x-api-key", DEFAULT_TEST_KEY)
            .header("anthropic-version", "2023-06-01")
            .query(&query)
            .send()
            .await
            .expect("raw request")
            .json()
            .await
            .expect("raw JSON");
        items.extend(body["data"].as_array().expect("data").iter().cloned());
        if body["has_more"] != Value::Bool(true) {
            return items;
        }
        after = Some(body["last_id"].as_str().expect("last_id").to_owned());
    }
}

// ---------------------------------------------------------------------------------------------
// Endpoints and records
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_activity_parses_and_re_serialises_to_exactly_what_the_api_sent() {
    let fake = start(small()).await;
    let client = client(&fake);

    let typed = walk(
        client
            .activities(ActivityQuery::new().limit(500))
            .expect("pager"),
    )
    .await;
    let raw = raw_walk(
        &fake,
        "/v1/compliance/activities",
        &[("limit", "500".into())],
    )
    .await;

    assert_eq!(typed.items.len(), raw.len());
    assert!(!raw.is_empty());
    for (activity, raw) in typed.items.iter().zip(&raw) {
        // Types the client has no model for, their own fields and every actor kind survive
        // untouched.
        assert_eq!(
            serde_json::to_value(activity).expect("serialise"),
            *raw,
            "{}",
            activity.id
        );
        assert_eq!(Some(activity.activity_type.as_str()), raw["type"].as_str());
        let actor = activity.actor.as_ref().expect("actor");
        assert_eq!(actor.kind(), raw["actor"]["type"].as_str());
    }
    let types: BTreeSet<&str> = typed
        .items
        .iter()
        .map(|a| a.activity_type.as_str())
        .collect();
    for expected in [
        "claude_chat_created",
        "claude_chat_viewed",
        "sso_login_succeeded",
        "compliance_api_accessed",
        "org_directory_resync_completed",
    ] {
        assert!(
            types.contains(expected),
            "{expected} missing from {types:?}"
        );
    }
    let actor_kinds: BTreeSet<&str> = typed
        .items
        .iter()
        .filter_map(|a| a.actor.as_ref().and_then(|actor| actor.kind()))
        .collect();
    for expected in ["user_actor", "api_actor", "system_actor"] {
        assert!(actor_kinds.contains(expected), "{actor_kinds:?}");
    }
    let created = typed
        .items
        .iter()
        .find(|a| a.activity_type == "claude_chat_created")
        .expect("a chat creation");
    assert!(created
        .extra_str("claude_chat_id")
        .is_some_and(|id| id.starts_with("claude_chat_")));
}

#[tokio::test]
async fn activity_filters_by_type_actor_and_time_bounds_return_exactly_the_matching_records() {
    let fake = start(small()).await;
    let client = client(&fake);
    let everything = walk(
        client
            .activities(ActivityQuery::new().limit(1000))
            .expect("pager"),
    )
    .await
    .items;

    let wanted = ["claude_chat_created", "sso_login_succeeded"];
    let by_type = walk(
        client
            .activities(
                ActivityQuery::new()
                    .activity_type(wanted[0])
                    .activity_type(wanted[1])
                    .limit(9),
            )
            .expect("pager"),
    )
    .await
    .items;
    let expected: Vec<String> = everything
        .iter()
        .filter(|a| wanted.contains(&a.activity_type.as_str()))
        .map(|a| a.id.clone())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(ids(&by_type), expected);

    let actor = everything
        .iter()
        .find_map(|a| a.actor.as_ref().and_then(|actor| actor.user_id()))
        .expect("a user actor")
        .to_owned();
    let by_actor = walk(
        client
            .activities(ActivityQuery::new().actor_id(&actor).limit(5))
            .expect("pager"),
    )
    .await
    .items;
    let expected: Vec<String> = everything
        .iter()
        .filter(|a| a.actor.as_ref().and_then(|x| x.user_id()) == Some(actor.as_str()))
        .map(|a| a.id.clone())
        .collect();
    assert!(expected.len() > 1);
    assert_eq!(ids(&by_actor), expected);

    let from = fake.history_start() + chrono::Duration::hours(30);
    let to = from + chrono::Duration::hours(6);
    let bounded = walk(
        client
            .activities(
                ActivityQuery::new()
                    .created_at_gte(from)
                    .created_at_lt(to)
                    .limit(4),
            )
            .expect("pager"),
    )
    .await
    .items;
    let expected: Vec<String> = everything
        .iter()
        .filter(|a| a.created_at >= from && a.created_at < to)
        .map(|a| a.id.clone())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(ids(&bounded), expected);
    assert_eq!(bounded.len() as u64, fake.manifest(from, to).activities);
}

#[tokio::test]
async fn chats_list_in_ascending_order_under_both_order_by_keys_and_filter_by_user() {
    let fake = start(small()).await;
    let client = client(&fake);

    let by_created = walk(
        client
            .chats(ChatQuery::new().order_by(ChatOrder::CreatedAt).limit(4))
            .expect("pager"),
    )
    .await
    .items;
    let by_updated = walk(
        client
            .chats(ChatQuery::new().order_by(ChatOrder::UpdatedAt).limit(4))
            .expect("pager"),
    )
    .await
    .items;
    let created_keys: Vec<_> = by_created
        .iter()
        .map(|c| (c.created_at, c.id.clone()))
        .collect();
    let updated_keys: Vec<_> = by_updated
        .iter()
        .map(|c| (c.updated_at, c.id.clone()))
        .collect();
    assert!(created_keys.windows(2).all(|w| w[0] < w[1]));
    assert!(updated_keys.windows(2).all(|w| w[0] < w[1]));
    let as_set = |chats: &[Chat]| chats.iter().map(|c| c.id.clone()).collect::<BTreeSet<_>>();
    assert_eq!(as_set(&by_created), as_set(&by_updated));
    assert_ne!(
        ids(&by_created),
        ids(&by_updated),
        "resumed chats should reorder the list"
    );
    let org = fake.organization_uuid().to_string();
    for chat in &by_created {
        assert_eq!(chat.organization_uuid, org);
        assert!(chat.href.starts_with("https://claude.ai/chat/"));
        assert!(chat.updated_at >= chat.created_at);
        assert!(chat.user.is_some());
    }

    let user = by_created[0].user.clone().expect("chat user").id;
    let for_user = walk(
        client
            .chats(ChatQuery::new().user_id(&user).limit(2))
            .expect("pager"),
    )
    .await
    .items;
    let expected: Vec<String> = by_created
        .iter()
        .filter(|c| c.user.as_ref().is_some_and(|u| u.id == user))
        .map(|c| c.id.clone())
        .collect();
    assert!(expected.len() > 2, "the user should fill several pages");
    assert_eq!(ids(&for_user), expected);

    // Per-user listings also page backwards from a cursor.
    let forward = client
        .list_chats(&ChatQuery::new().user_id(&user).limit(1000))
        .await
        .expect("page")
        .into_body();
    let last = forward.last_id.expect("last_id");
    let backward = walk(
        client
            .chats(ChatQuery::new().user_id(&user).before_id(&last).limit(2))
            .expect("pager"),
    )
    .await;
    assert_eq!(backward.pager.direction(), Direction::Backward);
    assert_eq!(backward.pager.start_cursor(), Some(last.as_str()));
    let mut before: Vec<String> = ids(&backward.items);
    before.sort();
    let mut expected_before = expected[..expected.len() - 1].to_vec();
    expected_before.sort();
    assert_eq!(before, expected_before);
}

#[tokio::test]
async fn chat_messages_parse_every_content_block_kind_and_deleted_chats_come_back_empty() {
    let fake = start(rich()).await;
    let client = client(&fake);
    let chats = walk(client.chats(ChatQuery::new().limit(1000)).expect("pager"))
        .await
        .items;

    let mut kinds = BTreeSet::new();
    let (mut deleted, mut with_files, mut with_artifacts, mut with_generated) = (0, 0, 0, 0);
    for chat in &chats {
        let whole = client
            .chat_messages(&chat.id, &MessageQuery::new())
            .await
            .expect("messages")
            .into_body();
        assert_eq!(whole.chat.id, chat.id);
        assert!(!whole.has_more, "no limit returns the whole chat");
        assert!(!whole.chat_messages.is_empty());
        if chat.is_deleted() {
            deleted += 1;
            assert_eq!(whole.chat.name, "");
            assert!(whole.chat.is_deleted());
            for message in &whole.chat_messages {
                assert!(message.content.is_empty(), "{}", message.id);
                assert_eq!(message.files, None);
                assert_eq!(message.generated_files, None);
                assert_eq!(message.artifacts, None);
                assert_eq!(message.text(), "");
            }
            continue;
        }
        let mut tool_use_ids = HashSet::new();
        for message in &whole.chat_messages {
            assert!(matches!(message.role, Role::User | Role::Assistant));
            for block in &message.content {
                kinds.insert(block.kind().expect("kind").to_owned());
                match block {
                    ContentBlock::Text(text) => assert!(!text.text.is_empty()),
                    ContentBlock::ToolUse(call) => {
                        assert!(call.input_json().is_some(), "tool input is JSON");
                        tool_use_ids.insert(call.id.clone().expect("tool_use id"));
                    }
                    ContentBlock::ToolResult(result) => {
                        let id = result.tool_use_id.clone().expect("tool_use_id");
                        assert!(tool_use_ids.contains(&id), "result before its call");
                        assert!(!result.text().is_empty());
                    }
                    ContentBlock::Unknown(raw) => panic!("unparsed block {raw}"),
                }
            }
            with_files += usize::from(message.files.as_ref().is_some_and(|f| !f.is_empty()));
            with_generated += usize::from(
                message
                    .generated_files
                    .as_ref()
                    .is_some_and(|f| !f.is_empty()),
            );
            if let Some(artifacts) = &message.artifacts {
                with_artifacts += 1;
                assert!(artifacts
                    .iter()
                    .all(|a| a.id.starts_with("claude_artifact_")
                        && a.version_id.starts_with("claude_artifact_version_")));
            }
        }
    }
    assert_eq!(
        kinds,
        ["text", "tool_result", "tool_use"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    assert!(deleted > 0, "the data should hold deleted chats");
    assert!(with_files > 0 && with_artifacts > 0 && with_generated > 0);
}

#[tokio::test]
async fn a_chat_paged_two_messages_at_a_time_equals_the_whole_chat_in_one_response() {
    let fake = start(small()).await;
    let client = client(&fake);
    let chats = walk(client.chats(ChatQuery::new().limit(1000)).expect("pager"))
        .await
        .items;
    let mut longest = None;
    for chat in chats.iter().filter(|c| !c.is_deleted()) {
        let whole = client
            .chat_messages(&chat.id, &MessageQuery::new().untruncated())
            .await
            .expect("whole chat")
            .into_body();
        if whole.chat_messages.len() > 4 {
            longest = Some((chat, whole));
            break;
        }
    }
    let (chat, whole) = longest.expect("a live chat of several pages");

    let paged = walk(
        client
            .messages(&chat.id, MessageQuery::new().limit(2).untruncated())
            .expect("pager"),
    )
    .await;
    assert_eq!(paged.items, whole.chat_messages);
    assert_eq!(
        paged.pages.len(),
        whole.chat_messages.len().div_ceil(2),
        "pages of two"
    );
    assert_walk_bookkeeping(&paged, None);

    // Newest first, then the rest from the first page's cursor.
    let newest = client
        .chat_messages(
            &chat.id,
            &MessageQuery::new()
                .order(logwarden_compliance::SortOrder::Desc)
                .limit(3),
        )
        .await
        .expect("desc page")
        .into_body();
    let expected: Vec<&Message> = whole.chat_messages.iter().rev().take(3).collect();
    assert_eq!(newest.chat_messages.iter().collect::<Vec<_>>(), expected);
    assert!(newest.has_more);
}

#[tokio::test]
async fn file_metadata_points_back_at_the_message_and_chat_that_carried_the_file() {
    let fake = start(rich()).await;
    let client = client(&fake);
    let chats = walk(client.chats(ChatQuery::new().limit(1000)).expect("pager"))
        .await
        .items;
    let mut checked = 0;
    for chat in chats.iter().filter(|c| !c.is_deleted()) {
        let messages = client
            .chat_messages(&chat.id, &MessageQuery::new())
            .await
            .expect("messages")
            .into_body()
            .chat_messages;
        for message in &messages {
            for file in message.files.iter().flatten() {
                let meta = client
                    .file_metadata(&file.id)
                    .await
                    .expect("file metadata")
                    .into_body();
                assert_eq!(meta.id, file.id);
                assert_eq!(meta.filename.as_deref(), Some(file.filename.as_str()));
                assert_eq!(meta.mime_type, file.mime_type);
                assert_eq!(meta.size_bytes, file.size_bytes);
                assert_eq!(meta.message_ids, vec![message.id.clone()]);
                assert_eq!(meta.claude_chat_ids, vec![chat.id.clone()]);
                checked += 1;
            }
        }
        if checked >= 3 {
            break;
        }
    }
    assert!(checked > 0, "the data should hold attachments");
}

#[tokio::test]
async fn organisation_users_groups_and_group_members_walk_by_page_token() {
    let config = FakeConfig {
        users: 17,
        days: 1,
        ..small()
    };
    let fake = start(config.clone()).await;
    let client = client(&fake);
    let org = fake.organization_uuid().to_string();

    let mut pager = client.users(&org, Some(4)).expect("user pager");
    let mut users = Vec::new();
    while let Some(page) = pager.next_page().await.expect("users page") {
        assert!(page.body.data.len() <= 4);
        users.extend(page.body.data);
    }
    assert!(pager.is_done());
    assert_eq!(pager.pages_fetched(), u64::from(config.users.div_ceil(4)));
    assert_eq!(pager.records_returned(), u64::from(config.users));
    assert!(pager
        .last_request_id()
        .is_some_and(|id| id.starts_with("req_")));
    assert_eq!(users.len() as u32, config.users, "one record per member");
    assert_unique(&users, "users");
    let joined: Vec<_> = users.iter().map(|u| u.created_at).collect();
    assert!(joined.windows(2).all(|w| w[0] <= w[1]));
    assert!(users
        .iter()
        .all(|u| u.id.starts_with("user_") && u.email.contains('@')));
    let single = client
        .list_users(&org, Some(1000), None)
        .await
        .expect("one page")
        .into_body();
    assert!(!single.has_more && single.next_page.is_none());
    assert_eq!(single.data, users);

    let mut pager = client.groups(Some(2)).expect("group pager");
    let mut groups = Vec::new();
    while let Some(page) = pager.next_page().await.expect("groups page") {
        groups.extend(page.body.data);
    }
    assert!(!groups.is_empty());
    assert_unique(&groups, "groups");
    let all_groups = client
        .list_groups(Some(1000), None)
        .await
        .expect("groups")
        .into_body();
    assert_eq!(all_groups.data, groups);

    let user_ids: HashSet<&str> = users.iter().map(|u| u.id.as_str()).collect();
    let mut members_seen = 0;
    for group in &groups {
        let mut pager = client.members(&group.id, Some(2)).expect("member pager");
        let mut members = Vec::new();
        while let Some(page) = pager.next_page().await.expect("members page") {
            members.extend(page.body.data);
        }
        assert_unique(&members, "members");
        assert!(members
            .iter()
            .all(|m| user_ids.contains(m.user_id.as_str())));
        let single = client
            .group_members(&group.id, Some(1000), None)
            .await
            .expect("members")
            .into_body();
        assert_eq!(single.data, members);
        members_seen += members.len();
    }
    assert!(members_seen > 0, "some group should have members");
}

// ---------------------------------------------------------------------------------------------
// Paging walks against the manifest
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_walk_with_tiny_pages_finds_exactly_what_the_manifest_counts() {
    let fake = start(small()).await;
    let client = client(&fake);
    let (from, to) = window(&fake);
    let manifest = fake.manifest(from, to);
    assert!(manifest.activities > 20 && manifest.chats > 6 && manifest.prompt_events > 0);

    let (counts, _, _) = walk_window(&client, from, to, &TINY_PAGES).await;

    assert_eq!(counts, Counts::of(&manifest));
    assert_eq!(manifest.tolerance, 0.0);
    // One page per request: nothing was retried on a clean server.
    let stats = client.stats();
    assert_eq!(stats.retries, 0);
    assert_eq!(stats.requests, fake.stats().requests);
}

#[tokio::test]
async fn a_walk_with_the_clock_mid_history_finds_exactly_what_existed_then() {
    let fake = start(small()).await;
    let client = client(&fake);
    let (from, to) = window(&fake);
    let everything = fake.manifest(from, to);
    // Mid-afternoon: some chats are still in progress, so only part of their messages exist.
    let then = fake.history_start() + chrono::Duration::hours(38);
    fake.set_now(then);
    let at_then = fake.manifest(from, to);
    assert!(at_then.activities > 0 && at_then.activities < everything.activities);
    assert!(at_then.messages < everything.messages);

    let (counts, _, _) = walk_window(&client, from, to, &TINY_PAGES).await;

    assert_eq!(counts, Counts::of(&at_then));
    let newest = client
        .list_activities(&ActivityQuery::new().limit(1))
        .await
        .expect("newest activity")
        .into_body();
    assert!(newest.data[0].created_at <= then, "nothing from the future");
}

#[tokio::test]
async fn a_pager_started_from_a_cursor_reports_it_and_continues_the_same_list() {
    let fake = start(small()).await;
    let client = client(&fake);
    let full = walk(
        client
            .activities(ActivityQuery::new().limit(10))
            .expect("pager"),
    )
    .await;
    assert!(full.pages.len() > 3);

    let mut first = client
        .activities(ActivityQuery::new().limit(10))
        .expect("pager");
    first.next_page().await.expect("page 1");
    first.next_page().await.expect("page 2");
    let resume = first.cursor().expect("cursor after two pages").to_owned();
    assert_eq!(Some(resume.clone()), full.pages[1].1);

    let rest = walk(
        client
            .activities(ActivityQuery::new().limit(10).after_id(&resume))
            .expect("pager"),
    )
    .await;
    assert_walk_bookkeeping(&rest, Some(resume.as_str()));
    assert_eq!(rest.pager.direction(), Direction::Forward);
    assert_eq!(ids(&rest.items), ids(&full.items[20..]));
    assert_eq!(rest.pager.cursor(), full.pager.cursor());
}

#[tokio::test]
async fn records_repeated_across_pages_are_dropped_by_deduplicate() {
    let fake = start(small()).await;
    let client = client(&fake);
    let (from, to) = window(&fake);
    let manifest = fake.manifest(from, to);
    let activity_query = || {
        ActivityQuery::new()
            .created_at_gte(from)
            .created_at_lt(to)
            .limit(6)
    };
    let chat_query = || {
        ChatQuery::new()
            .order_by(ChatOrder::UpdatedAt)
            .updated_at_gte(from)
            .updated_at_lt(to)
            .limit(3)
    };
    let clean_activities = walk(client.activities(activity_query()).expect("pager")).await;
    let clean_chats = walk(client.chats(chat_query()).expect("pager")).await;

    fake.set_faults(FaultConfig {
        duplicates: Some(Trigger::Always),
        ..FaultConfig::default()
    })
    .expect("faults");

    let repeated = walk(client.activities(activity_query()).expect("pager")).await;
    assert_eq!(
        repeated.items.len(),
        clean_activities.items.len() + repeated.pages.len() - 1,
        "every page after the first repeats one record"
    );

    let activities = walk(
        client
            .activities(activity_query())
            .expect("pager")
            .deduplicate(),
    )
    .await;
    assert_eq!(ids(&activities.items), ids(&clean_activities.items));
    assert_eq!(activities.items.len() as u64, manifest.activities);
    assert_eq!(
        activities.pager.duplicates_dropped(),
        activities.pages.len() as u64 - 1
    );
    assert_eq!(
        activities.pager.records_returned(),
        manifest.activities,
        "records count after deduplication"
    );

    let chats = walk(client.chats(chat_query()).expect("pager").deduplicate()).await;
    assert_eq!(ids(&chats.items), ids(&clean_chats.items));
    assert_eq!(chats.items.len() as u64, manifest.chats);
    assert!(chats.pager.duplicates_dropped() > 0);

    let chat = clean_chats
        .items
        .iter()
        .find(|c| !c.is_deleted())
        .expect("a live chat");
    let messages = walk(
        client
            .messages(&chat.id, MessageQuery::new().limit(2))
            .expect("pager")
            .deduplicate(),
    )
    .await;
    fake.clear_faults();
    let whole = client
        .chat_messages(&chat.id, &MessageQuery::new())
        .await
        .expect("whole chat")
        .into_body();
    assert_eq!(messages.items, whole.chat_messages);
    assert_eq!(
        messages.pager.duplicates_dropped(),
        messages.pages.len() as u64 - 1
    );
}

// ---------------------------------------------------------------------------------------------
// Error classes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_forged_or_foreign_cursor_is_a_400_invalid_request_error_and_not_retried() {
    let fake = start(small()).await;
    let client = client(&fake);
    let created_page = client
        .list_chats(&ChatQuery::new().order_by(ChatOrder::CreatedAt).limit(2))
        .await
        .expect("page")
        .into_body();
    let created_cursor = created_page.last_id.expect("cursor");
    let chats = walk(client.chats(ChatQuery::new().limit(1000)).expect("pager"))
        .await
        .items;
    let (chat_a, chat_b) = (&chats[0].id, &chats[1].id);
    let other_chat_cursor = client
        .chat_messages(chat_a, &MessageQuery::new().limit(1))
        .await
        .expect("messages")
        .into_body()
        .last_id
        .expect("message cursor");
    fake.reset_stats();

    let forged_chat = client
        .list_chats(&ChatQuery::new().after_id("not-a-cursor"))
        .await
        .expect_err("forged chat cursor");
    let foreign_order = client
        .list_chats(
            &ChatQuery::new()
                .order_by(ChatOrder::UpdatedAt)
                .after_id(&created_cursor),
        )
        .await
        .expect_err("cursor of the other order_by");
    let forged_activity = client
        .list_activities(&ActivityQuery::new().after_id("activity_forged0000"))
        .await
        .expect_err("unknown activity cursor");
    let foreign_chat = client
        .chat_messages(chat_b, &MessageQuery::new().after_id(&other_chat_cursor))
        .await
        .expect_err("another chat's cursor");

    for error in [
        &forged_chat,
        &foreign_order,
        &forged_activity,
        &foreign_chat,
    ] {
        assert_api_error(error, 400, "invalid_request_error");
        assert!(!error.is_retryable());
    }
    assert!(
        foreign_order.to_string().contains("created_at"),
        "{foreign_order}"
    );
    assert!(
        forged_chat.to_string().contains("after_id"),
        "{forged_chat}"
    );
    let stats = fake.stats();
    assert_eq!(stats.requests, 4, "one request each, no retry");
    assert_eq!(stats.by_status.get(&400), Some(&4));
    assert_eq!(client.stats().retries, 0);
}

#[tokio::test]
async fn an_unknown_key_is_a_401_that_names_status_type_and_request_id_but_never_the_key() {
    let fake = start(small()).await;
    let key = "sk-ant-api01-not-a-real-key-7c1e";
    let client = client_with(&fake, key, fast_retries());

    let error = client
        .list_activities(&ActivityQuery::new())
        .await
        .expect_err("unknown key");

    assert_api_error(&error, 401, "authentication_error");
    assert!(!error.is_retryable());
    for text in [
        error.to_string(),
        format!("{error:?}"),
        format!("{client:?}"),
    ] {
        assert!(!text.contains(key), "{text}");
        assert!(!text.contains("not-a-real-key"), "{text}");
    }
    let stats = fake.stats();
    assert_eq!(stats.requests, 1);
    assert_eq!(stats.by_status.get(&401), Some(&1));
    assert_eq!(client.stats().requests, 1);
}

#[tokio::test]
async fn a_key_without_the_user_data_scope_gets_a_403_permission_error_for_chats() {
    let key = "sk-ant-api01-activities-only-2b9d";
    let fake = start(FakeConfig {
        keys: vec![ApiKeySpec::new(key, vec![Scope::ReadActivities])],
        ..small()
    })
    .await;
    let client = client_with(&fake, key, fast_retries());

    let activities = client
        .list_activities(&ActivityQuery::new().limit(3))
        .await
        .expect("the activity scope is enough for activities");
    assert_eq!(activities.body.data.len(), 3);
    let error = client
        .list_chats(&ChatQuery::new())
        .await
        .expect_err("chats need read:compliance_user_data");

    assert_api_error(&error, 403, "permission_error");
    assert!(!error.is_retryable());
    assert!(
        error.to_string().contains("read:compliance_user_data"),
        "{error}"
    );
    assert!(!error.to_string().contains(key));
    let stats = fake.stats();
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.by_status.get(&403), Some(&1));
}

#[tokio::test]
async fn unknown_chats_files_groups_and_organisations_are_404_not_found_errors() {
    let fake = start(small()).await;
    let client = client(&fake);

    let chat = client
        .chat_messages("claude_chat_01NoSuchChat000000000000", &MessageQuery::new())
        .await
        .expect_err("unknown chat");
    let file = client
        .file_metadata("claude_file_01NoSuchFile000000000000")
        .await
        .expect_err("unknown file");
    let group = client
        .group_members("rbac_group_01NoSuchGroup", None, None)
        .await
        .expect_err("unknown group");
    let org = client
        .list_users("00000000-0000-4000-8000-000000000000", None, None)
        .await
        .expect_err("unknown organisation");

    for error in [&chat, &file, &group, &org] {
        assert_api_error(error, 404, "not_found_error");
        assert!(!error.is_retryable());
    }
    assert!(
        chat.to_string().contains("claude_chat_01NoSuchChat"),
        "{chat}"
    );
    let stats = fake.stats();
    assert_eq!(stats.requests, 4, "404s are not retried");
    assert_eq!(stats.by_status.get(&404), Some(&4));
}

// ---------------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_429_storm_is_retried_on_the_same_cursor_and_the_walk_still_matches_the_manifest() {
    let fake = start(small()).await;
    let client = client(&fake);
    let (from, to) = window(&fake);
    let (_, clean_activities, clean_chats) = walk_window(&client, from, to, &TINY_PAGES).await;
    let client = client_with(&fake, DEFAULT_TEST_KEY, fast_retries());
    fake.reset_stats();
    fake.set_faults(FaultConfig {
        rate_limit: Some(RateLimitFault {
            trigger: Trigger::Next(6),
            retry_after_secs: Some(0),
        }),
        ..FaultConfig::default()
    })
    .expect("faults");

    let (counts, activities, chats) = walk_window(&client, from, to, &TINY_PAGES).await;

    assert_eq!(counts, Counts::of(&fake.manifest(from, to)));
    assert_eq!(activities, clean_activities, "no page skipped or repeated");
    assert_eq!(chats, clean_chats);
    let stats = client.stats();
    assert_eq!((stats.rate_limited, stats.retries), (6, 6));
    assert_eq!(stats.backoff_millis, 0, "retry-after: 0 is waited exactly");
    assert_eq!(fake.stats().by_status.get(&429), Some(&6));
    assert_eq!(fake.stats().requests, stats.requests);
}

#[tokio::test]
async fn a_429_retry_after_is_waited_exactly_and_without_one_the_backoff_doubles() {
    let fake = start(small()).await;

    fake.set_faults(FaultConfig {
        rate_limit: Some(RateLimitFault {
            trigger: Trigger::Next(1),
            retry_after_secs: Some(1),
        }),
        ..FaultConfig::default()
    })
    .expect("faults");
    let client = client(&fake);
    let started = std::time::Instant::now();
    let page = client
        .list_activities(&ActivityQuery::new().limit(5))
        .await
        .expect("succeeds after the wait");
    assert_eq!(page.body.data.len(), 5);
    assert_eq!(page.meta.attempt, 1);
    assert_eq!(client.stats().backoff_millis, 1_000);
    assert!(started.elapsed() >= Duration::from_secs(1));

    fake.set_faults(FaultConfig {
        rate_limit: Some(RateLimitFault {
            trigger: Trigger::Next(3),
            retry_after_secs: None,
        }),
        ..FaultConfig::default()
    })
    .expect("faults");
    let client = client.with_own_stats();
    client
        .list_activities(&ActivityQuery::new().limit(5))
        .await
        .expect("succeeds after backing off");
    let stats = client.stats();
    assert_eq!((stats.rate_limited, stats.retries), (3, 3));
    // 1 ms, 2 ms, 4 ms: the documented doubling from initial_backoff, unjittered for 429s.
    assert_eq!(stats.backoff_millis, 7);
}

#[tokio::test]
async fn a_429_storm_longer_than_the_retry_budget_fails_without_moving_the_cursor() {
    let fake = start(small()).await;
    let client = client_with(
        &fake,
        DEFAULT_TEST_KEY,
        RetryPolicy {
            max_retries: 3,
            ..fast_retries()
        },
    );
    let clean = walk(
        client
            .activities(ActivityQuery::new().limit(10))
            .expect("pager"),
    )
    .await;
    let mut pager = client
        .activities(ActivityQuery::new().limit(10))
        .expect("pager");
    let mut items = pager
        .next_page()
        .await
        .expect("page 1")
        .expect("a page")
        .into_body()
        .data;
    let cursor = pager.cursor().map(str::to_owned);
    fake.reset_stats();
    fake.set_faults(FaultConfig {
        rate_limit: Some(RateLimitFault {
            trigger: Trigger::Next(4),
            retry_after_secs: Some(0),
        }),
        ..FaultConfig::default()
    })
    .expect("faults");

    let error = pager
        .next_page()
        .await
        .expect_err("the storm outlasts 3 retries");

    assert_api_error(&error, 429, "rate_limit_error");
    assert!(error.is_retryable());
    assert_eq!(fake.stats().requests, 4, "first attempt and three retries");
    assert_eq!(pager.cursor().map(str::to_owned), cursor);
    assert_eq!(pager.pages_fetched(), 1);
    assert!(!pager.is_done());

    // The storm is over: the same pager picks up the same page and finishes the walk.
    while let Some(page) = pager.next_page().await.expect("page after the storm") {
        items.extend(page.body.data);
    }
    assert_eq!(ids(&items), ids(&clean.items));
}

#[tokio::test]
async fn server_error_bursts_of_every_status_are_retried_and_the_walk_still_matches_the_manifest() {
    let fake = start(small()).await;
    let (from, to) = window(&fake);
    let expected = Counts::of(&fake.manifest(from, to));
    let (_, clean_activities, clean_chats) =
        walk_window(&client(&fake), from, to, &TINY_PAGES).await;

    for status in [500, 502, 503, 504, 529] {
        fake.reset_stats();
        fake.set_faults(FaultConfig {
            server_error: Some(ServerErrorFault {
                trigger: Trigger::Next(4),
                status,
                should_retry: None,
            }),
            ..FaultConfig::default()
        })
        .expect("faults");
        let client = client(&fake);

        let (counts, activities, chats) = walk_window(&client, from, to, &TINY_PAGES).await;

        assert_eq!(counts, expected, "HTTP {status}");
        assert_eq!(activities, clean_activities, "HTTP {status}");
        assert_eq!(chats, clean_chats, "HTTP {status}");
        let stats = client.stats();
        assert_eq!(
            (stats.server_errors, stats.retries),
            (4, 4),
            "HTTP {status}"
        );
        let served = fake.stats();
        assert_eq!(served.by_status.get(&status), Some(&4), "HTTP {status}");
        assert_eq!(served.injected_faults, 4);
    }
}

#[tokio::test]
async fn a_500_with_should_retry_false_is_returned_at_once() {
    let fake = start(small()).await;
    fake.set_faults(FaultConfig {
        server_error: Some(ServerErrorFault {
            trigger: Trigger::Next(1),
            status: 500,
            should_retry: Some(false),
        }),
        ..FaultConfig::default()
    })
    .expect("faults");
    let client = client(&fake);
    let mut pager = client
        .activities(ActivityQuery::new().limit(5))
        .expect("pager");

    let error = pager.next_page().await.expect_err("deterministic failure");

    assert_api_error(&error, 500, "api_error");
    assert!(matches!(
        error,
        Error::Api {
            should_retry: Some(false),
            ..
        }
    ));
    assert!(!error.is_retryable());
    assert_eq!(fake.stats().requests, 1);
    assert_eq!(client.stats().retries, 0);
    assert_eq!(pager.pages_fetched(), 0);
    assert_eq!(pager.cursor(), None);
    let page = pager
        .next_page()
        .await
        .expect("the next call re-sends the same page")
        .expect("a page");
    assert_eq!(page.body.data.len(), 5);
}

#[tokio::test]
async fn a_truncated_or_malformed_body_now_and_then_is_retried_and_the_page_arrives() {
    let fake = start(small()).await;
    let expected = client(&fake)
        .list_activities(&ActivityQuery::new().limit(8))
        .await
        .expect("clean page")
        .into_body();

    for (kind, times) in [(BodyFaultKind::Truncated, 1), (BodyFaultKind::Malformed, 2)] {
        fake.reset_stats();
        fake.set_faults(FaultConfig {
            body: Some(BodyFault {
                trigger: Trigger::Next(times),
                kind,
            }),
            ..FaultConfig::default()
        })
        .expect("faults");
        let client = client(&fake);

        let page = client
            .list_activities(&ActivityQuery::new().limit(8))
            .await
            .expect("succeeds after a transient retry");

        assert_eq!(page.body, expected, "{kind:?}");
        let stats = client.stats();
        assert_eq!(stats.malformed_responses, u64::from(times), "{kind:?}");
        assert_eq!(stats.retries, u64::from(times), "{kind:?}");
        assert_eq!(fake.stats().requests, u64::from(times) + 1, "{kind:?}");
    }
}

#[tokio::test]
async fn bodies_that_stay_broken_yield_a_typed_malformed_response_after_the_retry_budget() {
    let fake = start(small()).await;
    for kind in [BodyFaultKind::Truncated, BodyFaultKind::Malformed] {
        fake.reset_stats();
        fake.set_faults(FaultConfig {
            body: Some(BodyFault {
                trigger: Trigger::Always,
                kind,
            }),
            ..FaultConfig::default()
        })
        .expect("faults");
        let client = client(&fake);

        let error = client
            .list_chats(&ChatQuery::new().limit(5))
            .await
            .expect_err("never parses");

        match &error {
            Error::MalformedResponse {
                status,
                request_id,
                transient,
                endpoint,
                ..
            } => {
                assert_eq!(*status, 200);
                assert!(*transient, "{kind:?}: cut or non-JSON bodies are transient");
                assert!(request_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with("req_")));
                assert_eq!(endpoint, "GET /v1/compliance/apps/chats");
            }
            other => panic!("{kind:?}: expected MalformedResponse, got {other:?}"),
        }
        assert_eq!(error.class(), "malformed_response");
        assert!(!error.to_string().contains('\n'));
        // The first attempt plus max_malformed_retries (2), however many retries remain.
        assert_eq!(fake.stats().requests, 3, "{kind:?}");
        assert_eq!(client.stats().malformed_responses, 3, "{kind:?}");
    }
}

#[tokio::test]
async fn a_response_slower_than_the_request_timeout_is_a_timeout_error() {
    let fake = start(small()).await;
    fake.set_faults(FaultConfig {
        slow: Some(SlowFault {
            trigger: Trigger::Always,
            delay_ms: 1_500,
        }),
        ..FaultConfig::default()
    })
    .expect("faults");
    let mut config =
        ClientConfig::from_base_url(&fake.base_url(), Secret::new(DEFAULT_TEST_KEY)).expect("url");
    config.network.allow_loopback_http = true;
    config.request_timeout = Duration::from_millis(150);
    config.retry = RetryPolicy {
        max_retries: 1,
        ..fast_retries()
    };
    let client = Client::new(config).expect("client");

    let error = client
        .list_activities(&ActivityQuery::new().limit(5))
        .await
        .expect_err("times out");

    assert!(
        matches!(error, Error::Transport { timeout: true, .. }),
        "{error:?}"
    );
    assert_eq!(error.class(), "timeout_error");
    assert!(error.is_retryable());
    assert!(error.to_string().contains("timed out"), "{error}");
    assert!(!error.to_string().contains(DEFAULT_TEST_KEY));
    let stats = client.stats();
    assert_eq!((stats.requests, stats.transport_errors), (2, 2));

    fake.clear_faults();
    let page = client
        .list_activities(&ActivityQuery::new().limit(5))
        .await
        .expect("fast again");
    assert_eq!(page.body.data.len(), 5);
}

// ---------------------------------------------------------------------------------------------
// The real rate limit
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_rate_limit_headers_are_exposed_and_a_long_retry_after_is_returned_not_waited() {
    let fake = start(FakeConfig {
        rate_limit: Some(3),
        ..small()
    })
    .await;
    let client = client(&fake);
    assert_eq!(client.last_rate_limit(), None);

    for remaining in [2u64, 1, 0] {
        let page = client
            .list_activities(&ActivityQuery::new().limit(1))
            .await
            .expect("within the budget");
        let info = client.last_rate_limit().expect("rate-limit headers");
        assert_eq!(page.meta.rate_limit, Some(info));
        assert_eq!(info.limit, Some(3));
        assert_eq!(info.remaining, Some(remaining));
        let reset = info.reset.expect("reset");
        let ahead = reset - Utc::now();
        assert!(
            ahead > chrono::Duration::seconds(50) && ahead <= chrono::Duration::seconds(61),
            "the budget is back a minute after the newest request, got {ahead}"
        );
    }

    let started = std::time::Instant::now();
    let error = client
        .list_activities(&ActivityQuery::new().limit(1))
        .await
        .expect_err("over the budget");

    assert_api_error(&error, 429, "rate_limit_error");
    assert!(error.is_rate_limited());
    let wait = error.retry_after().expect("retry-after");
    assert!(
        wait > fast_retries().max_retry_after,
        "the oldest request leaves the window in about a minute, got {wait:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a wait beyond max_retry_after is left to the caller"
    );
    assert_eq!(client.stats().requests, 4, "no retry");
    assert_eq!(client.last_rate_limit().and_then(|i| i.remaining), Some(0));
    assert_eq!(fake.stats().by_status.get(&429), Some(&1));
    assert_eq!(fake.stats().max_charged_in_60s, 3);
}
