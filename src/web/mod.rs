//! The web dashboard at `/`: server-rendered pages over the same service functions as the
//! HTTP API. Login takes an API token and keeps it server-side behind a random session id in
//! an HttpOnly, SameSite=Strict cookie; every form carries the session's CSRF token; roles and
//! project scope apply exactly as in the API, because every page authenticates the stored
//! token with the same lookup as a bearer token. Templates and assets are embedded.

mod pages;
mod session;
mod templates;
mod wizard;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::http::ApiState;

/// The dashboard's routes: `/`, `/login`, `/logout`, `/ui/...` and `/assets/...`.
pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", axum::routing::post(pages::logout))
        .route("/ui/sources", get(pages::sources))
        .route("/ui/sources/new", get(wizard::start).post(wizard::step))
        .route("/assets/app.css", get(css))
        .route("/assets/app.js", get(js))
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("assets/app.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("assets/app.js"),
    )
}
