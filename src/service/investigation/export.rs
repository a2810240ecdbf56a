//! Export of an events search or an access events search as CSV or NDJSON: every row
//! [`Services::stream_events`] (or [`Services::stream_access_events`]) yields for the same
//! query, in the same order, encoded a keyset page (5,000 rows) at a time as the pages are
//! read, so memory stays constant however many match, and no row goes through the stream
//! machinery on its own.
//!
//! A CSV cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is written with
//! a `'` in front, so that a spreadsheet opening the file shows it as text instead of running
//! it as a formula ([`formula_safe`]); NDJSON carries the values unchanged.
//!
//! Events CSV columns, in order ([`CSV_COLUMNS`]):
//!
//! | column | content |
//! |---|---|
//! | `id` | event id (UUID) |
//! | `event_time` | RFC 3339 in the `tz` zone (UTC by default), microseconds |
//! | `integration_id`, `resource_name` | the integration and its name |
//! | `project_id`, `chat_id`, `user_id`, `user_email`, `model` | as stored (`model` may be empty) |
//! | `input_excerpt`, `output_excerpt` | the first 240 characters of each side |
//! | `tags` | the event's tags, `;`-separated |
//! | `input_tags`, `output_tags`, `tool_tags` | the tags of each side, `;`-separated (empty for events stored before tags were kept by side) |
//! | `violations` | standing violations in all |
//! | `input_violations`, `output_violations`, `tool_violations` | per side |
//! | `violations_by_policy` | `policy=count` pairs, `;`-separated, by policy name |
//!
//! NDJSON: one [`ExportRecord`] object per line, the search's row with `event_time` in `tz`.
//!
//! Access events CSV columns, in order ([`ACCESS_CSV_COLUMNS`]): `id`, `event_time` (in
//! `tz`), `integration_id`, `activity_id`, `activity_type`, `actor_type`, `actor_user_id`,
//! `actor_email`, `ip_address`, `organization_uuid` (empty when absent), `ingested_at` (in
//! `tz`). NDJSON: one [`AccessExportRecord`] per line, the search's row with both times in
//! `tz`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::access::{AccessEventQuery, AccessEventRow};
use super::events::{EventQuery, EventRow, SideTagCounts, TagCounts, TagsBySide, ViolationMarkers};
use crate::service::scope::Scope;
use crate::service::{Error, Services};

/// The CSV header, in column order.
pub const CSV_COLUMNS: [&str; 20] = [
    "id",
    "event_time",
    "integration_id",
    "resource_name",
    "project_id",
    "chat_id",
    "user_id",
    "user_email",
    "model",
    "input_excerpt",
    "output_excerpt",
    "tags",
    "input_tags",
    "output_tags",
    "tool_tags",
    "violations",
    "input_violations",
    "output_violations",
    "tool_violations",
    "violations_by_policy",
];

/// The access events CSV header, in column order.
pub const ACCESS_CSV_COLUMNS: [&str; 11] = [
    "id",
    "event_time",
    "integration_id",
    "activity_id",
    "activity_type",
    "actor_type",
    "actor_user_id",
    "actor_email",
    "ip_address",
    "organization_uuid",
    "ingested_at",
];

/// `cell` as a CSV cell a spreadsheet shows as text: with a `'` in front when it begins with
/// a character that starts a formula (`=`, `+`, `-`, `@`) or a tab or carriage return.
pub fn formula_safe(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// Writes `cells` as one CSV record, each through [`formula_safe`].
fn write_safe_record<const N: usize>(writer: &mut csv::Writer<Vec<u8>>, cells: [&str; N]) {
    // Writing to memory cannot fail.
    for cell in cells {
        let _ = writer.write_field(formula_safe(cell).as_bytes());
    }
    let _ = writer.write_record(None::<&[u8]>);
}

/// The encoding of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// `text/csv`, with a header row.
    Csv,
    /// `application/x-ndjson`, one JSON object per line.
    Ndjson,
}

impl ExportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv",
            Self::Ndjson => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
        }
    }
}

/// How to encode an export, next to the search's filters in the query string.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportOptions {
    /// `csv` or `ndjson`.
    #[param(inline)]
    pub format: ExportFormat,
    /// IANA time zone of the exported times, e.g. `Europe/Paris`; UTC by default.
    pub tz: Option<String>,
}

/// An IANA time zone, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(chrono_tz::Tz);

impl Default for TimeZone {
    fn default() -> Self {
        Self(chrono_tz::UTC)
    }
}

impl TimeZone {
    /// `name` as an IANA zone, or an `invalid` error naming `field`.
    pub fn parse(field: &'static str, name: Option<&str>) -> Result<Self, Error> {
        let Some(name) = name.map(str::trim) else {
            return Ok(Self::default());
        };
        name.parse::<chrono_tz::Tz>().map(Self).map_err(|_| {
            Error::invalid(
                field,
                format!(
                    "{name:?} is not an IANA time zone: use a name such as UTC, Europe/Paris or America/New_York"
                ),
            )
        })
    }

    /// `time` in this zone as RFC 3339 with microseconds and the zone's offset.
    pub fn format(self, time: DateTime<Utc>) -> String {
        time.with_timezone(&self.0)
            .to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

/// One exported event (an NDJSON line): the events search's row, with its time in the
/// export's zone.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExportRecord<'a> {
    #[schema(value_type = String)]
    pub id: Uuid,
    /// RFC 3339 in the export's zone, e.g. `2026-04-08T11:00:00.000000+02:00`.
    pub event_time: String,
    pub integration_id: i64,
    #[schema(value_type = String)]
    pub resource_name: &'a str,
    pub project_id: i64,
    #[schema(value_type = String)]
    pub chat_id: &'a str,
    #[schema(value_type = String)]
    pub user_id: &'a str,
    #[schema(value_type = String)]
    pub user_email: &'a str,
    #[schema(value_type = Option<String>)]
    pub model: Option<&'a str>,
    #[schema(value_type = String)]
    pub input_excerpt: &'a str,
    #[schema(value_type = String)]
    pub output_excerpt: &'a str,
    #[schema(value_type = TagCounts)]
    pub tags: &'a TagCounts,
    #[schema(value_type = ViolationMarkers)]
    pub violations: &'a ViolationMarkers,
}

impl<'a> ExportRecord<'a> {
    fn of(row: &'a EventRow, tz: TimeZone) -> Self {
        Self {
            id: row.id,
            event_time: tz.format(row.event_time),
            integration_id: row.integration_id,
            resource_name: &row.resource_name,
            project_id: row.project_id,
            chat_id: &row.chat_id,
            user_id: &row.user_id,
            user_email: &row.user_email,
            model: row.model.as_deref(),
            input_excerpt: &row.input_excerpt,
            output_excerpt: &row.output_excerpt,
            tags: &row.tags,
            violations: &row.violations,
        }
    }
}

/// One exported access event (an NDJSON line): the access events search's row, with its
/// times in the export's zone.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AccessExportRecord<'a> {
    pub id: i64,
    /// RFC 3339 in the export's zone.
    pub event_time: String,
    pub integration_id: i64,
    #[schema(value_type = String)]
    pub activity_id: &'a str,
    #[schema(value_type = String)]
    pub activity_type: &'a str,
    #[schema(value_type = String)]
    pub actor_type: &'a str,
    #[schema(value_type = Option<String>)]
    pub actor_user_id: Option<&'a str>,
    #[schema(value_type = Option<String>)]
    pub actor_email: Option<&'a str>,
    #[schema(value_type = Option<String>)]
    pub ip_address: Option<&'a str>,
    #[schema(value_type = Option<String>)]
    pub organization_uuid: Option<&'a str>,
    /// RFC 3339 in the export's zone.
    pub ingested_at: String,
}

impl<'a> AccessExportRecord<'a> {
    fn of(row: &'a AccessEventRow, tz: TimeZone) -> Self {
        Self {
            id: row.id,
            event_time: tz.format(row.event_time),
            integration_id: row.integration_id,
            activity_id: &row.activity_id,
            activity_type: &row.activity_type,
            actor_type: &row.actor_type,
            actor_user_id: row.actor_user_id.as_deref(),
            actor_email: row.actor_email.as_deref(),
            ip_address: row.ip_address.as_deref(),
            organization_uuid: row.organization_uuid.as_deref(),
            ingested_at: tz.format(row.ingested_at),
        }
    }
}

/// One side's tags, `;`-separated; empty when the row has no tags by side.
fn side_labels(tags: &TagCounts, side: fn(&TagsBySide) -> &SideTagCounts) -> String {
    tags.by_side
        .as_ref()
        .map(|sides| side(sides).labels.join(";"))
        .unwrap_or_default()
}

/// `policy=count` pairs, `;`-separated.
fn by_policy(counts: &BTreeMap<String, u64>) -> String {
    counts
        .iter()
        .map(|(policy, count)| format!("{policy}={count}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// The events CSV header line.
pub fn csv_header() -> Vec<u8> {
    header_line(&CSV_COLUMNS)
}

fn header_line(columns: &[&str]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(columns);
    writer.into_inner().unwrap_or_default()
}

/// `rows` as NDJSON: each row's `record` on a line of its own, about `row_bytes` each.
fn ndjson<'a, T, R: Serialize>(
    rows: &'a [T],
    row_bytes: usize,
    record: impl Fn(&'a T) -> R,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * row_bytes);
    for row in rows {
        // An in-memory serialisation of plain data cannot fail.
        let _ = serde_json::to_writer(&mut out, &record(row));
        out.push(b'\n');
    }
    out
}

/// `rows` encoded as `format`, one line each.
pub fn encode(rows: &[EventRow], format: ExportFormat, tz: TimeZone) -> Vec<u8> {
    match format {
        ExportFormat::Ndjson => ndjson(rows, 768, |row| ExportRecord::of(row, tz)),
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 640));
            for row in rows {
                write_safe_record(
                    &mut writer,
                    [
                        row.id.to_string().as_str(),
                        &tz.format(row.event_time),
                        &row.integration_id.to_string(),
                        &row.resource_name,
                        &row.project_id.to_string(),
                        &row.chat_id,
                        &row.user_id,
                        &row.user_email,
                        row.model.as_deref().unwrap_or(""),
                        &row.input_excerpt,
                        &row.output_excerpt,
                        &row.tags.labels.join(";"),
                        &side_labels(&row.tags, |sides| &sides.input),
                        &side_labels(&row.tags, |sides| &sides.output),
                        &side_labels(&row.tags, |sides| &sides.tool),
                        &row.violations.total.to_string(),
                        &row.violations.input.to_string(),
                        &row.violations.output.to_string(),
                        &row.violations.tool.to_string(),
                        &by_policy(&row.violations.by_policy),
                    ],
                );
            }
            writer.into_inner().unwrap_or_default()
        }
    }
}

/// Access event `rows` encoded as `format`, one line each.
pub fn encode_access(rows: &[AccessEventRow], format: ExportFormat, tz: TimeZone) -> Vec<u8> {
    match format {
        ExportFormat::Ndjson => ndjson(rows, 384, |row| AccessExportRecord::of(row, tz)),
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 256));
            for row in rows {
                write_safe_record(
                    &mut writer,
                    [
                        row.id.to_string().as_str(),
                        &tz.format(row.event_time),
                        &row.integration_id.to_string(),
                        &row.activity_id,
                        &row.activity_type,
                        &row.actor_type,
                        row.actor_user_id.as_deref().unwrap_or(""),
                        row.actor_email.as_deref().unwrap_or(""),
                        row.ip_address.as_deref().unwrap_or(""),
                        row.organization_uuid.as_deref().unwrap_or(""),
                        &tz.format(row.ingested_at),
                    ],
                );
            }
            writer.into_inner().unwrap_or_default()
        }
    }
}

/// A checked export, ready to stream.
pub struct Export {
    pub format: ExportFormat,
    pub tz: TimeZone,
    /// The body, chunk by chunk; an error ends it early (the response has begun by then).
    pub body: std::pin::Pin<Box<dyn Stream<Item = Result<Vec<u8>, Error>> + Send>>,
}

/// The body of an export of `pages`: the CSV header (`columns`) when the format is CSV, then
/// each page encoded by `encode` as one chunk. The first page is read before this returns,
/// so an error there is an error rather than a broken body.
async fn export_body<R, S>(
    pages: S,
    options: &ExportOptions,
    columns: &'static [&'static str],
    encode: fn(&[R], ExportFormat, TimeZone) -> Vec<u8>,
) -> Result<Export, Error>
where
    R: Send + 'static,
    S: Stream<Item = Result<Vec<R>, Error>> + Send + 'static,
{
    let tz = TimeZone::parse("tz", options.tz.as_deref())?;
    let format = options.format;
    let mut chunks = Box::pin(pages)
        .map(move |rows| -> Result<Vec<u8>, Error> { Ok(encode(&rows?, format, tz)) });
    let first = chunks.next().await.transpose()?;
    let header = match format {
        ExportFormat::Csv => Some(header_line(columns)),
        ExportFormat::Ndjson => None,
    };
    let head = futures::stream::iter(
        header
            .into_iter()
            .chain(first)
            .map(Ok::<_, Error>)
            .collect::<Vec<_>>(),
    );
    Ok(Export {
        format,
        tz,
        body: Box::pin(head.chain(chunks)),
    })
}

impl Services {
    /// Every event `query` matches inside `scope`, encoded as `options` say. The filters and
    /// the time zone are checked, and the first rows read, before this returns, so a bad
    /// filter is an error rather than a broken body.
    pub async fn export_events(
        &self,
        scope: &Scope,
        query: &EventQuery,
        options: &ExportOptions,
    ) -> Result<Export, Error> {
        export_body(
            self.stream_event_pages(scope, query),
            options,
            &CSV_COLUMNS,
            encode,
        )
        .await
    }

    /// Every access event `query` matches inside `scope`, newest first, encoded as `options`
    /// say; checked like [`Services::export_events`].
    pub async fn export_access_events(
        &self,
        scope: &Scope,
        query: &AccessEventQuery,
        options: &ExportOptions,
    ) -> Result<Export, Error> {
        export_body(
            self.stream_access_event_pages(scope, query)?,
            options,
            &ACCESS_CSV_COLUMNS,
            encode_access,
        )
        .await
    }
}
