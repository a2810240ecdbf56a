//! Pages of a list: the `limit` a query may ask for, the opaque cursor that continues a list
//! where its previous page ended, and [`Page`], what every list returns.
//!
//! Lists page by keyset on their unique sort key (the row id), so a page never repeats or
//! skips a row that existed when the walk began, however many rows are inserted meanwhile.

use std::future::Future;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::Error;

/// How many items one page holds: 1 to 1000, 50 unless asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u64")]
pub struct Limit(u64);

impl Limit {
    pub const MIN: u64 = 1;
    pub const MAX: u64 = 1000;
    pub const DEFAULT: Limit = Limit(50);
    /// The largest page, for callers that walk a whole list.
    pub const LARGEST: Limit = Limit(Self::MAX);

    pub fn new(value: i64) -> Result<Self, Error> {
        match u64::try_from(value) {
            Ok(limit) if (Self::MIN..=Self::MAX).contains(&limit) => Ok(Self(limit)),
            _ => Err(Error::invalid(
                "limit",
                format!(
                    "{value} is out of range: expected an integer from {} to {}",
                    Self::MIN,
                    Self::MAX
                ),
            )),
        }
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<i64> for Limit {
    type Error = Error;

    fn try_from(value: i64) -> Result<Self, Error> {
        Self::new(value)
    }
}

/// Documented as an integer from 1 to 1000 (50 when absent).
impl utoipa::PartialSchema for Limit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(Self::MIN as f64))
            .maximum(Some(Self::MAX as f64))
            .default(Some(serde_json::json!(Self::DEFAULT.0)))
            .into()
    }
}

impl utoipa::ToSchema for Limit {}

impl From<Limit> for u64 {
    fn from(limit: Limit) -> u64 {
        limit.0
    }
}

/// Which list a cursor belongs to: a cursor of one list is refused by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum List {
    Jobs,
    Backfills,
    Integrations,
    Audit,
    Issues,
    Datasets,
}

impl List {
    fn tag(self) -> &'static str {
        match self {
            Self::Jobs => "jobs",
            Self::Backfills => "backfills",
            Self::Integrations => "integrations",
            Self::Audit => "audit",
            Self::Issues => "issues",
            Self::Datasets => "datasets",
        }
    }
}

/// Where the next page of a list starts. Opaque: clients pass back the `next_cursor` of a
/// page unchanged and must not build or read one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

const CURSOR_VERSION: &str = "v1";

impl Cursor {
    /// The cursor of the page after the row keyed `id` of `list`.
    pub(crate) fn after(list: List, id: i64) -> Self {
        let text = format!("{CURSOR_VERSION}:{}:{id}", list.tag());
        Self(URL_SAFE_NO_PAD.encode(text))
    }

    /// The key of the last row before this page, if this is a cursor of `list`.
    pub(crate) fn key(&self, list: List) -> Result<i64, Error> {
        let decoded = URL_SAFE_NO_PAD
            .decode(&self.0)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let key = decoded.as_deref().and_then(|text| {
            let mut parts = text.splitn(3, ':');
            let (version, tag, id) = (parts.next()?, parts.next()?, parts.next()?);
            (version == CURSOR_VERSION && tag == list.tag())
                .then(|| id.parse::<i64>().ok())
                .flatten()
        });
        key.ok_or_else(|| {
            Error::invalid(
                "cursor",
                format!(
                    "is not a cursor of the {} list: pass the next_cursor of the previous page unchanged",
                    list.tag()
                ),
            )
        })
    }

    /// The text a client passes back.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Documented as the opaque string it is.
impl utoipa::PartialSchema for Cursor {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "Opaque: pass the next_cursor of the previous page unchanged.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Cursor {}

impl From<String> for Cursor {
    fn from(text: String) -> Self {
        Self(text)
    }
}

/// One page of a list, in the list's stable order.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

impl<T> Page<T> {
    /// Cuts `rows` (fetched with one row more than `limit`) into a page of `list`, keyed by
    /// `key`, and maps the items.
    pub(crate) fn from_rows<R>(
        list: List,
        limit: Limit,
        mut rows: Vec<R>,
        key: impl Fn(&R) -> i64,
        view: impl FnMut(R) -> T,
    ) -> Self {
        let more = rows.len() as u64 > limit.get();
        rows.truncate(limit.get() as usize);
        let next_cursor = more
            .then(|| rows.last().map(|row| Cursor::after(list, key(row))))
            .flatten();
        Page {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

/// Every item of a list, page after page: for the CLI's full listings. `fetch` gets the
/// cursor of the page to load (`None` for the first).
pub async fn every_page<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, Error>
where
    F: FnMut(Option<Cursor>) -> Fut,
    Fut: Future<Output = Result<Page<T>, Error>>,
{
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = fetch(cursor).await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(items),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_outside_one_to_a_thousand_names_the_field_and_the_range() {
        for value in [0, -1, 1001, i64::MAX] {
            let err = Limit::new(value).unwrap_err();
            assert_eq!(err.field(), Some("limit"));
            assert!(err.to_string().contains("from 1 to 1000"), "{err}");
            assert!(err.to_string().contains(&value.to_string()), "{err}");
        }
        assert_eq!(Limit::new(1).unwrap().get(), 1);
        assert_eq!(Limit::new(1000).unwrap().get(), 1000);
        assert_eq!(Limit::default().get(), 50);
    }

    #[test]
    fn a_cursor_continues_only_the_list_that_made_it() {
        let cursor = Cursor::after(List::Jobs, 42);
        assert_eq!(cursor.key(List::Jobs).unwrap(), 42);
        assert!(!cursor.as_str().contains("42"), "the cursor is opaque");
        let err = cursor.key(List::Backfills).unwrap_err();
        assert_eq!(err.field(), Some("cursor"));
        assert_eq!(err.code(), "invalid");
    }

    #[test]
    fn a_malformed_cursor_is_an_invalid_cursor_error() {
        for text in [
            "",
            "!!!",
            "42",
            &URL_SAFE_NO_PAD.encode("v1:jobs:x"),
            &URL_SAFE_NO_PAD.encode("v0:jobs:1"),
            &URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
        ] {
            let err = Cursor::from(text.to_owned()).key(List::Jobs).unwrap_err();
            assert_eq!(err.field(), Some("cursor"), "{text:?}");
        }
    }

    #[test]
    fn a_page_has_a_next_cursor_only_when_more_rows_follow() {
        let limit = Limit::new(2).unwrap();
        let page = Page::from_rows(List::Jobs, limit, vec![9, 8, 7], |r| *r, |r| r);
        assert_eq!(page.items, [9, 8]);
        assert_eq!(page.next_cursor.unwrap().key(List::Jobs).unwrap(), 8);
        let last = Page::from_rows(List::Jobs, limit, vec![9, 8], |r| *r, |r| r);
        assert_eq!(last.items, [9, 8]);
        assert_eq!(last.next_cursor, None);
    }
}
