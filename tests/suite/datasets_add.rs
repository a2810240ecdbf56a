//! Adding a search to an existing dataset (the dashboard's Add to dataset), on PostgreSQL
//! and on SQLite, over events ingested from the fake Compliance API: prompts merge with the
//! ones held, no event is a source twice, the dataset's own policy filter applies, and a
//! project-scoped caller cannot add to another project's dataset.

use std::collections::{BTreeSet, HashSet};

use chrono::TimeDelta;
use futures::TryStreamExt;
use logwarden::service::investigation::datasets::{prompt_key, NewDataset};
use logwarden::service::investigation::events::{EventQuery, EventRow};
use logwarden::service::page::Limit;
use logwarden::service::scope::Scope;
use logwarden::service::Services;
use logwarden_entities::{event, project};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::helpers::TestDb;
use crate::investigation::Investigation;

/// Every event `query` matches, in the search's order (one page).
pub(crate) async fn rows(services: &Services, query: EventQuery) -> Vec<EventRow> {
    let page = services
        .search_events(
            &Scope::Everything,
            &EventQuery {
                limit: Limit::LARGEST,
                ..query
            },
        )
        .await
        .expect("search");
    assert!(page.next_cursor.is_none());
    page.items
}

/// The distinct prompt keys of `rows` and the events carrying a prompt, as a dataset counts
/// them.
pub(crate) async fn prompts(
    services: &Services,
    rows: &[EventRow],
) -> (BTreeSet<String>, HashSet<Uuid>) {
    let mut keys = BTreeSet::new();
    let mut events = HashSet::new();
    for row in rows {
        let detail = services
            .event_detail(&Scope::Everything, row.id)
            .await
            .expect("detail");
        if !detail.input.trim().is_empty() {
            keys.insert(prompt_key(&detail.input));
            events.insert(row.id);
        }
    }
    (keys, events)
}

/// The source event ids of dataset `id`, in item order.
pub(crate) async fn sources(services: &Services, id: i64) -> Vec<Uuid> {
    let items: Vec<_> = services
        .dataset_items(&Scope::Everything, id)
        .await
        .expect("items")
        .try_collect()
        .await
        .expect("read items");
    items
        .into_iter()
        .flat_map(|item| item.source_event_ids)
        .collect()
}

fn by_user(email: &str) -> EventQuery {
    EventQuery {
        user_email: Some(email.to_owned()),
        ..EventQuery::default()
    }
}

async fn adding_merges(test: TestDb) {
    let it = Investigation::on(test).await;
    it.ingest_until(it.start + TimeDelta::hours(3)).await;
    let services = &it.app.services;
    let everything = Scope::Everything;
    let all = rows(services, EventQuery::default()).await;
    let users: BTreeSet<String> = all.iter().map(|row| row.user_email.clone()).collect();
    let mut users = users.into_iter();
    let (first, second) = (
        users.next().expect("a user"),
        users.next().expect("another"),
    );
    // One prompt both users sent, written with different whitespace.
    for (user, prompt) in [
        (&first, "Summarise the incident report"),
        (&second, "  Summarise the   incident report\n"),
    ] {
        let row = all
            .iter()
            .find(|row| row.user_email == *user)
            .expect("an event");
        event::Entity::update_many()
            .col_expr(event::Column::InputText, Expr::value(prompt))
            .filter(event::Column::Id.eq(row.id))
            .exec(&it.pipeline.test.db)
            .await
            .expect("plant the prompt");
    }
    let (first_keys, first_events) =
        prompts(services, &rows(services, by_user(&first)).await).await;
    let (second_keys, second_events) =
        prompts(services, &rows(services, by_user(&second)).await).await;

    let created = services
        .create_dataset(
            &everything,
            "test",
            "user_email=first",
            &by_user(&first),
            NewDataset {
                name: "merged".into(),
                policies: vec![],
            },
        )
        .await
        .expect("create");
    let added = services
        .add_to_dataset(
            &everything,
            created.id,
            "user_email=second",
            &by_user(&second),
        )
        .await
        .expect("add");
    let union: BTreeSet<&String> = first_keys.iter().chain(&second_keys).collect();
    assert!(
        union.len() < first_keys.len() + second_keys.len(),
        "a prompt is shared"
    );
    assert_eq!(added.dataset.item_count as usize, union.len());
    assert_eq!(
        added.new_items as usize,
        union.len() - first_keys.len(),
        "prompts the dataset held gained sources instead of new items"
    );
    assert_eq!(added.new_source_events as usize, second_events.len());
    assert_eq!(
        added.dataset.source_event_count as usize,
        first_events.len() + second_events.len()
    );
    assert_eq!(added.dataset.search, "user_email=first\nuser_email=second");
    let held = sources(services, created.id).await;
    let distinct: HashSet<Uuid> = held.iter().copied().collect();
    assert_eq!(held.len(), distinct.len(), "no event is a source twice");
    let want: HashSet<Uuid> = first_events.union(&second_events).copied().collect();
    assert_eq!(distinct, want);

    // Every event of a search that overlaps the dataset: only the events it lacks are added,
    // and a second time nothing is.
    let everyone = services
        .add_to_dataset(&everything, created.id, "", &EventQuery::default())
        .await
        .expect("add all");
    let (all_keys, all_events) = prompts(services, &all).await;
    assert_eq!(everyone.dataset.item_count as usize, all_keys.len());
    assert_eq!(
        everyone.dataset.source_event_count as usize,
        all_events.len()
    );
    assert_eq!(
        everyone.new_source_events as usize,
        all_events.len() - want.len()
    );
    let again = services
        .add_to_dataset(&everything, created.id, "", &EventQuery::default())
        .await
        .expect("add again");
    assert_eq!((again.new_items, again.new_source_events), (0, 0));
    assert_eq!(again.dataset, everyone.dataset, "nothing changed");

    // A dataset limited to a policy keeps its filter when a search is added to it.
    let policy = all
        .iter()
        .find_map(|row| row.violations.by_policy.keys().next().cloned())
        .expect("the fake plants violations");
    let limited = services
        .create_dataset(
            &everything,
            "test",
            "",
            &by_user("nobody@example.invalid"),
            NewDataset {
                name: "limited".into(),
                policies: vec![policy.clone()],
            },
        )
        .await
        .expect("create limited");
    assert_eq!(limited.item_count, 0);
    let grown = services
        .add_to_dataset(&everything, limited.id, "", &EventQuery::default())
        .await
        .expect("add to limited");
    let violating: Vec<EventRow> = all
        .iter()
        .filter(|row| row.violations.by_policy.contains_key(&policy))
        .cloned()
        .collect();
    let (_, violating_events) = prompts(services, &violating).await;
    assert_eq!(
        sources(services, limited.id)
            .await
            .into_iter()
            .collect::<HashSet<_>>(),
        violating_events,
        "only events violating {policy}"
    );
    assert_eq!(
        grown.dataset.source_event_count as usize,
        violating_events.len()
    );

    // Another project's caller finds no such dataset, and nothing changes.
    it.other_project_token().await;
    let other = project::Entity::find()
        .filter(project::Column::Name.eq("other"))
        .one(&it.pipeline.test.db)
        .await
        .expect("project")
        .expect("the other project");
    let refused = services
        .add_to_dataset(
            &Scope::Projects(vec![other.id]),
            created.id,
            "",
            &EventQuery::default(),
        )
        .await
        .expect_err("out of scope");
    assert_eq!(refused.code(), "not_found", "{refused}");
    assert_eq!(
        services
            .dataset(&everything, created.id)
            .await
            .expect("dataset"),
        everyone.dataset
    );
}

#[tokio::test]
async fn adding_searches_to_a_dataset_merges_prompts_counts_no_event_twice_and_keeps_its_policies_on_postgres(
) {
    adding_merges(TestDb::postgres().await).await;
}

#[tokio::test]
async fn adding_searches_to_a_dataset_merges_prompts_counts_no_event_twice_and_keeps_its_policies_on_sqlite(
) {
    adding_merges(TestDb::sqlite().await).await;
}
