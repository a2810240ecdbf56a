//! AI Investigation → Datasets: the datasets compiled from events searches, newest first,
//! each downloadable as JSONL. The download is the API's own (`GET /api/v1/datasets/{id}/items`,
//! the same streamed body), served to the logged-in viewer. For investigators and admins,
//! inside their project scope, as in the API.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::Deserialize;

use super::alerts::given;
use super::pages::{layout, page, service_error};
use super::session::Viewer;
use crate::http::events::Investigator;
use crate::http::extract::ApiPath;
use crate::http::ApiState;
use crate::service::investigation::datasets::DatasetQuery;
use crate::service::page::Cursor;
use crate::service::tokens::Role;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    cursor: String,
}

pub async fn list(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(query): Query<ListQuery>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    let list = match state
        .services
        .list_datasets(
            &viewer.caller.scope,
            &DatasetQuery {
                cursor: given(&query.cursor).map(Cursor::from),
                ..DatasetQuery::default()
            },
        )
        .await
    {
        Ok(list) => list,
        Err(err) => return service_error(&viewer, err),
    };
    page(
        "datasets.html",
        StatusCode::OK,
        context! { ..layout(Some(&viewer), "datasets", "Datasets"), ..context! {
            datasets => list.items,
            next => list.next_cursor.map(|c| c.as_str().to_owned()),
        }},
    )
}

/// The dataset's items as JSONL, exactly as the API streams them.
pub async fn download(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    let Ok(id) = id.parse::<i64>() else {
        return service_error(&viewer, crate::service::Error::not_found("dataset", id));
    };
    // A missing dataset is a page that says so, not the API's JSON error.
    if let Err(err) = state.services.dataset(&viewer.caller.scope, id).await {
        return service_error(&viewer, err);
    }
    match crate::http::datasets::items(
        State(state),
        Investigator(viewer.caller.clone()),
        ApiPath(id),
    )
    .await
    {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}
