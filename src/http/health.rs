//! `/healthz` (the process answers) and `/readyz` (its database, and Redis when configured,
//! answer too), for load balancers and orchestrators; no token needed.

use axum::http::StatusCode;
use axum::routing::get;
use axum::{extract::State, Json, Router};
use sea_orm::ConnectionTrait;
use serde::Serialize;

use super::ApiState;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Whether the process, and each dependency, answered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthReport {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// `ok` or `unavailable`; absent from `/healthz`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
    /// `ok`, `unavailable`, or absent when Redis is not configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<&'static str>,
}

fn word(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "unavailable"
    }
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = HealthReport)))]
pub async fn healthz() -> Json<HealthReport> {
    Json(HealthReport {
        status: "ok",
        database: None,
        redis: None,
    })
}

/// The process and its database (and Redis, when configured) answer.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = HealthReport), (status = 503, body = HealthReport)))]
pub async fn readyz(State(state): State<ApiState>) -> (StatusCode, Json<HealthReport>) {
    let database = state
        .services
        .db
        .execute_unprepared("SELECT 1")
        .await
        .is_ok();
    let redis = match state.transport.redis() {
        None => None,
        Some(redis) => {
            let mut conn = redis.conn.clone();
            Some(
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok(),
            )
        }
    };
    let ready = database && redis.unwrap_or(true);
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(HealthReport {
            status: word(ready),
            database: Some(word(database)),
            redis: redis.map(word),
        }),
    )
}
