//! Datasets: the prompts of an events search compiled into a named set, for evaluations and
//! red teaming. A prompt that several events carried is one item, with every source event id;
//! prompts are the same when they are equal after trimming and collapsing whitespace. A
//! dataset may be limited to prompts with standing violations of given policies. Items carry
//! the first event's response and, as labels, the policies violated and the tags of all
//! their events. Empty prompts are left out.
//!
//! A dataset belongs to the projects of its events (and, when a project-scoped caller made
//! it, to the caller's projects): a project-scoped caller sees it only when every one of them
//! is in its scope, and any other id reads as absent.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, TryStreamExt};
use logwarden_entities::{dataset, dataset_item, dataset_project, event};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::events::{EventQuery, EventRow};
use crate::service::page::{Cursor, Limit, List, Page};
use crate::service::scope::Scope;
use crate::service::{Error, Services};

/// The most events one dataset may be compiled from.
pub const MAX_SOURCE_EVENTS: usize = 100_000;

/// Items inserted per statement, and read per query when downloading.
const BATCH: usize = 200;

/// What to compile, in the body of `POST /api/v1/datasets` (the search's filters are in the
/// query string).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDataset {
    /// 1 to 200 characters.
    pub name: String,
    /// Keep only the prompts of events with a standing violation of one of these policies;
    /// empty or absent: every prompt of the search.
    #[serde(default)]
    pub policies: Vec<String>,
}

/// A dataset as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DatasetView {
    pub id: i64,
    pub name: String,
    /// The events search it was compiled from, as a query string; after searches were added
    /// to it, one query string per line, oldest first.
    pub search: String,
    pub policies: Vec<String>,
    /// Distinct prompts.
    pub item_count: i64,
    /// Events the prompts came from.
    pub source_event_count: i64,
    pub project_ids: Vec<i64>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// What adding a search to a dataset changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetAddition {
    /// The dataset after the addition.
    pub dataset: DatasetView,
    /// Prompts the dataset did not hold before.
    pub new_items: u64,
    /// Source events added; events the dataset held already are not added again.
    pub new_source_events: u64,
}

/// Pages of the datasets list, newest first.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DatasetQuery {
    #[serde(default)]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Limit,
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
}

/// One line of a dataset's JSONL download.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatasetItem {
    pub prompt: String,
    pub response: String,
    /// Policies violated and tags of the source events, sorted, distinct.
    pub labels: Vec<String>,
    /// Every event that carried the prompt, in the search's order.
    #[schema(value_type = Vec<String>)]
    pub source_event_ids: Vec<Uuid>,
}

/// The key two prompts are the same under: SHA-256 of the prompt with its whitespace
/// trimmed and collapsed.
pub fn prompt_key(prompt: &str) -> String {
    let normalised = prompt.split_whitespace().collect::<Vec<_>>().join(" ");
    hex::encode(Sha256::digest(normalised.as_bytes()))
}

fn checked_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::invalid("name", "must be 1 to 200 characters"));
    }
    Ok(name.to_owned())
}

fn checked_policies(policies: &[String]) -> Result<Vec<String>, Error> {
    if policies.len() > 100 {
        return Err(Error::invalid("policies", "lists at most 100 policies"));
    }
    let mut out = BTreeSet::new();
    for policy in policies {
        let policy = policy.trim();
        if policy.is_empty() || policy.len() > 200 {
            return Err(Error::invalid(
                "policies",
                "each policy name must be 1 to 200 bytes",
            ));
        }
        out.insert(policy.to_owned());
    }
    Ok(out.into_iter().collect())
}

/// The datasets a caller with `scope` may see.
fn visible(scope: &Scope) -> Condition {
    match scope {
        Scope::Everything => Condition::all(),
        Scope::Projects(ids) => {
            let of_dataset = || {
                Query::select()
                    .expr(Expr::val(1))
                    .from(dataset_project::Entity)
                    .and_where(
                        Expr::col((dataset_project::Entity, dataset_project::Column::DatasetId))
                            .equals((dataset::Entity, dataset::Column::Id)),
                    )
                    .to_owned()
            };
            Condition::all()
                .add(Expr::exists(of_dataset()))
                .add(Expr::not_exists(
                    of_dataset()
                        .and_where(
                            dataset_project::Column::ProjectId.is_not_in(ids.iter().copied()),
                        )
                        .to_owned(),
                ))
        }
    }
}

/// A dataset being compiled.
#[derive(Default)]
struct Compiled {
    items: Vec<DatasetItem>,
    labels: Vec<BTreeSet<String>>,
    keys: Vec<String>,
    by_key: HashMap<String, usize>,
    projects: BTreeSet<i64>,
    events: usize,
}

impl Compiled {
    fn add(&mut self, row: &EventRow, prompt: String, response: String) {
        let key = prompt_key(&prompt);
        let labels = row
            .violations
            .by_policy
            .keys()
            .chain(row.tags.labels.iter())
            .cloned();
        self.projects.insert(row.project_id);
        self.events += 1;
        match self.by_key.get(&key) {
            Some(&at) => {
                self.items[at].source_event_ids.push(row.id);
                self.labels[at].extend(labels);
            }
            None => {
                self.by_key.insert(key.clone(), self.items.len());
                self.keys.push(key);
                self.labels.push(labels.collect());
                self.items.push(DatasetItem {
                    prompt: prompt.trim().to_owned(),
                    response,
                    labels: Vec::new(),
                    source_event_ids: vec![row.id],
                });
            }
        }
    }
}

impl Services {
    /// Compiles the prompts of the events `query` matches inside `scope` into a dataset
    /// named as `new` says. `search` is the query string as given, kept with the dataset.
    /// All of it is written in one transaction, or nothing is.
    pub async fn create_dataset(
        &self,
        scope: &Scope,
        created_by: &str,
        search: &str,
        query: &EventQuery,
        new: NewDataset,
    ) -> Result<DatasetView, Error> {
        let name = checked_name(&new.name)?;
        let policies = checked_policies(&new.policies)?;
        let mut compiled = self.compile(scope, query, &policies).await?;
        if let Scope::Projects(ids) = scope {
            compiled.projects.extend(ids.iter().copied());
        }
        let Compiled {
            mut items,
            labels,
            keys,
            projects,
            events,
            ..
        } = compiled;
        for (item, labels) in items.iter_mut().zip(labels) {
            item.labels = labels.into_iter().collect();
        }

        let now = Utc::now();
        let txn = crate::store::begin_write(&self.db).await?;
        let id = dataset::Entity::insert(dataset::ActiveModel {
            name: Set(name),
            search: Set(search.to_owned()),
            policies: Set(serde_json::json!(policies)),
            item_count: Set(items.len() as i64),
            source_event_count: Set(events as i64),
            created_by: Set(created_by.to_owned()),
            created_at: Set(now),
            ..Default::default()
        })
        .exec(&txn)
        .await?
        .last_insert_id;
        if !projects.is_empty() {
            dataset_project::Entity::insert_many(projects.iter().map(|project| {
                dataset_project::ActiveModel {
                    dataset_id: Set(id),
                    project_id: Set(*project),
                }
            }))
            .exec_without_returning(&txn)
            .await?;
        }
        let rows: Vec<dataset_item::ActiveModel> = items
            .into_iter()
            .zip(keys)
            .enumerate()
            .map(|(position, (item, key))| dataset_item::ActiveModel {
                dataset_id: Set(id),
                position: Set(position as i64),
                prompt_hash: Set(key),
                prompt: Set(item.prompt),
                response: Set(item.response),
                labels: Set(serde_json::json!(item.labels)),
                source_event_ids: Set(serde_json::json!(item.source_event_ids)),
                ..Default::default()
            })
            .collect();
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let batch: Vec<_> = rows.by_ref().take(BATCH).collect();
            dataset_item::Entity::insert_many(batch)
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        self.dataset(scope, id).await
    }

    /// The distinct prompts of the events `query` matches inside `scope`, limited to events
    /// with a standing violation of one of `policies` when it names any.
    async fn compile(
        &self,
        scope: &Scope,
        query: &EventQuery,
        policies: &[String],
    ) -> Result<Compiled, Error> {
        let mut compiled = Compiled::default();
        let mut rows = std::pin::pin!(self.stream_events(scope, query).try_chunks(BATCH));
        while let Some(chunk) = rows.next().await {
            let chunk = chunk.map_err(|err| err.1)?;
            let chunk: Vec<EventRow> = chunk
                .into_iter()
                .filter(|row| {
                    policies.is_empty()
                        || policies
                            .iter()
                            .any(|policy| row.violations.by_policy.contains_key(policy))
                })
                .collect();
            if chunk.is_empty() {
                continue;
            }
            if compiled.events + chunk.len() > MAX_SOURCE_EVENTS {
                return Err(Error::invalid(
                    "query",
                    format!(
                        "the search matches more than {MAX_SOURCE_EVENTS} events: narrow it (a shorter range, a user, a policy)"
                    ),
                ));
            }
            let texts: HashMap<Uuid, (String, String)> = event::Entity::find()
                .select_only()
                .columns([
                    event::Column::Id,
                    event::Column::InputText,
                    event::Column::OutputText,
                ])
                .filter(event::Column::Id.is_in(chunk.iter().map(|row| row.id)))
                .into_tuple::<(Uuid, String, String)>()
                .all(&self.db)
                .await?
                .into_iter()
                .map(|(id, input, output)| (id, (input, output)))
                .collect();
            for row in &chunk {
                if let Some((prompt, response)) = texts.get(&row.id) {
                    if !prompt.trim().is_empty() {
                        compiled.add(row, prompt.clone(), response.clone());
                    }
                }
            }
        }
        Ok(compiled)
    }

    /// Adds the prompts of the events `query` matches inside `scope` to the dataset `id`,
    /// limited to the dataset's own policies: a prompt it holds already gains the new source
    /// events and their labels, a new prompt is appended after the others. Events the dataset
    /// holds already are skipped, so adding the same search again changes nothing. `search`,
    /// the query string as given, is kept with the dataset after the searches before it. All
    /// of it is written in one transaction, under a lock on the dataset, or nothing is.
    pub async fn add_to_dataset(
        &self,
        scope: &Scope,
        id: i64,
        search: &str,
        query: &EventQuery,
    ) -> Result<DatasetAddition, Error> {
        let policies = self.dataset(scope, id).await?.policies;
        let Compiled {
            items,
            labels,
            keys,
            mut projects,
            ..
        } = self.compile(scope, query, &policies).await?;
        if let Scope::Projects(ids) = scope {
            projects.extend(ids.iter().copied());
        }

        let txn = crate::store::begin_write(&self.db).await?;
        let row = dataset::Entity::find_by_id(id)
            .filter(visible(scope))
            .lock_exclusive()
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("dataset", id))?;
        // What the dataset holds, read under its lock.
        let held: Vec<(i64, i64, String, serde_json::Value, serde_json::Value)> =
            dataset_item::Entity::find()
                .select_only()
                .columns([
                    dataset_item::Column::Id,
                    dataset_item::Column::Position,
                    dataset_item::Column::PromptHash,
                    dataset_item::Column::Labels,
                    dataset_item::Column::SourceEventIds,
                ])
                .filter(dataset_item::Column::DatasetId.eq(id))
                .into_tuple()
                .all(&txn)
                .await?;
        let mut next_position = held.iter().map(|item| item.1 + 1).max().unwrap_or(0);
        let mut sources: HashSet<Uuid> = HashSet::new();
        let mut by_key: HashMap<String, (i64, BTreeSet<String>, Vec<Uuid>)> = HashMap::new();
        for (item_id, _, key, labels, ids) in held {
            let ids: Vec<Uuid> = serde_json::from_value(ids).unwrap_or_default();
            sources.extend(ids.iter().copied());
            let labels: BTreeSet<String> = serde_json::from_value(labels).unwrap_or_default();
            by_key.insert(key, (item_id, labels, ids));
        }

        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut appended: Vec<dataset_item::ActiveModel> = Vec::new();
        let mut new_events = 0usize;
        for ((item, labels), key) in items.into_iter().zip(labels).zip(keys) {
            let fresh: Vec<Uuid> = item
                .source_event_ids
                .into_iter()
                .filter(|event| sources.insert(*event))
                .collect();
            if fresh.is_empty() {
                continue;
            }
            new_events += fresh.len();
            match by_key.get_mut(&key) {
                Some((_, held_labels, ids)) => {
                    held_labels.extend(labels);
                    ids.extend(fresh);
                    touched.insert(key);
                }
                None => {
                    appended.push(dataset_item::ActiveModel {
                        dataset_id: Set(id),
                        position: Set(next_position),
                        prompt_hash: Set(key),
                        prompt: Set(item.prompt),
                        response: Set(item.response),
                        labels: Set(serde_json::json!(labels)),
                        source_event_ids: Set(serde_json::json!(fresh)),
                        ..Default::default()
                    });
                    next_position += 1;
                }
            }
        }
        let new_items = appended.len();
        let addition = |dataset| DatasetAddition {
            dataset,
            new_items: new_items as u64,
            new_source_events: new_events as u64,
        };
        if new_events == 0 {
            txn.commit().await?;
            return Ok(addition(self.dataset(scope, id).await?));
        }
        let total_events = row.source_event_count as usize + new_events;
        if total_events > MAX_SOURCE_EVENTS {
            return Err(Error::invalid(
                "query",
                format!(
                    "the dataset would hold {total_events} events, more than {MAX_SOURCE_EVENTS}: narrow the search or compile a new dataset"
                ),
            ));
        }
        for key in &touched {
            let (item_id, labels, ids) = &by_key[key];
            dataset_item::Entity::update(dataset_item::ActiveModel {
                id: Set(*item_id),
                labels: Set(serde_json::json!(labels)),
                source_event_ids: Set(serde_json::json!(ids)),
                ..Default::default()
            })
            .exec(&txn)
            .await?;
        }
        let mut rows = appended.into_iter().peekable();
        while rows.peek().is_some() {
            let batch: Vec<_> = rows.by_ref().take(BATCH).collect();
            dataset_item::Entity::insert_many(batch)
                .exec_without_returning(&txn)
                .await?;
        }
        let known: BTreeSet<i64> = dataset_project::Entity::find()
            .select_only()
            .column(dataset_project::Column::ProjectId)
            .filter(dataset_project::Column::DatasetId.eq(id))
            .into_tuple::<i64>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        let missing: Vec<i64> = projects.difference(&known).copied().collect();
        if !missing.is_empty() {
            dataset_project::Entity::insert_many(missing.into_iter().map(|project| {
                dataset_project::ActiveModel {
                    dataset_id: Set(id),
                    project_id: Set(project),
                }
            }))
            .exec_without_returning(&txn)
            .await?;
        }
        let searches = if row.search.is_empty() {
            search.to_owned()
        } else {
            format!("{}\n{search}", row.search)
        };
        dataset::Entity::update(dataset::ActiveModel {
            id: Set(id),
            item_count: Set(row.item_count + new_items as i64),
            source_event_count: Set(total_events as i64),
            search: Set(searches),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        txn.commit().await?;
        Ok(addition(self.dataset(scope, id).await?))
    }

    /// The dataset `id`, if it exists inside `scope`.
    pub async fn dataset(&self, scope: &Scope, id: i64) -> Result<DatasetView, Error> {
        let row = dataset::Entity::find_by_id(id)
            .filter(visible(scope))
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("dataset", id))?;
        let mut views = self.dataset_views(vec![row]).await?;
        Ok(views.remove(0))
    }

    async fn dataset_views(&self, rows: Vec<dataset::Model>) -> Result<Vec<DatasetView>, Error> {
        let mut projects: HashMap<i64, Vec<i64>> = HashMap::new();
        if !rows.is_empty() {
            for (dataset_id, project_id) in dataset_project::Entity::find()
                .select_only()
                .columns([
                    dataset_project::Column::DatasetId,
                    dataset_project::Column::ProjectId,
                ])
                .filter(dataset_project::Column::DatasetId.is_in(rows.iter().map(|row| row.id)))
                .order_by_asc(dataset_project::Column::ProjectId)
                .into_tuple::<(i64, i64)>()
                .all(&self.db)
                .await?
            {
                projects.entry(dataset_id).or_default().push(project_id);
            }
        }
        Ok(rows
            .into_iter()
            .map(|row| DatasetView {
                project_ids: projects.remove(&row.id).unwrap_or_default(),
                policies: serde_json::from_value(row.policies).unwrap_or_default(),
                id: row.id,
                name: row.name,
                search: row.search,
                item_count: row.item_count,
                source_event_count: row.source_event_count,
                created_by: row.created_by,
                created_at: row.created_at,
            })
            .collect())
    }

    /// One page of the datasets inside `scope`, newest first.
    pub async fn list_datasets(
        &self,
        scope: &Scope,
        query: &DatasetQuery,
    ) -> Result<Page<DatasetView>, Error> {
        let mut select = dataset::Entity::find().filter(visible(scope));
        if let Some(cursor) = &query.cursor {
            select = select.filter(dataset::Column::Id.lt(cursor.key(List::Datasets)?));
        }
        let rows = select
            .order_by_desc(dataset::Column::Id)
            .limit(query.limit.get() + 1)
            .all(&self.db)
            .await?;
        let page = Page::from_rows(List::Datasets, query.limit, rows, |row| row.id, |row| row);
        Ok(Page {
            items: self.dataset_views(page.items).await?,
            next_cursor: page.next_cursor,
        })
    }

    /// Deletes the dataset `id` and its items, if it exists inside `scope`.
    pub async fn delete_dataset(&self, scope: &Scope, id: i64) -> Result<(), Error> {
        self.dataset(scope, id).await?;
        let txn = crate::store::begin_write(&self.db).await?;
        dataset_item::Entity::delete_many()
            .filter(dataset_item::Column::DatasetId.eq(id))
            .exec(&txn)
            .await?;
        dataset_project::Entity::delete_many()
            .filter(dataset_project::Column::DatasetId.eq(id))
            .exec(&txn)
            .await?;
        dataset::Entity::delete_by_id(id).exec(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The items of the dataset `id` in order, read in pages, if it exists inside `scope`
    /// (checked before this returns).
    pub async fn dataset_items(
        &self,
        scope: &Scope,
        id: i64,
    ) -> Result<impl Stream<Item = Result<DatasetItem, Error>> + Send + 'static, Error> {
        self.dataset(scope, id).await?;
        let db = self.db.clone();
        let pages = futures::stream::try_unfold(Some(-1_i64), move |after| {
            let db = db.clone();
            async move {
                let Some(after) = after else {
                    return Ok::<_, Error>(None);
                };
                let rows = dataset_item::Entity::find()
                    .filter(dataset_item::Column::DatasetId.eq(id))
                    .filter(dataset_item::Column::Position.gt(after))
                    .order_by_asc(dataset_item::Column::Position)
                    .limit(BATCH as u64)
                    .all(&db)
                    .await?;
                if rows.is_empty() {
                    return Ok(None);
                }
                let next = (rows.len() == BATCH).then(|| rows[rows.len() - 1].position);
                let items: Vec<Result<DatasetItem, Error>> = rows
                    .into_iter()
                    .map(|row| {
                        Ok(DatasetItem {
                            prompt: row.prompt,
                            response: row.response,
                            labels: serde_json::from_value(row.labels).unwrap_or_default(),
                            source_event_ids: serde_json::from_value(row.source_event_ids)
                                .unwrap_or_default(),
                        })
                    })
                    .collect();
                Ok(Some((futures::stream::iter(items), next)))
            }
        });
        Ok(pages.try_flatten())
    }
}

/// `items` as JSONL, one object per line.
pub fn jsonl(items: &[DatasetItem]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        // An in-memory serialisation of plain data cannot fail.
        let _ = serde_json::to_writer(&mut out, item);
        out.push(b'\n');
    }
    out
}
