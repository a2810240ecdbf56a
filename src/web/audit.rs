//! The audit log for admins: every mutating API call and dashboard form, newest first.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;

use super::pages::{error_page, layout, page, service_error};
use super::session::Viewer;
use crate::http::ApiState;
use crate::service::audit::AuditQuery;
use crate::service::page::Cursor;

#[derive(Deserialize)]
pub struct ShowQuery {
    cursor: Option<String>,
}

pub async fn show(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(query): Query<ShowQuery>,
) -> Response {
    if !viewer.may_read_audit() {
        return error_page(
            Some(&viewer),
            StatusCode::FORBIDDEN,
            "Not available to your role",
            "The audit log is for admin tokens without a project scope.",
        );
    }
    let list = state
        .services
        .list_audit(AuditQuery {
            cursor: query.cursor.filter(|c| !c.is_empty()).map(Cursor::from),
            ..AuditQuery::default()
        })
        .await;
    let list = match list {
        Ok(list) => list,
        Err(err) => return service_error(&viewer, err),
    };
    page(
        "audit.html",
        StatusCode::OK,
        context! { ..layout(Some(&viewer), "audit", "Audit log"), ..context! {
            entries => list.items,
            next => list.next_cursor.map(|c| c.as_str().to_owned()),
        }},
    )
}
