//! Prometheus metrics on `/debug/metrics/prometheus` (Kubo's path).

use super::Ctx;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Prometheus text exposition of the node's counters.
pub(super) async fn metrics(State(ctx): State<Ctx>) -> Response {
    use prometheus_client::registry::Registry;
    let mut registry = Registry::with_prefix("crust");
    if let Some(net) = &ctx.network {
        crust_net::metrics::register(&mut registry, &net.host, &net.exchange).await;
    }
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
