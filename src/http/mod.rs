//! The HTTP API of `logwarden serve`: JSON under `/api/v1`, `/healthz`, `/readyz`, `/metrics`
//! and the OpenAPI document. Each resource module owns its `router()`; handlers parse their
//! input with the extractors of [`extract`], call one service function and return its view.

pub mod access;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod backfills;
pub mod datasets;
pub mod error;
pub mod events;
pub mod export;
pub mod extract;
pub mod health;
pub mod host;
pub mod ingest;
pub mod integrations;
pub mod issues;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod policies;
pub mod reports;
pub mod request;
pub mod reveal;
pub mod sessions;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tokio::net::TcpListener;

use crate::app::App;
use crate::infra::metrics::Metrics;
use crate::infra::queue::Transport;
use crate::service::base_url::BaseUrlRules;
use crate::service::Services;
use error::ApiError;

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    pub services: Services,
    pub transport: Transport,
    pub metrics: Arc<Metrics>,
}

impl ApiState {
    /// The state of a server on `app`, checking integrations' base URLs against the
    /// `allow_loopback_http` and `allow_private_networks` settings.
    pub fn new(app: &App) -> Self {
        let settings = &app.services.settings;
        let rules = BaseUrlRules::Checked {
            allow_loopback_http: settings.allow_loopback_http,
            allow_private_networks: settings.allow_private_networks,
        };
        Self {
            services: app.services.clone().with_base_url_rules(rules),
            transport: app.transport.clone(),
            metrics: crate::infra::metrics::global(),
        }
    }
}

/// Every route, with the request layer, the body limit and JSON errors for unknown routes
/// and methods.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(openapi::router())
        .merge(integrations::router())
        .merge(ingest::router())
        .merge(backfills::router())
        .merge(jobs::router())
        .merge(policies::router())
        .merge(audit::router())
        .merge(events::router())
        .merge(sessions::router())
        .merge(alerts::router())
        .merge(issues::router())
        .merge(reveal::router())
        .merge(access::router())
        .merge(export::router())
        .merge(datasets::router())
        .merge(reports::router())
        .merge(crate::web::router(state.clone()))
        .route_layer(axum::middleware::from_fn(request::record_route))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .fallback(|| async { ApiError::NotFound("no such route".to_owned()) })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request::around,
        ))
        .with_state(state)
}

/// Binds `listen`, e.g. `127.0.0.1:8080` (port 0 picks a free port).
pub async fn bind(listen: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .map_err(|err| std::io::Error::new(err.kind(), format!("cannot listen on {listen}: {err}")))
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight
/// finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
