//! Period reports of a project or an integration: events, users and standing violations per
//! policy per day (UTC days), the top users by violations, the open issues, and the sync
//! health of each integration with its gaps (the windows of failed sync and backfill jobs in
//! the period, merged where they touch). As JSON ([`Report`]), CSV ([`report_csv`]) and a
//! self-contained HTML page whose SVG charts are drawn here ([`report_html`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use logwarden_entities::issue::IssueStatus;
use logwarden_entities::{event, integration, issue, job, project, violation};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};

use crate::service::scope::Scope;
use crate::service::{Error, Services};

/// The longest period a report covers.
pub const MAX_DAYS: i64 = 366;
/// Users in the top-users table.
pub const TOP_USERS: u64 = 10;
/// Open issues listed (all are counted).
pub const OPEN_ISSUES_LISTED: u64 = 100;
/// Failed job windows read per report.
const GAP_JOBS: u64 = 1000;

/// The encoding of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    #[default]
    Json,
    Csv,
    Html,
}

/// What to report on: exactly one of `project_id` and `integration_id`, and the half-open
/// period `from <= t < to` (at most 366 days).
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    pub project_id: Option<i64>,
    pub integration_id: Option<i64>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// `json` (the default), `csv` or `html`.
    #[param(inline)]
    pub format: Option<ReportFormat>,
}

/// What a report is about.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportSubject {
    /// `project` or `integration`.
    pub kind: String,
    pub id: i64,
    pub name: String,
}

/// One UTC day of the period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub events: u64,
    /// Distinct users with an event that day.
    pub users: u64,
    /// Standing violations that day, per policy.
    pub violations: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportTotals {
    pub events: u64,
    /// Distinct users over the period.
    pub users: u64,
    pub violations: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TopUser {
    pub user_id: String,
    pub user_email: String,
    pub violations: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OpenIssue {
    pub id: i64,
    pub integration_id: i64,
    pub user_email: String,
    pub policy: String,
    pub severity: String,
    pub alert_count: i64,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OpenIssues {
    /// Every open issue of the subject (not only of the period).
    pub count: u64,
    /// The most recently seen, at most 100.
    pub items: Vec<OpenIssue>,
}

/// A stretch of time a job failed to ingest.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SyncGap {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Failed jobs whose windows make up the gap.
    pub failed_jobs: u64,
    pub last_error_class: Option<String>,
}

/// Sync health of one integration.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SyncHealth {
    pub integration_id: i64,
    pub name: String,
    /// `active`, `paused` or `deleted`.
    pub status: String,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub last_sync_succeeded_at: Option<DateTime<Utc>>,
    /// Everything before it has been ingested.
    pub sync_watermark: Option<DateTime<Utc>>,
    /// Consecutive failed syncs.
    pub sync_failures: i32,
    pub last_error_class: Option<String>,
    /// Failed job windows overlapping the period, merged, oldest first.
    pub gaps: Vec<SyncGap>,
}

/// A period report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub subject: ReportSubject,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    /// Every policy with a violation in the period, sorted.
    pub policies: Vec<String>,
    pub totals: ReportTotals,
    /// Every UTC day the period touches, oldest first.
    pub days: Vec<ReportDay>,
    pub top_users: Vec<TopUser>,
    pub open_issues: OpenIssues,
    pub sync: Vec<SyncHealth>,
}

/// The UTC day of a time column, as `YYYY-MM-DD`.
fn day_of(backend: DatabaseBackend, table: &str) -> Expr {
    Expr::cust(match backend {
        DatabaseBackend::Postgres => {
            format!("to_char(\"{table}\".\"event_time\" AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
        }
        _ => format!("substr(CAST(\"{table}\".\"event_time\" AS TEXT), 1, 10)"),
    })
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl ReportQuery {
    fn check(&self) -> Result<(), Error> {
        match (self.project_id, self.integration_id) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(Error::invalid(
                    "project_id",
                    "give exactly one of project_id and integration_id",
                ))
            }
            _ => {}
        }
        if self.from >= self.to {
            return Err(Error::invalid(
                "to",
                format!(
                    "{} must be later than from {}",
                    self.to.to_rfc3339(),
                    self.from.to_rfc3339()
                ),
            ));
        }
        if self.to - self.from > TimeDelta::days(MAX_DAYS) {
            return Err(Error::invalid(
                "to",
                format!("the period is longer than {MAX_DAYS} days"),
            ));
        }
        Ok(())
    }
}

impl Services {
    /// The report `query` asks for, if its project or integration is inside `scope` (a
    /// `not_found` worded as for one that does not exist otherwise).
    pub async fn period_report(&self, scope: &Scope, query: &ReportQuery) -> Result<Report, Error> {
        query.check()?;
        let (subject, integrations) = match (query.project_id, query.integration_id) {
            (Some(id), _) => {
                let name = project::Entity::find_by_id(id)
                    .one(&self.db)
                    .await?
                    .filter(|_| scope.allows(id))
                    .ok_or_else(|| Error::not_found("project", id))?
                    .name;
                let rows = integration::Entity::find()
                    .filter(integration::Column::ProjectId.eq(id))
                    .order_by_asc(integration::Column::Id)
                    .all(&self.db)
                    .await?;
                (
                    ReportSubject {
                        kind: "project".to_owned(),
                        id,
                        name,
                    },
                    rows,
                )
            }
            (None, Some(id)) => {
                self.integration_in(scope, id).await?;
                let rows = integration::Entity::find_by_id(id).all(&self.db).await?;
                let name = rows.first().map(|row| row.name.clone()).unwrap_or_default();
                (
                    ReportSubject {
                        kind: "integration".to_owned(),
                        id,
                        name,
                    },
                    rows,
                )
            }
            (None, None) => unreachable!("checked"),
        };
        let ids: Vec<i64> = integrations.iter().map(|row| row.id).collect();
        let backend = self.db.get_database_backend();
        let (from, to) = (query.from, query.to);

        let per_day: Vec<(String, i64, i64)> = event::Entity::find()
            .select_only()
            .column_as(day_of(backend, "events"), "day")
            .column_as(Expr::cust("COUNT(*)"), "events")
            .column_as(
                Expr::cust("COUNT(DISTINCT \"events\".\"user_id\")"),
                "users",
            )
            .filter(event::Column::IntegrationId.is_in(ids.clone()))
            .filter(event::Column::EventTime.gte(from))
            .filter(event::Column::EventTime.lt(to))
            .group_by(day_of(backend, "events"))
            .into_tuple()
            .all(&self.db)
            .await?;
        let users: Option<i64> = event::Entity::find()
            .select_only()
            .column_as(
                Expr::cust("COUNT(DISTINCT \"events\".\"user_id\")"),
                "users",
            )
            .filter(event::Column::IntegrationId.is_in(ids.clone()))
            .filter(event::Column::EventTime.gte(from))
            .filter(event::Column::EventTime.lt(to))
            .into_tuple()
            .one(&self.db)
            .await?;
        let standing = || {
            violation::Entity::find()
                .select_only()
                .filter(violation::Column::IntegrationId.is_in(ids.clone()))
                .filter(violation::Column::EventTime.gte(from))
                .filter(violation::Column::EventTime.lt(to))
                .filter(violation::Column::SupersededAt.is_null())
        };
        let violations: Vec<(String, String, i64)> = standing()
            .column_as(day_of(backend, "violations"), "day")
            .column(violation::Column::Policy)
            .column_as(Expr::cust("COUNT(*)"), "count")
            .group_by(day_of(backend, "violations"))
            .group_by(violation::Column::Policy)
            .into_tuple()
            .all(&self.db)
            .await?;
        let top: Vec<(String, i64)> = standing()
            .column(violation::Column::UserId)
            .column_as(Expr::cust("COUNT(*)"), "count")
            .group_by(violation::Column::UserId)
            .order_by_desc(Expr::cust("COUNT(*)"))
            .order_by_asc(violation::Column::UserId)
            .limit(TOP_USERS)
            .into_tuple()
            .all(&self.db)
            .await?;
        let emails: HashMap<String, String> = event::Entity::find()
            .select_only()
            .column(event::Column::UserId)
            .column_as(event::Column::UserEmail.max(), "user_email")
            .filter(event::Column::IntegrationId.is_in(ids.clone()))
            .filter(event::Column::UserId.is_in(top.iter().map(|(user, _)| user.clone())))
            .group_by(event::Column::UserId)
            .into_tuple::<(String, String)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();

        let open = || {
            issue::Entity::find()
                .filter(issue::Column::IntegrationId.is_in(ids.clone()))
                .filter(issue::Column::Status.eq(IssueStatus::Open))
        };
        let open_count = open().count(&self.db).await?;
        let open_items = open()
            .order_by_desc(issue::Column::LastSeenAt)
            .order_by_desc(issue::Column::Id)
            .limit(OPEN_ISSUES_LISTED)
            .all(&self.db)
            .await?;

        let failed = job::Entity::find()
            .filter(job::Column::IntegrationId.is_in(ids.clone()))
            .filter(job::Column::Status.eq(job::JobStatus::Failed))
            .filter(job::Column::WindowEnd.gt(from))
            .filter(job::Column::WindowStart.lt(to))
            .order_by_asc(job::Column::IntegrationId)
            .order_by_asc(job::Column::WindowStart)
            .limit(GAP_JOBS)
            .all(&self.db)
            .await?;
        let mut gaps: HashMap<i64, Vec<SyncGap>> = HashMap::new();
        for row in failed {
            let list = gaps.entry(row.integration_id).or_default();
            match list.last_mut() {
                Some(gap) if row.window_start <= gap.end => {
                    gap.end = gap.end.max(row.window_end);
                    gap.failed_jobs += 1;
                    if row.last_error_class.is_some() {
                        gap.last_error_class = row.last_error_class;
                    }
                }
                _ => list.push(SyncGap {
                    start: row.window_start,
                    end: row.window_end,
                    failed_jobs: 1,
                    last_error_class: row.last_error_class,
                }),
            }
        }

        let mut days: BTreeMap<String, ReportDay> = BTreeMap::new();
        let mut day = from.date_naive();
        let last = (to - TimeDelta::microseconds(1)).date_naive();
        while day <= last {
            let key = day.format("%Y-%m-%d").to_string();
            days.insert(
                key.clone(),
                ReportDay {
                    day: key,
                    events: 0,
                    users: 0,
                    violations: BTreeMap::new(),
                },
            );
            day = day.succ_opt().unwrap_or(NaiveDate::MAX);
            if day == NaiveDate::MAX {
                break;
            }
        }
        let mut totals = ReportTotals {
            events: 0,
            users: count(users.unwrap_or(0)),
            violations: 0,
        };
        for (day, events, users) in per_day {
            totals.events += count(events);
            if let Some(row) = days.get_mut(&day) {
                row.events = count(events);
                row.users = count(users);
            }
        }
        let mut policies = BTreeSet::new();
        for (day, policy, n) in violations {
            totals.violations += count(n);
            policies.insert(policy.clone());
            if let Some(row) = days.get_mut(&day) {
                *row.violations.entry(policy).or_default() += count(n);
            }
        }
        Ok(Report {
            subject,
            from,
            to,
            generated_at: Utc::now(),
            policies: policies.into_iter().collect(),
            totals,
            days: days.into_values().collect(),
            top_users: top
                .into_iter()
                .map(|(user_id, n)| TopUser {
                    user_email: emails.get(&user_id).cloned().unwrap_or_default(),
                    user_id,
                    violations: count(n),
                })
                .collect(),
            open_issues: OpenIssues {
                count: open_count,
                items: open_items
                    .into_iter()
                    .map(|row| OpenIssue {
                        id: row.id,
                        integration_id: row.integration_id,
                        user_email: row.user_email,
                        policy: row.policy,
                        severity: row.severity,
                        alert_count: row.alert_count,
                        first_seen_at: row.first_seen_at,
                        last_seen_at: row.last_seen_at,
                    })
                    .collect(),
            },
            sync: integrations
                .into_iter()
                .map(|row| SyncHealth {
                    gaps: gaps.remove(&row.id).unwrap_or_default(),
                    integration_id: row.id,
                    name: row.name,
                    status: row.status.to_string(),
                    last_synced_at: row.last_synced_at,
                    last_sync_succeeded_at: row.last_sync_succeeded_at,
                    sync_watermark: row.sync_watermark,
                    sync_failures: row.sync_failures,
                    last_error_class: row.last_error_class,
                })
                .collect(),
        })
    }
}

/// The report as CSV in long form, one value per row: `section,day,subject,metric,value`.
/// Sections: `total` (events, users, violations), `daily` (per day: events, users, and
/// `violations:POLICY`), `top_user` (subject: the email, metric `violations`), `open_issue`
/// (subject: `#ID POLICY EMAIL`, metric `alerts`), `sync` (subject: the integration; metrics
/// `sync_failures`, `gap_jobs` per gap with the gap's start as its day).
pub fn report_csv(report: &Report) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut row = |section: &str, day: &str, subject: &str, metric: &str, value: String| {
        // Writing to memory cannot fail.
        let _ = writer.write_record([section, day, subject, metric, &value]);
    };
    row("section", "day", "subject", "metric", "value".to_owned());
    let name = &report.subject.name;
    row(
        "total",
        "",
        name,
        "events",
        report.totals.events.to_string(),
    );
    row("total", "", name, "users", report.totals.users.to_string());
    row(
        "total",
        "",
        name,
        "violations",
        report.totals.violations.to_string(),
    );
    for day in &report.days {
        row("daily", &day.day, name, "events", day.events.to_string());
        row("daily", &day.day, name, "users", day.users.to_string());
        for policy in &report.policies {
            let n = day.violations.get(policy).copied().unwrap_or(0);
            row(
                "daily",
                &day.day,
                name,
                &format!("violations:{policy}"),
                n.to_string(),
            );
        }
    }
    for user in &report.top_users {
        row(
            "top_user",
            "",
            &user.user_email,
            "violations",
            user.violations.to_string(),
        );
    }
    row(
        "open_issues",
        "",
        name,
        "count",
        report.open_issues.count.to_string(),
    );
    for issue in &report.open_issues.items {
        row(
            "open_issue",
            &issue.last_seen_at.format("%Y-%m-%d").to_string(),
            &format!("#{} {} {}", issue.id, issue.policy, issue.user_email),
            "alerts",
            issue.alert_count.to_string(),
        );
    }
    for sync in &report.sync {
        row(
            "sync",
            "",
            &sync.name,
            "sync_failures",
            sync.sync_failures.to_string(),
        );
        for gap in &sync.gaps {
            row(
                "sync",
                &gap.start.to_rfc3339(),
                &sync.name,
                "gap_jobs",
                gap.failed_jobs.to_string(),
            );
        }
    }
    writer.into_inner().unwrap_or_default()
}

/// `text` escaped for HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Colours of the policies in the stacked chart, in turn.
const PALETTE: [&str; 8] = [
    "#c0392b", "#2980b9", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#f1c40f",
];

const CHART_WIDTH: f64 = 720.0;
const CHART_HEIGHT: f64 = 200.0;
const CHART_LEFT: f64 = 48.0;
const CHART_BOTTOM: f64 = 24.0;

/// A bar chart of one or more stacked series per day, as inline SVG.
fn bar_chart(title: &str, days: &[ReportDay], series: &[(String, &str, Vec<u64>)]) -> String {
    let max = (0..days.len())
        .map(|i| series.iter().map(|(_, _, values)| values[i]).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_width = CHART_WIDTH - CHART_LEFT - 8.0;
    let plot_height = CHART_HEIGHT - CHART_BOTTOM - 8.0;
    let slot = plot_width / days.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{title}\" \
         width=\"{CHART_WIDTH}\" height=\"{CHART_HEIGHT}\" viewBox=\"0 0 {CHART_WIDTH} {CHART_HEIGHT}\">\
         <title>{title}</title>\
         <line x1=\"{CHART_LEFT}\" y1=\"8\" x2=\"{CHART_LEFT}\" y2=\"{base}\" stroke=\"#999\"/>\
         <line x1=\"{CHART_LEFT}\" y1=\"{base}\" x2=\"{right}\" y2=\"{base}\" stroke=\"#999\"/>\
         <text x=\"{label_x}\" y=\"14\" font-size=\"10\" text-anchor=\"end\">{max}</text>\
         <text x=\"{label_x}\" y=\"{base}\" font-size=\"10\" text-anchor=\"end\">0</text>",
        title = escape(title),
        base = 8.0 + plot_height,
        right = CHART_LEFT + plot_width,
        label_x = CHART_LEFT - 4.0,
    );
    for (i, day) in days.iter().enumerate() {
        let x = CHART_LEFT + i as f64 * slot + (slot - bar) / 2.0;
        let mut top = 8.0 + plot_height;
        for (name, colour, values) in series {
            let value = values[i];
            if value == 0 {
                continue;
            }
            let height = value as f64 / max as f64 * plot_height;
            top -= height;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{bar:.1}\" height=\"{height:.1}\" fill=\"{colour}\">\
                 <title>{} {}: {value}</title></rect>",
                escape(&day.day),
                escape(name),
            );
        }
        let every = days.len().div_ceil(12).max(1);
        if i % every == 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
                x + bar / 2.0,
                CHART_HEIGHT - 8.0,
                escape(day.day.get(5..).unwrap_or(&day.day)),
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The report as one self-contained HTML page: inline CSS, SVG charts drawn here, no
/// script and nothing loaded from elsewhere.
pub fn report_html(report: &Report) -> String {
    let title = format!(
        "Report: {} {} ({} to {})",
        report.subject.kind,
        report.subject.name,
        report.from.format("%Y-%m-%d %H:%M UTC"),
        report.to.format("%Y-%m-%d %H:%M UTC"),
    );
    let events = bar_chart(
        "Events per day",
        &report.days,
        &[(
            "events".to_owned(),
            "#2c3e50",
            report.days.iter().map(|day| day.events).collect(),
        )],
    );
    let users = bar_chart(
        "Users per day",
        &report.days,
        &[(
            "users".to_owned(),
            "#2980b9",
            report.days.iter().map(|day| day.users).collect(),
        )],
    );
    let series: Vec<(String, &str, Vec<u64>)> = report
        .policies
        .iter()
        .enumerate()
        .map(|(i, policy)| {
            (
                policy.clone(),
                PALETTE[i % PALETTE.len()],
                report
                    .days
                    .iter()
                    .map(|day| day.violations.get(policy).copied().unwrap_or(0))
                    .collect(),
            )
        })
        .collect();
    let violations = bar_chart("Violations per policy per day", &report.days, &series);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}\
         table{{border-collapse:collapse;margin:0.5rem 0 1.5rem}}\
         th,td{{border:1px solid #ccc;padding:0.25rem 0.5rem;text-align:left}}\
         td.n{{text-align:right}} .legend span{{display:inline-block;margin-right:1rem}}\
         .swatch{{display:inline-block;width:0.8rem;height:0.8rem;margin-right:0.3rem;vertical-align:middle}}\
         </style></head><body><h1>{title}</h1>\
         <p>Generated {generated}. Days are UTC.</p>\
         <h2>Totals</h2><table><tr><th>Events</th><th>Users</th><th>Violations</th><th>Open issues</th></tr>\
         <tr><td class=\"n\">{events_total}</td><td class=\"n\">{users_total}</td>\
         <td class=\"n\">{violations_total}</td><td class=\"n\">{open}</td></tr></table>\
         <h2>Events per day</h2>{events}<h2>Users per day</h2>{users}\
         <h2>Violations per policy per day</h2>{violations}<p class=\"legend\">",
        title = escape(&title),
        generated = report.generated_at.format("%Y-%m-%d %H:%M:%S UTC"),
        events_total = report.totals.events,
        users_total = report.totals.users,
        violations_total = report.totals.violations,
        open = report.open_issues.count,
    );
    for (policy, colour, _) in &series {
        let _ = write!(
            html,
            "<span><span class=\"swatch\" style=\"background:{colour}\"></span>{}</span>",
            escape(policy)
        );
    }
    html.push_str("</p><h2>Per day</h2><table><tr><th>Day</th><th>Events</th><th>Users</th>");
    for policy in &report.policies {
        let _ = write!(html, "<th>{}</th>", escape(policy));
    }
    html.push_str("</tr>");
    for day in &report.days {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
            escape(&day.day),
            day.events,
            day.users
        );
        for policy in &report.policies {
            let _ = write!(
                html,
                "<td class=\"n\">{}</td>",
                day.violations.get(policy).copied().unwrap_or(0)
            );
        }
        html.push_str("</tr>");
    }
    html.push_str(
        "</table><h2>Top users by violations</h2><table><tr><th>User</th><th>Violations</th></tr>",
    );
    for user in &report.top_users {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
            escape(&user.user_email),
            user.violations
        );
    }
    let _ = write!(
        html,
        "</table><h2>Open issues ({})</h2><table><tr><th>Issue</th><th>User</th><th>Policy</th>\
         <th>Severity</th><th>Alerts</th><th>Last seen</th></tr>",
        report.open_issues.count
    );
    for issue in &report.open_issues.items {
        let _ = write!(
            html,
            "<tr><td>#{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            issue.id,
            escape(&issue.user_email),
            escape(&issue.policy),
            escape(&issue.severity),
            issue.alert_count,
            issue.last_seen_at.to_rfc3339(),
        );
    }
    html.push_str(
        "</table><h2>Sync health</h2><table><tr><th>Integration</th><th>Status</th>\
         <th>Last synced</th><th>Last success</th><th>Watermark</th><th>Failures</th><th>Gaps</th></tr>",
    );
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    for sync in &report.sync {
        let gaps = sync
            .gaps
            .iter()
            .map(|gap| {
                format!(
                    "{} to {} ({} failed jobs)",
                    gap.start.to_rfc3339(),
                    gap.end.to_rfc3339(),
                    gap.failed_jobs
                )
            })
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&sync.name),
            escape(&sync.status),
            time(sync.last_synced_at),
            time(sync.last_sync_succeeded_at),
            time(sync.sync_watermark),
            sync.sync_failures,
            if gaps.is_empty() { "none".to_owned() } else { gaps },
        );
    }
    html.push_str("</table></body></html>");
    html
}
