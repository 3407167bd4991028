//! Prometheus metrics on `/debug/metrics/prometheus` (Kubo's path).

use super::Ctx;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Prometheus text exposition of the node's counters.
pub(super) async fn metrics(State(ctx): State<Ctx>) -> Response {
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;
    use prometheus_client::registry::Registry;
    let mut registry = Registry::with_prefix("crust");
    if let Some(net) = &ctx.network {
        let stats = net.exchange.stats();
        let counters = [
            (
                "bitswap_blocks_received",
                "Wanted blocks received",
                stats.blocks_received,
            ),
            (
                "bitswap_data_received_bytes",
                "Wanted block bytes received",
                stats.data_received,
            ),
            ("bitswap_blocks_sent", "Blocks sent", stats.blocks_sent),
            (
                "bitswap_data_sent_bytes",
                "Block bytes sent",
                stats.data_sent,
            ),
        ];
        for (name, help, value) in counters {
            registry.register(name, help, ConstCounter::new(value));
        }
        registry.register(
            "bitswap_wantlist_length",
            "Blocks this node is waiting for",
            ConstGauge::new(stats.wantlist.len() as i64),
        );
        let queue = net.exchange.serve_queue();
        let ledger = net.exchange.ledger();
        let gauges = [
            (
                "bitswap_server_in_flight_bytes",
                "Block bytes the server has in flight to all peers",
                queue.in_flight(),
            ),
            (
                "bitswap_server_waiting_peers",
                "Sends waiting for the server's shared budget",
                queue.waiting(),
            ),
            (
                "bitswap_replica_holders",
                "Peers credited as replica holders",
                ledger.replica_holders().len(),
            ),
        ];
        for (name, help, value) in gauges {
            registry.register(name, help, ConstGauge::new(value as i64));
        }
        let peers = net.host.peers().await.map(|p| p.len()).unwrap_or(0);
        registry.register(
            "swarm_peers",
            "Connected libp2p peers",
            ConstGauge::new(peers as i64),
        );
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
