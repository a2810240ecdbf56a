//! AI Investigation → Reports: the projects and log sources a viewer may report on, each
//! with its last 7 and 30 UTC days, and the period report of one over any period. The report
//! is the API's own (`GET /api/v1/reports`, the same service and encoders): shown as its
//! server-rendered HTML page with SVG charts in a sandboxed frame, and downloadable as JSON,
//! CSV and HTML. For investigators
//! and admins, inside their project scope, as in the API.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use minijinja::context;
use serde::Deserialize;

use super::integration::picked;
use super::pages::{layout, page, service_error};
use super::session::Viewer;
use crate::http::ApiState;
use crate::service::integrations::IntegrationQuery;
use crate::service::investigation::reports::{report_csv, report_html, ReportFormat, ReportQuery};
use crate::service::page::Limit;
use crate::service::tokens::Role;

/// The report form as the query string gives it.
#[derive(Debug, Default, Deserialize)]
pub struct ReportForm {
    /// `project:ID` or `integration:ID`.
    #[serde(default)]
    subject: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    from_utc: String,
    #[serde(default)]
    to_utc: String,
    /// `json`, `csv` or `html`, for a download.
    #[serde(default)]
    format: String,
}

/// The service query of the form, or the error naming the field that is wrong.
fn query_of(form: &ReportForm) -> Result<ReportQuery, crate::service::Error> {
    let subject = |kind: &str| {
        form.subject
            .strip_prefix(kind)
            .and_then(|id| id.strip_prefix(':'))
            .and_then(|id| id.parse::<i64>().ok())
    };
    let (project_id, integration_id) = (subject("project"), subject("integration"));
    if project_id.is_none() && integration_id.is_none() {
        return Err(crate::service::Error::invalid(
            "subject",
            "choose a project or a log source to report on",
        ));
    }
    let format = match form.format.as_str() {
        "" | "json" => ReportFormat::Json,
        "csv" => ReportFormat::Csv,
        "html" => ReportFormat::Html,
        other => {
            return Err(crate::service::Error::invalid(
                "format",
                format!("{other:?} is not one of json, csv, html"),
            ))
        }
    };
    Ok(ReportQuery {
        project_id,
        integration_id,
        from: picked("from", &form.from, &form.from_utc)?,
        to: picked("to", &form.to, &form.to_utc)?,
        format: Some(format),
    })
}

/// The query string of the report of `subject` over `from..to` (no format).
fn report_link(subject: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("subject", subject)
        .append_pair("from_utc", &from.to_rfc3339())
        .append_pair("to_utc", &to.to_rfc3339())
        .finish()
}

/// The last `days` whole UTC days and today.
fn last_days(days: i64) -> (DateTime<Utc>, DateTime<Utc>) {
    let tomorrow = (Utc::now().date_naive() + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    (tomorrow - Duration::days(days), tomorrow)
}

pub async fn show(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(form): Query<ReportForm>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    let scope = &viewer.caller.scope;
    let integrations = match state
        .services
        .list_integrations(IntegrationQuery {
            scope: scope.clone(),
            limit: Limit::LARGEST,
            ..IntegrationQuery::default()
        })
        .await
    {
        Ok(page) => page.items,
        Err(err) => return service_error(&viewer, err),
    };
    let (week, month) = (last_days(7), last_days(30));
    let subject = |key: String, kind: &str, name: &str, detail: String| {
        context! {
            key => key.clone(), kind => kind, name => name, detail => detail,
            week => report_link(&key, week.0, week.1),
            month => report_link(&key, month.0, month.1),
        }
    };
    let mut projects = BTreeMap::new();
    for i in &integrations {
        projects
            .entry((i.project.clone(), i.project_id))
            .or_insert_with(Vec::new)
            .push(i.name.clone());
    }
    let subjects: Vec<minijinja::Value> = projects
        .iter()
        .map(|((name, id), sources)| {
            subject(
                format!("project:{id}"),
                "project",
                name,
                format!("log sources: {}", sources.join(", ")),
            )
        })
        .chain(integrations.iter().map(|i| {
            subject(
                format!("integration:{}", i.id),
                "log source",
                &i.name,
                format!("project {}", i.project),
            )
        }))
        .collect();

    let asked = !form.subject.is_empty();
    let (report, error) = if asked {
        match query_of(&form) {
            Ok(query) => match state.services.period_report(scope, &query).await {
                Ok(report) => (Some(report), None),
                Err(err) if matches!(err.code(), "invalid" | "not_found") => {
                    (None, Some(err.to_string()))
                }
                Err(err) => return service_error(&viewer, err),
            },
            Err(err) => (None, Some(err.to_string())),
        }
    } else {
        (None, None)
    };
    let link = report
        .as_ref()
        .map(|r| report_link(&form.subject, r.from, r.to));
    page(
        "reports.html",
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        context! { ..layout(Some(&viewer), "reports", "Reports"), ..context! {
            subjects => subjects,
            form => context! { subject => form.subject, from => form.from, to => form.to },
            report => report,
            link => link,
            error => error,
        }},
    )
}

/// The report in the form's format, encoded by the same functions as the API's answer, or
/// the page that says what is wrong.
async fn encoded(state: &ApiState, viewer: &Viewer, form: &ReportForm) -> Response {
    let report = match query_of(form) {
        Ok(query) => state
            .services
            .period_report(&viewer.caller.scope, &query)
            .await
            .map(|report| (query.format.unwrap_or_default(), report)),
        Err(err) => Err(err),
    };
    match report {
        Ok((ReportFormat::Json, report)) => Json(report).into_response(),
        Ok((ReportFormat::Csv, report)) => {
            ([(header::CONTENT_TYPE, "text/csv")], report_csv(&report)).into_response()
        }
        Ok((ReportFormat::Html, report)) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            report_html(&report),
        )
            .into_response(),
        Err(err) => service_error(viewer, err),
    }
}

/// A download of the report: JSON, CSV or HTML, as the API answers it, as an attachment.
pub async fn file(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(form): Query<ReportForm>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    let mut response = encoded(&state, &viewer, &form).await;
    if response.status().is_success() {
        let extension = match form.format.as_str() {
            "" => "json",
            other => other,
        };
        let name = format!(
            "attachment; filename=\"report-{}.{extension}\"",
            form.subject.replace(':', "-")
        );
        if let Ok(value) = HeaderValue::from_str(&name) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, value);
        }
    }
    response
}

/// The report's HTML page, for the frame on the Reports page: shown inline, framed only by
/// this site's own pages, and sandboxed (no script, nothing loaded from elsewhere).
pub async fn frame(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(mut form): Query<ReportForm>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    form.format = "html".to_owned();
    let mut response = encoded(&state, &viewer, &form).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(subject: &str, format: &str) -> ReportForm {
        ReportForm {
            subject: subject.to_owned(),
            from_utc: "2026-04-08T08:00:00Z".to_owned(),
            to_utc: "2026-04-08T18:00:00Z".to_owned(),
            format: format.to_owned(),
            ..ReportForm::default()
        }
    }

    #[test]
    fn a_subject_is_a_project_or_an_integration_by_id() {
        let project = query_of(&form("project:3", "")).unwrap();
        assert_eq!(
            (project.project_id, project.integration_id),
            (Some(3), None)
        );
        let integration = query_of(&form("integration:7", "csv")).unwrap();
        assert_eq!(
            (integration.project_id, integration.integration_id),
            (None, Some(7))
        );
        assert_eq!(integration.format, Some(ReportFormat::Csv));
        for bad in ["", "project:", "team:3", "integration:x"] {
            assert_eq!(
                query_of(&form(bad, "")).unwrap_err().field(),
                Some("subject")
            );
        }
    }

    #[test]
    fn an_unknown_format_names_the_formats() {
        let err = query_of(&form("project:3", "pdf")).unwrap_err();
        assert_eq!(err.field(), Some("format"));
        assert!(err.to_string().contains("json, csv, html"), "{err}");
    }

    #[test]
    fn report_links_carry_the_instants_encoded() {
        let (from, to) = (
            "2026-04-08T08:00:00Z".parse().unwrap(),
            "2026-04-08T18:00:00Z".parse().unwrap(),
        );
        let link = report_link("integration:7", from, to);
        assert_eq!(
            link,
            "subject=integration%3A7&from_utc=2026-04-08T08%3A00%3A00%2B00%3A00&to_utc=2026-04-08T18%3A00%3A00%2B00%3A00"
        );
    }
}
