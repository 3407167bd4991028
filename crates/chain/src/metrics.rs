//! A validator's own Prometheus metrics, registered in the Commonware runtime beside the
//! runtime's, the p2p network's and consensus's own (all served together on `--metrics`, see
//! [`crate::service`]).
//!
//! Names (each prefixed by the runtime with the node's context label, `crust_` here):
//! `chain_finalized_height`, `chain_finality_latency_seconds` (from a block's proposal, its
//! header timestamp, to this node finalizing it), `chain_mempool_transactions`,
//! `chain_mempool_bytes`, `chain_rpc_requests_total` and `chain_rpc_latency_seconds` by method, `chain_rpc_errors_total`.

use commonware_runtime::telemetry::metrics::{
    Counter, Gauge, Histogram, MetricsExt as _, Registered, raw,
};
use std::sync::Arc;

/// Finality latency buckets (seconds): a 250 ms chain on loopback to a wide-area network.
const LATENCY_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
];

/// RPC latency buckets (seconds).
const RPC_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The RPC method label (a known method name, or `unknown`: a client cannot make labels grow).
#[derive(
    Clone, Debug, Hash, PartialEq, Eq, commonware_runtime::telemetry::metrics::EncodeLabelSet,
)]
pub struct MethodLabel {
    /// The method.
    pub method: String,
}

/// The chain's metrics.
#[derive(Clone)]
pub struct ChainMetrics {
    finalized_height: Gauge,
    finality_latency: Histogram,
    mempool_txs: Gauge,
    mempool_bytes: Gauge,
    rpc_requests: Arc<Registered<raw::Family<MethodLabel, raw::Counter>>>,
    rpc_latency: Arc<Registered<raw::Family<MethodLabel, raw::Histogram>>>,
    rpc_errors: Counter,
}

impl ChainMetrics {
    /// Registers the metrics in `ctx`'s runtime.
    pub fn register(ctx: &impl commonware_runtime::Metrics) -> Self {
        let rpc_latency = ctx.register(
            "chain_rpc_latency_seconds",
            "JSON-RPC request handling time by method",
            raw::Family::<MethodLabel, raw::Histogram>::new_with_constructor(
                (|| raw::Histogram::new(RPC_BUCKETS)) as fn() -> raw::Histogram,
            ),
        );
        Self {
            finalized_height: ctx.gauge("chain_finalized_height", "Last finalized block height"),
            finality_latency: ctx.histogram(
                "chain_finality_latency_seconds",
                "Time from a block's proposal (its header timestamp) to this node finalizing it",
                LATENCY_BUCKETS,
            ),
            mempool_txs: ctx.gauge("chain_mempool_transactions", "Transactions in the mempool"),
            mempool_bytes: ctx.gauge("chain_mempool_bytes", "Encoded bytes in the mempool"),
            rpc_requests: Arc::new(ctx.family("chain_rpc_requests", "JSON-RPC requests by method")),
            rpc_latency: Arc::new(rpc_latency),
            rpc_errors: ctx.counter(
                "chain_rpc_errors",
                "JSON-RPC requests answered with an error",
            ),
        }
    }

    /// A block was finalized at `now_ms` (wall clock); it was proposed at `proposed_ms`.
    pub fn finalized(&self, height: u64, proposed_ms: u64, now_ms: u64) {
        self.finalized_height
            .set(i64::try_from(height).unwrap_or(i64::MAX));
        let latency_ms = now_ms.saturating_sub(proposed_ms);
        // Milliseconds to seconds for the histogram (exact for any realistic latency).
        #[allow(clippy::cast_precision_loss)]
        self.finality_latency.observe(latency_ms as f64 / 1000.0);
    }

    /// The mempool's size now.
    pub fn mempool(&self, txs: usize, bytes: usize) {
        self.mempool_txs.set(i64::try_from(txs).unwrap_or(i64::MAX));
        self.mempool_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// An RPC request for `method` (a method the node knows, or `unknown`) took `seconds`;
    /// `ok` if it was answered without an error.
    pub fn rpc(&self, method: &str, seconds: f64, ok: bool) {
        let label = MethodLabel {
            method: method.to_owned(),
        };
        self.rpc_requests.get_or_create(&label).inc();
        self.rpc_latency.get_or_create(&label).observe(seconds);
        if !ok {
            self.rpc_errors.inc();
        }
    }
}
