//! The data network's Prometheus metrics, shared by every role that runs a libp2p host (the
//! IPFS daemon on Kubo's `/debug/metrics/prometheus`, the storage worker on its control API's
//! `/metrics`): Bitswap totals, per-peer ledger accounts, the server's queue, connected peers
//! and DHT routing-table size.

use crate::{Exchange, Host};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

/// Peers listed one by one in the per-peer families, the ones with the most bytes exchanged
/// (a node may know thousands; a scrape stays small).
pub const MAX_PEERS_LISTED: usize = 64;

/// A peer label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabel {
    /// The libp2p peer ID.
    pub peer: String,
}

fn gauge(value: u64) -> ConstGauge {
    ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX))
}

/// Registers the data network's metrics, as they are now, in `registry`.
pub async fn register(registry: &mut Registry, host: &Host, exchange: &Exchange) {
    let stats = exchange.stats();
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
    let queue = exchange.serve_queue();
    let ledger = exchange.ledger();
    let gauges = [
        (
            "bitswap_wantlist_length",
            "Blocks this node is waiting for",
            stats.wantlist.len(),
        ),
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
        (
            "bitswap_ledger_peers",
            "Peers with a credit account",
            stats.peers.len(),
        ),
    ];
    for (name, help, value) in gauges {
        registry.register(name, help, gauge(value as u64));
    }
    // Per peer: the ledger's accounts of the busiest peers.
    let mut accounts = ledger.accounts();
    accounts.sort_by_key(|(_, a)| std::cmp::Reverse(a.bytes_sent.saturating_add(a.bytes_received)));
    accounts.truncate(MAX_PEERS_LISTED);
    let sent = Family::<PeerLabel, Gauge>::default();
    let received = Family::<PeerLabel, Gauge>::default();
    let blocks_sent = Family::<PeerLabel, Gauge>::default();
    let blocks_received = Family::<PeerLabel, Gauge>::default();
    let violations = Family::<PeerLabel, Gauge>::default();
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    for (peer, a) in &accounts {
        let label = PeerLabel {
            peer: peer.to_string(),
        };
        sent.get_or_create(&label).set(as_i64(a.bytes_sent));
        received.get_or_create(&label).set(as_i64(a.bytes_received));
        blocks_sent.get_or_create(&label).set(as_i64(a.blocks_sent));
        blocks_received
            .get_or_create(&label)
            .set(as_i64(a.blocks_received));
        violations
            .get_or_create(&label)
            .set(i64::from(a.violations));
    }
    registry.register(
        "bitswap_peer_sent_bytes",
        "Block bytes sent to a peer (busiest peers)",
        sent,
    );
    registry.register(
        "bitswap_peer_received_bytes",
        "Wanted block bytes received from a peer (busiest peers)",
        received,
    );
    registry.register(
        "bitswap_peer_blocks_sent",
        "Blocks sent to a peer (busiest peers)",
        blocks_sent,
    );
    registry.register(
        "bitswap_peer_blocks_received",
        "Wanted blocks received from a peer (busiest peers)",
        blocks_received,
    );
    registry.register(
        "bitswap_peer_violations",
        "Malformed messages, invalid blocks and floods seen from a peer",
        violations,
    );
    let peers = host.peers().await.map(|p| p.len()).unwrap_or(0);
    registry.register("swarm_peers", "Connected libp2p peers", gauge(peers as u64));
    if let Ok(size) = host.routing_table_size().await {
        registry.register(
            "dht_routing_table_peers",
            "Peers in the DHT routing tables (public and LAN)",
            gauge(size as u64),
        );
    }
}
