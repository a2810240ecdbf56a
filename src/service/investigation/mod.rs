//! The investigation view: what users did with Claude, for a security team to find and read.
//! Every function takes the caller's [`super::scope::Scope`]; objects outside it are reported
//! exactly like objects that do not exist.

pub mod access;
pub mod alerts;
pub mod datasets;
pub mod events;
pub mod export;
pub mod issues;
pub mod reports;
pub mod reveal;
pub mod sessions;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

use logwarden_entities::integration;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};

use crate::service::page::{Cursor, Limit};
use crate::service::{Error, Services};

impl Services {
    /// The names of the integrations `ids`, for the resource column of investigation rows.
    pub(crate) async fn integration_names(
        &self,
        ids: impl Iterator<Item = i64>,
    ) -> Result<HashMap<i64, String>, Error> {
        let mut ids: Vec<i64> = ids.collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(integration::Entity::find()
            .select_only()
            .columns([integration::Column::Id, integration::Column::Name])
            .filter(integration::Column::Id.is_in(ids))
            .into_tuple::<(i64, String)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect())
    }
}

/// Where a page of a newest-first list ends: the `(time, id)` of its last row. A cursor
/// names its list (`sessions`, `alerts`, ...), and another list refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeKey {
    pub time: DateTime<Utc>,
    pub id: String,
}

impl TimeKey {
    pub fn new(time: DateTime<Utc>, id: impl ToString) -> Self {
        Self {
            time,
            id: id.to_string(),
        }
    }

    pub fn cursor(&self, list: &str) -> Cursor {
        let text = format!("v1:{list}:{}:{}", self.time.timestamp_micros(), self.id);
        Cursor::from(URL_SAFE_NO_PAD.encode(text))
    }

    /// The key of `cursor`, if it is a cursor of `list` whose id `valid_id` accepts.
    pub fn parse(
        cursor: &Cursor,
        list: &str,
        valid_id: impl Fn(&str) -> bool,
    ) -> Result<Self, Error> {
        let decoded = URL_SAFE_NO_PAD
            .decode(cursor.as_str())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let key = decoded.as_deref().and_then(|text| {
            let rest = text
                .strip_prefix("v1:")?
                .strip_prefix(list)?
                .strip_prefix(':')?;
            let (micros, id) = rest.split_once(':')?;
            let time = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
            valid_id(id).then(|| Self::new(time, id))
        });
        key.ok_or_else(|| {
            Error::invalid(
                "cursor",
                format!(
                    "is not a cursor of the {list} list: pass the next_cursor of the previous page unchanged"
                ),
            )
        })
    }

    /// Cuts `rows` (fetched with one row more than `limit`) into a page of `list`, and the
    /// cursor of the next page when more rows follow.
    pub fn cut<R>(
        list: &str,
        limit: Limit,
        mut rows: Vec<R>,
        key: impl Fn(&R) -> Self,
    ) -> (Vec<R>, Option<Cursor>) {
        let more = rows.len() as u64 > limit.get();
        rows.truncate(limit.get() as usize);
        let next = more
            .then(|| rows.last().map(|row| key(row).cursor(list)))
            .flatten();
        (rows, next)
    }

    /// The rows after this key, newest first: earlier times, or the same time and a smaller
    /// id. `id` is this key's id in the id column's type.
    pub fn before(
        &self,
        time: impl ColumnTrait,
        id_column: impl ColumnTrait,
        id: impl Into<sea_orm::Value>,
    ) -> Condition {
        Condition::any().add(time.lt(self.time)).add(
            Condition::all()
                .add(time.eq(self.time))
                .add(id_column.lt(id)),
        )
    }
}

/// A non-empty trimmed text filter of at most 1000 bytes, or an `invalid` error naming the
/// field.
pub(crate) fn text_filter(
    field: &'static str,
    value: &Option<String>,
) -> Result<Option<String>, Error> {
    match value.as_deref().map(str::trim) {
        None => Ok(None),
        Some("") => Err(Error::invalid(field, "must not be empty")),
        Some(text) if text.len() > 1000 => Err(Error::invalid(field, "is longer than 1000 bytes")),
        Some(text) => Ok(Some(text.to_owned())),
    }
}

/// Checks that a half-open range `[from, to)` is not empty.
pub(crate) fn check_range(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    if let (Some(from), Some(to)) = (from, to) {
        if from >= to {
            return Err(Error::invalid(
                "to",
                format!(
                    "{} must be later than from {}",
                    to.to_rfc3339(),
                    from.to_rfc3339()
                ),
            ));
        }
    }
    Ok(())
}
