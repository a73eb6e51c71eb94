//! The router: the page's files, the JSON API and `/healthz`; any other
//! path is a 404.

use super::{api, assets, guard, Shared};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// Every route, behind the guard.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/runs", get(api::runs))
        .route("/api/runs/{run_id}", get(api::run))
        .route("/api/pipelines", get(api::pipelines))
        .route("/api/pipelines/{name}/trigger", post(api::trigger))
        .route("/api/schedules", get(api::schedules))
        .fallback(asset)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            guard::guard,
        ))
        .with_state(shared)
}

/// An embedded file when the path is exactly one of the table's, else 404.
async fn asset(method: axum::http::Method, uri: Uri) -> Response {
    match assets::find(uri.path()) {
        Some(a) if method == axum::http::Method::GET || method == axum::http::Method::HEAD => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            a.bytes,
        )
            .into_response(),
        Some(_) => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        None => api::error(StatusCode::NOT_FOUND, "not found"),
    }
}
