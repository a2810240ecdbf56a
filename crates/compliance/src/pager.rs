//! Explicit page-by-page walks over the list endpoints. A pager keeps its starting and current
//! cursor so a job can record both in its completeness record, and it never moves its cursor
//! on a failed request: after an error, calling `next_page` again re-sends the same page.

use std::collections::HashSet;
use std::marker::PhantomData;

use futures::stream::{self, Stream};
use serde::de::DeserializeOwned;

use super::client::{
    members_path, messages_path, owned, users_path, ApiResponse, Client, ACTIVITIES_PATH,
    CHATS_PATH, GROUPS_PATH,
};
use super::error::Error;
use super::query::{
    push_cursor, token_pairs, ActivityQuery, ChatQuery, Cursor, MessageQuery, QueryPairs,
};
use super::types::{
    Activity, Chat, ChatMessages, CursorPage, Group, GroupMember, Identified, TokenPage, User,
};

/// A response that carries cursor pagination fields and a list of identified records.
pub trait CursorListing: DeserializeOwned + Send + 'static {
    type Item: Identified + Send;
    fn items(&self) -> &[Self::Item];
    fn items_mut(&mut self) -> &mut Vec<Self::Item>;
    fn has_more(&self) -> bool;
    fn first_id(&self) -> Option<&str>;
    fn last_id(&self) -> Option<&str>;
}

impl<T> CursorListing for CursorPage<T>
where
    T: Identified + DeserializeOwned + Send + 'static,
{
    type Item = T;
    fn items(&self) -> &[T] {
        &self.data
    }
    fn items_mut(&mut self) -> &mut Vec<T> {
        &mut self.data
    }
    fn has_more(&self) -> bool {
        self.has_more
    }
    fn first_id(&self) -> Option<&str> {
        self.first_id.as_deref()
    }
    fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }
}

impl CursorListing for ChatMessages {
    type Item = super::types::Message;
    fn items(&self) -> &[Self::Item] {
        &self.chat_messages
    }
    fn items_mut(&mut self) -> &mut Vec<Self::Item> {
        &mut self.chat_messages
    }
    fn has_more(&self) -> bool {
        self.has_more
    }
    fn first_id(&self) -> Option<&str> {
        self.first_id.as_deref()
    }
    fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }
}

/// Which way a cursor walk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Follows `last_id` as `after_id` (the list's own order).
    Forward,
    /// Follows `first_id` as `before_id`.
    Backward,
}

/// A walk over a cursor-paginated list (activities, chats, a chat's messages).
#[derive(Debug)]
pub struct CursorPager<P> {
    client: Client,
    path: Vec<String>,
    base_pairs: QueryPairs,
    direction: Direction,
    start_cursor: Option<String>,
    cursor: Option<String>,
    done: bool,
    pages: u64,
    records: u64,
    duplicates: u64,
    last_request_id: Option<String>,
    seen: Option<HashSet<String>>,
    listing: PhantomData<fn() -> P>,
}

impl<P: CursorListing> CursorPager<P> {
    pub(crate) fn new(
        client: Client,
        path: Vec<String>,
        base_pairs: QueryPairs,
        cursor: Option<Cursor>,
    ) -> Self {
        let (direction, start_cursor) = match cursor {
            Some(Cursor::Before(id)) => (Direction::Backward, Some(id)),
            Some(Cursor::After(id)) => (Direction::Forward, Some(id)),
            None => (Direction::Forward, None),
        };
        Self {
            client,
            path,
            base_pairs,
            direction,
            cursor: start_cursor.clone(),
            start_cursor,
            done: false,
            pages: 0,
            records: 0,
            duplicates: 0,
            last_request_id: None,
            seen: None,
            listing: PhantomData,
        }
    }

    /// Drops records whose id an earlier page of this walk already returned (the API delivers
    /// at least once). Costs one stored id per record walked.
    pub fn deduplicate(mut self) -> Self {
        self.seen = Some(HashSet::new());
        self
    }

    /// Fetches the next page, or `None` once the API said `has_more: false`. On error the
    /// cursor stays put, so calling again retries the same page.
    pub async fn next_page(&mut self) -> Result<Option<ApiResponse<P>>, Error> {
        if self.done {
            return Ok(None);
        }
        let mut response: ApiResponse<P> = loop {
            let mut pairs = self.base_pairs.clone();
            let cursor = self.cursor.clone().map(|id| match self.direction {
                Direction::Forward => Cursor::After(id),
                Direction::Backward => Cursor::Before(id),
            });
            push_cursor(cursor.as_ref(), &mut pairs);
            match self.client.get_json(&self.path, &pairs).await {
                Err(Error::ResponseTooLarge { .. }) if self.halve_page_size() => {}
                other => break other?,
            }
        };

        let next = match self.direction {
            Direction::Forward => response.body.last_id(),
            Direction::Backward => response.body.first_id(),
        }
        .map(str::to_owned);
        let has_more = response.body.has_more();
        if has_more {
            // Without a new cursor the walk would re-fetch the same page forever.
            let advanced = next.is_some() && next != self.cursor;
            if !advanced {
                return Err(Error::MalformedResponse {
                    endpoint: response.meta.endpoint,
                    status: response.meta.status,
                    request_id: response.meta.request_id,
                    transient: false,
                    detail: format!(
                        "has_more is true but the page cursor did not advance from {:?}",
                        self.cursor
                    ),
                });
            }
        }

        if let Some(seen) = &mut self.seen {
            let items = response.body.items_mut();
            let before = items.len();
            items.retain(|item| seen.insert(item.id().to_owned()));
            self.duplicates += (before - items.len()) as u64;
        }
        if next.is_some() {
            self.cursor = next;
        }
        self.done = !has_more;
        self.pages += 1;
        self.records += response.body.items().len() as u64;
        self.last_request_id = response.meta.request_id.clone();
        Ok(Some(response))
    }

    /// Halves the `limit` of the following requests after a page too large to read, so a walk
    /// over records too big for pages of the usual size still goes through; false when there
    /// is no limit to halve or it is already 1.
    fn halve_page_size(&mut self) -> bool {
        let Some((_, value)) = self.base_pairs.iter_mut().find(|(key, _)| key == "limit") else {
            return false;
        };
        match value.parse::<u32>() {
            Ok(limit) if limit > 1 => {
                *value = (limit / 2).to_string();
                true
            }
            _ => false,
        }
    }

    /// The `limit` the next request sends: the query's, or less after a page was too large.
    pub fn page_size(&self) -> Option<u32> {
        self.base_pairs
            .iter()
            .find(|(key, _)| key == "limit")
            .and_then(|(_, value)| value.parse().ok())
    }

    /// Turns the walk into a stream of pages that ends after the last page or the first error.
    pub fn into_stream(self) -> impl Stream<Item = Result<ApiResponse<P>, Error>> + Send {
        stream::try_unfold(self, |mut pager| async move {
            Ok(pager.next_page().await?.map(|page| (page, pager)))
        })
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The cursor the walk started from (`None`: the start of the list).
    pub fn start_cursor(&self) -> Option<&str> {
        self.start_cursor.as_deref()
    }

    /// The cursor the next request will send; once the walk is done, its terminal cursor
    /// (the last non-null `last_id`, or `first_id` going backward), to resume from later.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// Whether the API said there is nothing more.
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn pages_fetched(&self) -> u64 {
        self.pages
    }

    /// Records returned so far (after deduplication, if enabled).
    pub fn records_returned(&self) -> u64 {
        self.records
    }

    pub fn duplicates_dropped(&self) -> u64 {
        self.duplicates
    }

    /// The `request-id` of the last page received.
    pub fn last_request_id(&self) -> Option<&str> {
        self.last_request_id.as_deref()
    }
}

/// A walk over a page-token list (users, groups, group members).
#[derive(Debug)]
pub struct TokenPager<T> {
    client: Client,
    path: Vec<String>,
    base_pairs: QueryPairs,
    next_token: Option<String>,
    done: bool,
    pages: u64,
    records: u64,
    last_request_id: Option<String>,
    item: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + Send + 'static> TokenPager<T> {
    pub(crate) fn new(client: Client, path: Vec<String>, base_pairs: QueryPairs) -> Self {
        Self {
            client,
            path,
            base_pairs,
            next_token: None,
            done: false,
            pages: 0,
            records: 0,
            last_request_id: None,
            item: PhantomData,
        }
    }

    /// Fetches the next page, or `None` once the API said there is no more. On error the
    /// token stays put, so calling again retries the same page.
    pub async fn next_page(&mut self) -> Result<Option<ApiResponse<TokenPage<T>>>, Error> {
        if self.done {
            return Ok(None);
        }
        let mut pairs = self.base_pairs.clone();
        if let Some(token) = &self.next_token {
            pairs.push(("page".to_owned(), token.clone()));
        }
        let response: ApiResponse<TokenPage<T>> = self.client.get_json(&self.path, &pairs).await?;
        let next = response.body.next_page.clone();
        let more = response.body.has_more && next.is_some();
        if response.body.has_more && (next.is_none() || next == self.next_token) {
            return Err(Error::MalformedResponse {
                endpoint: response.meta.endpoint,
                status: response.meta.status,
                request_id: response.meta.request_id,
                transient: false,
                detail: format!(
                    "has_more is true but next_page did not advance from {:?}",
                    self.next_token
                ),
            });
        }
        self.done = !more;
        if more {
            self.next_token = next;
        }
        self.pages += 1;
        self.records += response.body.data.len() as u64;
        self.last_request_id = response.meta.request_id.clone();
        Ok(Some(response))
    }

    /// Turns the walk into a stream of pages that ends after the last page or the first error.
    pub fn into_stream(
        self,
    ) -> impl Stream<Item = Result<ApiResponse<TokenPage<T>>, Error>> + Send {
        stream::try_unfold(self, |mut pager| async move {
            Ok(pager.next_page().await?.map(|page| (page, pager)))
        })
    }

    /// The token the next request will send.
    pub fn next_token(&self) -> Option<&str> {
        self.next_token.as_deref()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn pages_fetched(&self) -> u64 {
        self.pages
    }

    pub fn records_returned(&self) -> u64 {
        self.records
    }

    pub fn last_request_id(&self) -> Option<&str> {
        self.last_request_id.as_deref()
    }
}

/// The pagers of each list endpoint.
impl Client {
    /// Walks the Activity Feed from the query's cursor: forward (`last_id` → `after_id`), or
    /// backward (`first_id` → `before_id`) when the query starts with `before_id`.
    pub fn activities(
        &self,
        query: ActivityQuery,
    ) -> Result<CursorPager<CursorPage<Activity>>, Error> {
        let (pairs, cursor) = query.pairs_and_cursor()?;
        Ok(CursorPager::new(
            self.clone(),
            owned(ACTIVITIES_PATH),
            pairs,
            cursor,
        ))
    }

    /// Walks the chat list from the query's cursor.
    pub fn chats(&self, query: ChatQuery) -> Result<CursorPager<CursorPage<Chat>>, Error> {
        let (pairs, cursor) = query.pairs_and_cursor()?;
        Ok(CursorPager::new(
            self.clone(),
            owned(CHATS_PATH),
            pairs,
            cursor,
        ))
    }

    /// Walks a chat's messages; each page also carries the chat's metadata.
    pub fn messages(
        &self,
        chat_id: &str,
        query: MessageQuery,
    ) -> Result<CursorPager<ChatMessages>, Error> {
        let (pairs, cursor) = query.pairs_and_cursor()?;
        let path = messages_path(chat_id)?;
        Ok(CursorPager::new(self.clone(), path, pairs, cursor))
    }

    /// Walks an organisation's members by page token.
    pub fn users(&self, org_uuid: &str, limit: Option<u32>) -> Result<TokenPager<User>, Error> {
        let pairs = token_pairs(limit, None)?;
        Ok(TokenPager::new(self.clone(), users_path(org_uuid)?, pairs))
    }

    /// Walks the RBAC groups by page token.
    pub fn groups(&self, limit: Option<u32>) -> Result<TokenPager<Group>, Error> {
        let pairs = token_pairs(limit, None)?;
        Ok(TokenPager::new(self.clone(), owned(GROUPS_PATH), pairs))
    }

    /// Walks a group's members by page token.
    pub fn members(
        &self,
        group_id: &str,
        limit: Option<u32>,
    ) -> Result<TokenPager<GroupMember>, Error> {
        let pairs = token_pairs(limit, None)?;
        Ok(TokenPager::new(
            self.clone(),
            members_path(group_id)?,
            pairs,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientConfig, RetryPolicy};
    use crate::query::{ActivityQuery, ChatOrder, ChatQuery, MessageQuery};
    use crate::scripted_server::{Scripted, ScriptedServer};
    use crate::secret::Secret;
    use crate::types::{Activity, Chat, User};
    use futures::TryStreamExt;
    use serde_json::json;
    use std::time::Duration;

    fn client_for(server: &ScriptedServer) -> Client {
        let mut config = ClientConfig::new(server.base_url.clone(), Secret::new("sk-ant-api01-k"));
        config.network.allow_loopback_http = true;
        config.retry = RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            max_malformed_retries: 1,
            max_retry_after: Duration::from_secs(1),
        };
        Client::new(config).expect("client")
    }

    fn activity(id: &str) -> serde_json::Value {
        json!({"id": id, "created_at": "2026-04-10T08:09:10Z", "type": "claude_chat_viewed",
               "actor": {"type": "system_actor", "service": null}})
    }

    fn page(ids: &[&str], has_more: bool, first: Option<&str>, last: Option<&str>) -> Scripted {
        let data: Vec<_> = ids.iter().map(|id| activity(id)).collect();
        Scripted::json(
            200,
            json!({"data": data, "has_more": has_more, "first_id": first, "last_id": last}),
        )
    }

    #[tokio::test]
    async fn the_activity_pager_follows_last_id_until_has_more_is_false() {
        let server = ScriptedServer::start(vec![
            page(&["a1", "a2"], true, Some("c_a1"), Some("c_a2")),
            page(&["a3", "a4"], true, Some("c_a3"), Some("c_a4")),
            page(&["a5"], false, Some("c_a5"), Some("c_a5")),
        ])
        .await;
        let client = client_for(&server);
        let mut pager = client
            .activities(ActivityQuery::new().limit(2).after_id("c_start"))
            .expect("pager");

        let mut ids = Vec::new();
        while let Some(page) = pager.next_page().await.expect("page") {
            ids.extend(page.body.data.into_iter().map(|a: Activity| a.id));
        }

        assert_eq!(ids, vec!["a1", "a2", "a3", "a4", "a5"]);
        let cursors: Vec<_> = server
            .received()
            .iter()
            .map(|r| r.param("after_id").map(str::to_owned))
            .collect();
        assert_eq!(
            cursors,
            vec![
                Some("c_start".to_owned()),
                Some("c_a2".to_owned()),
                Some("c_a4".to_owned())
            ]
        );
        assert!(server
            .received()
            .iter()
            .all(|r| r.param("limit") == Some("2")));
        assert_eq!(pager.start_cursor(), Some("c_start"));
        assert_eq!(pager.cursor(), Some("c_a5"));
        assert_eq!((pager.pages_fetched(), pager.records_returned()), (3, 5));
        assert_eq!(pager.last_request_id(), Some("req_003"));
        assert!(pager.is_done());
        assert!(pager.next_page().await.expect("after end").is_none());
        assert_eq!(server.received().len(), 3);
    }

    #[tokio::test]
    async fn a_failed_page_leaves_the_cursor_in_place_and_the_next_call_resends_it() {
        let server = ScriptedServer::start(vec![
            page(&["a1"], true, Some("c_a1"), Some("c_a1")),
            Scripted::error(403, "permission_error", "Missing required scopes."),
        ])
        .await;
        let client = client_for(&server);
        let mut pager = client.activities(ActivityQuery::new()).expect("pager");

        pager.next_page().await.expect("first page");
        let error = pager.next_page().await.expect_err("403");
        assert_eq!(error.class(), "permission_error");
        assert_eq!(pager.cursor(), Some("c_a1"));
        assert!(!pager.is_done());

        server.push(page(&["a2"], false, Some("c_a2"), Some("c_a2")));
        let resumed = pager.next_page().await.expect("resumed").expect("a page");

        assert_eq!(resumed.body.data[0].id, "a2");
        let received = server.received();
        assert_eq!(received[1].param("after_id"), Some("c_a1"));
        assert_eq!(received[2].param("after_id"), Some("c_a1"));
        assert_eq!(pager.cursor(), Some("c_a2"));
    }

    #[tokio::test]
    async fn deduplication_drops_records_repeated_across_pages() {
        let server = ScriptedServer::start(vec![
            page(&["a1", "a2"], true, Some("c1"), Some("c2")),
            page(&["a2", "a3"], false, Some("c2b"), Some("c3")),
        ])
        .await;
        let client = client_for(&server);
        let pager = client
            .activities(ActivityQuery::new())
            .expect("pager")
            .deduplicate();

        let mut stream = Box::pin(pager.into_stream());
        let mut ids = Vec::new();
        while let Some(page) = stream.try_next().await.expect("page") {
            ids.extend(page.body.data.into_iter().map(|a| a.id));
        }

        assert_eq!(ids, vec!["a1", "a2", "a3"]);
    }

    #[tokio::test]
    async fn duplicates_are_counted_when_deduplicating() {
        let server = ScriptedServer::start(vec![
            page(&["a1", "a2"], true, Some("c1"), Some("c2")),
            page(&["a2", "a1"], false, Some("c3"), Some("c4")),
        ])
        .await;
        let client = client_for(&server);
        let mut pager = client
            .activities(ActivityQuery::new())
            .expect("pager")
            .deduplicate();

        while pager.next_page().await.expect("page").is_some() {}

        assert_eq!(
            (pager.records_returned(), pager.duplicates_dropped()),
            (2, 2)
        );
    }

    #[tokio::test]
    async fn has_more_without_a_new_cursor_is_an_error_not_an_endless_loop() {
        let server = ScriptedServer::start(vec![
            page(&["a1"], true, Some("c1"), Some("c1")),
            page(&["a2"], true, Some("c1"), Some("c1")),
        ])
        .await;
        let client = client_for(&server);
        let mut pager = client.activities(ActivityQuery::new()).expect("pager");

        pager.next_page().await.expect("first");
        let error = pager.next_page().await.expect_err("stuck cursor");

        assert!(matches!(
            error,
            Error::MalformedResponse {
                transient: false,
                ..
            }
        ));
        assert!(error.to_string().contains("did not advance"), "{error}");
    }

    #[tokio::test]
    async fn a_pager_started_with_before_id_walks_backward_on_first_id() {
        let chat = |id: &str| {
            json!({"id": id, "name": "", "created_at": "2026-01-01T00:00:00Z",
                                     "updated_at": "2026-01-01T00:00:00Z"})
        };
        let server = ScriptedServer::start(vec![
            Scripted::json(
                200,
                json!({"data": [chat("c3")], "has_more": true, "first_id": "k3", "last_id": "k3"}),
            ),
            Scripted::json(
                200,
                json!({"data": [chat("c2")], "has_more": false, "first_id": "k2", "last_id": "k2"}),
            ),
        ])
        .await;
        let client = client_for(&server);
        let mut pager = client
            .chats(ChatQuery::new().user_id("user_1").before_id("k4"))
            .expect("pager");

        let mut ids = Vec::new();
        while let Some(page) = pager.next_page().await.expect("page") {
            ids.extend(page.body.data.into_iter().map(|c: Chat| c.id));
        }

        assert_eq!(pager.direction(), Direction::Backward);
        assert_eq!(ids, vec!["c3", "c2"]);
        let received = server.received();
        assert_eq!(received[0].param("before_id"), Some("k4"));
        assert_eq!(received[1].param("before_id"), Some("k3"));
        assert!(received.iter().all(|r| r.param("after_id").is_none()));
        assert!(received
            .iter()
            .all(|r| r.param("user_ids[]") == Some("user_1")));
    }

    #[tokio::test]
    async fn an_org_wide_chat_walk_sends_order_by_and_window_on_every_page() {
        let chat = |id: &str| {
            json!({"id": id, "name": "", "created_at": "2026-01-01T00:00:00Z",
                                     "updated_at": "2026-01-01T00:00:00Z"})
        };
        let server = ScriptedServer::start(vec![
            Scripted::json(
                200,
                json!({"data": [chat("c1")], "has_more": true, "first_id": "k1", "last_id": "k1"}),
            ),
            Scripted::json(
                200,
                json!({"data": [], "has_more": false, "first_id": null, "last_id": null}),
            ),
        ])
        .await;
        let client = client_for(&server);
        let start = chrono::DateTime::parse_from_rfc3339("2026-04-01T00:00:00Z")
            .expect("ts")
            .with_timezone(&chrono::Utc);
        let mut pager = client
            .chats(
                ChatQuery::new()
                    .order_by(ChatOrder::UpdatedAt)
                    .updated_at_gte(start),
            )
            .expect("pager");

        while pager.next_page().await.expect("page").is_some() {}

        for request in server.received() {
            assert_eq!(request.param("order_by"), Some("updated_at"));
            assert_eq!(
                request.param("updated_at.gte"),
                Some("2026-04-01T00:00:00Z")
            );
        }
        // An empty last page keeps the previous cursor as the terminal one.
        assert_eq!(pager.cursor(), Some("k1"));
    }

    /// A messages page of chat `claude_chat_1` holding one user message per id.
    fn message_page(ids: &[&str], has_more: bool, last: &str) -> Scripted {
        let messages: Vec<_> = ids
            .iter()
            .map(|id| {
                json!({"id": id, "role": "user", "created_at": "2026-01-01T00:00:00Z",
                       "content": [{"type": "text", "text": id}]})
            })
            .collect();
        Scripted::json(
            200,
            json!({"id": "claude_chat_1", "name": "n", "created_at": "2026-01-01T00:00:00Z",
                   "updated_at": "2026-01-01T00:00:00Z", "chat_messages": messages,
                   "has_more": has_more, "first_id": "f", "last_id": last}),
        )
    }

    #[tokio::test]
    async fn the_message_pager_pages_a_long_chat() {
        let server = ScriptedServer::start(vec![
            message_page(&["m1", "m2"], true, "k2"),
            message_page(&["m3"], false, "k3"),
        ])
        .await;
        let client = client_for(&server);
        let mut pager = client
            .messages("claude_chat_1", MessageQuery::new().limit(2))
            .expect("pager");

        let mut texts = Vec::new();
        while let Some(page) = pager.next_page().await.expect("page") {
            assert_eq!(page.body.chat.id, "claude_chat_1");
            texts.extend(page.body.chat_messages.iter().map(|m| m.text()));
        }

        assert_eq!(texts, vec!["m1", "m2", "m3"]);
        assert_eq!(server.received()[1].param("after_id"), Some("k2"));
        assert_eq!(
            server.received()[1].path,
            "/v1/compliance/apps/chats/claude_chat_1/messages"
        );
    }

    #[tokio::test]
    async fn a_message_page_too_large_to_read_is_fetched_again_at_half_the_page_size() {
        let server = ScriptedServer::start(vec![
            Scripted::generated(1 << 20, true),
            Scripted::generated(1 << 20, false),
            message_page(&["m1", "m2"], true, "m2"),
            message_page(&["m3"], false, "m3"),
        ])
        .await;
        let mut config = ClientConfig::new(server.base_url.clone(), Secret::new("sk-ant-api01-k"));
        config.network.allow_loopback_http = true;
        config.max_response_size = 64 * 1024;
        let client = Client::new(config).expect("client");
        let mut pager = client
            .messages("claude_chat_1", MessageQuery::new().limit(1000))
            .expect("pager");

        let mut ids = Vec::new();
        while let Some(page) = pager.next_page().await.expect("page") {
            ids.extend(page.body.chat_messages.iter().map(|m| m.id.clone()));
        }

        assert_eq!(ids, vec!["m1", "m2", "m3"]);
        let limits: Vec<_> = server
            .received()
            .iter()
            .map(|request| request.param("limit").map(str::to_owned))
            .collect();
        assert_eq!(
            limits,
            ["1000", "500", "250", "250"].map(|limit| Some(limit.to_owned()))
        );
        assert_eq!(server.received()[3].param("after_id"), Some("m2"));
        assert_eq!(pager.page_size(), Some(250));
    }

    #[tokio::test]
    async fn a_page_too_large_at_a_page_size_of_one_is_an_error() {
        let server = ScriptedServer::start(vec![Scripted::generated(1 << 20, true)]).await;
        let mut config = ClientConfig::new(server.base_url.clone(), Secret::new("sk-ant-api01-k"));
        config.network.allow_loopback_http = true;
        config.max_response_size = 64 * 1024;
        let client = Client::new(config).expect("client");
        let mut pager = client
            .messages("claude_chat_1", MessageQuery::new().limit(1))
            .expect("pager");

        let error = pager.next_page().await.expect_err("too large");

        assert!(matches!(error, Error::ResponseTooLarge { .. }), "{error}");
        assert_eq!(server.received().len(), 1);
        assert_eq!(pager.pages_fetched(), 0);
    }

    #[tokio::test]
    async fn the_token_pager_follows_next_page_until_has_more_is_false() {
        let user = |id: &str| {
            json!({"id": id, "created_at": "2025-03-12T18:22:41.123456Z",
                                     "email": format!("{id}@example.com"), "full_name": id, "organization_role": "user"})
        };
        let server = ScriptedServer::start(vec![
            Scripted::json(
                200,
                json!({"data": [user("u1"), user("u2")], "has_more": true, "next_page": "t2"}),
            ),
            Scripted::json(
                200,
                json!({"data": [user("u3")], "has_more": false, "next_page": null}),
            ),
        ])
        .await;
        let client = client_for(&server);
        let pager = client.users("org-1", Some(2)).expect("pager");

        let pages: Vec<_> = pager.into_stream().try_collect().await.expect("pages");

        let ids: Vec<String> = pages
            .into_iter()
            .flat_map(|p| p.body.data.into_iter().map(|u: User| u.id))
            .collect();
        assert_eq!(ids, vec!["u1", "u2", "u3"]);
        let received = server.received();
        assert_eq!(received[0].param("page"), None);
        assert_eq!(received[1].param("page"), Some("t2"));
        assert!(received.iter().all(|r| r.param("limit") == Some("2")));
    }

    #[tokio::test]
    async fn the_token_pager_rejects_has_more_without_a_token() {
        let server = ScriptedServer::start(vec![Scripted::json(
            200,
            json!({"data": [], "has_more": true, "next_page": null}),
        )])
        .await;
        let client = client_for(&server);
        let mut pager = client.groups(None).expect("pager");

        let error = pager.next_page().await.expect_err("no token");

        assert!(error.to_string().contains("next_page"), "{error}");
        assert!(!pager.is_done());
    }

    #[test]
    fn invalid_pager_queries_are_rejected_up_front() {
        let client = Client::new(ClientConfig::new(
            url::Url::parse("https://api.anthropic.com/").expect("url"),
            Secret::new("k"),
        ))
        .expect("client");
        assert!(client.activities(ActivityQuery::new().limit(0)).is_err());
        assert!(client.chats(ChatQuery::new().project_id("p")).is_err());
        assert!(client.members("", None).is_err());
        assert!(client.users("org", Some(5000)).is_err());
    }
}
