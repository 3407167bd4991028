//! The storage worker's Prometheus metrics on its control API (`GET /metrics`): what it stores
//! (from the status the worker loop publishes), what it did (counters kept here), and the data
//! network's metrics (`crust_net::metrics`). Fetch throughput is the rate of
//! `crust_bitswap_data_received_bytes`.

use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the worker did since it started (one worker per process).
pub(super) struct Counters {
    /// Work reports submitted.
    pub(super) reports_sent: AtomicU64,
    /// Reports the chain accepted.
    pub(super) reports_accepted: AtomicU64,
    /// Reports whose slot ended without the chain accepting them.
    pub(super) reports_not_accepted: AtomicU64,
    /// Challenges answered in submitted reports (files and SRD).
    pub(super) challenges_answered: AtomicU64,
    /// Slots whose challenges could not be answered (no report that slot).
    pub(super) challenges_unanswered: AtomicU64,
    /// Files fetched, checked against their commitment and sealed.
    pub(super) files_stored: AtomicU64,
    /// Orders refused because their content is not what they committed to (D29).
    pub(super) orders_refused: AtomicU64,
    /// Files repaired (damaged here, re-fetched from other replica holders).
    pub(super) files_repaired: AtomicU64,
}

/// The process's counters.
pub(super) static COUNTERS: Counters = Counters {
    reports_sent: AtomicU64::new(0),
    reports_accepted: AtomicU64::new(0),
    reports_not_accepted: AtomicU64::new(0),
    challenges_answered: AtomicU64::new(0),
    challenges_unanswered: AtomicU64::new(0),
    files_stored: AtomicU64::new(0),
    orders_refused: AtomicU64::new(0),
    files_repaired: AtomicU64::new(0),
};

/// Adds `n` to a counter.
pub(super) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

fn gauge(value: Option<u64>) -> Option<ConstGauge> {
    value.map(|v| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX)))
}

/// The Prometheus text of the worker's metrics now.
pub(super) async fn render(
    status: &serde_json::Value,
    host: &crust_net::Host,
    exchange: &crust_net::Exchange,
) -> Option<String> {
    let mut registry = Registry::with_prefix("crust");
    let c = &COUNTERS;
    let counters = [
        (
            "sworker_reports_sent",
            "Work reports submitted",
            &c.reports_sent,
        ),
        (
            "sworker_reports_accepted",
            "Work reports the chain accepted",
            &c.reports_accepted,
        ),
        (
            "sworker_reports_not_accepted",
            "Work reports whose slot ended without the chain accepting them",
            &c.reports_not_accepted,
        ),
        (
            "sworker_challenges_answered",
            "Storage challenges answered in submitted reports",
            &c.challenges_answered,
        ),
        (
            "sworker_challenges_unanswered",
            "Slots whose storage challenges could not be answered",
            &c.challenges_unanswered,
        ),
        (
            "sworker_files_stored",
            "Files fetched, checked and sealed",
            &c.files_stored,
        ),
        (
            "sworker_orders_refused",
            "Orders refused: content not what was committed to",
            &c.orders_refused,
        ),
        (
            "sworker_files_repaired",
            "Damaged files re-fetched and re-sealed",
            &c.files_repaired,
        ),
    ];
    for (name, help, value) in counters {
        registry.register(name, help, ConstCounter::new(value.load(Ordering::Relaxed)));
    }
    let u = |key: &str| status.get(key).and_then(serde_json::Value::as_u64);
    let len = |key: &str| {
        status
            .get(key)
            .and_then(serde_json::Value::as_array)
            .map(|a| a.len() as u64)
    };
    let slots_since = match (
        u("chain_height"),
        u("last_accepted_slot"),
        u("report_slot_blocks"),
    ) {
        (Some(h), Some(last), Some(blocks)) if blocks > 0 => Some(h.saturating_sub(last) / blocks),
        _ => None,
    };
    let gauges = [
        (
            "sworker_chain_height",
            "Finalized height the worker has followed to",
            u("chain_height"),
        ),
        ("sworker_files", "Files sealed here", u("files")),
        (
            "sworker_files_bytes",
            "Bytes of the files sealed here",
            u("files_bytes"),
        ),
        (
            "sworker_files_valid",
            "Files sealed and reported",
            u("files_valid"),
        ),
        (
            "sworker_files_lost",
            "Files damaged here, being re-fetched",
            len("files_lost"),
        ),
        (
            "sworker_files_queued",
            "Orders waiting to be fetched",
            u("queued"),
        ),
        (
            "sworker_srd_bytes",
            "Space committed as SRD",
            u("srd_bytes"),
        ),
        (
            "sworker_capacity_bytes",
            "Capacity given to the worker",
            u("capacity_bytes"),
        ),
        (
            "sworker_disk_free_bytes",
            "Free space on the worker's disk",
            u("disk_free_bytes"),
        ),
        (
            "sworker_last_report_slot",
            "First block of the last slot reported",
            u("last_report_slot"),
        ),
        (
            "sworker_last_accepted_slot",
            "First block of the last slot whose report the chain accepted",
            u("last_accepted_slot"),
        ),
        (
            "sworker_slots_since_accepted_report",
            "Report slots since the last accepted report (0 or 1 when healthy)",
            slots_since,
        ),
        (
            "sworker_srd_counts",
            "1 if this worker's SRD counts toward its owner's stake limit (D31)",
            status
                .get("srd_counts")
                .and_then(serde_json::Value::as_bool)
                .map(u64::from),
        ),
    ];
    for (name, help, value) in gauges {
        if let Some(g) = gauge(value) {
            registry.register(name, help, g);
        }
    }
    crust_net::metrics::register(&mut registry, host, exchange).await;
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).ok()?;
    Some(text)
}
