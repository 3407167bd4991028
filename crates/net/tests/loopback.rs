//! Two of our hosts on real loopback sockets: one serves a multi-block file, the other fetches
//! the whole DAG over Bitswap and gets the same bytes.

use crust_ipfs::blockstore::{Blockstore, DiskStore, StoreSink};
use crust_ipfs::importer::{ImportOptions, import_file};
use crust_net::{Exchange, Host, NetConfig};
use std::sync::Arc;
use std::time::Duration;

fn config(seed: u8) -> NetConfig {
    NetConfig {
        key_seed: [seed; 32],
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dag_moves_between_two_nodes() {
    let dir_a = tempfile::tempdir().expect("tmp");
    let dir_b = tempfile::tempdir().expect("tmp");
    let store_a: Arc<dyn Blockstore> = Arc::new(DiskStore::open(dir_a.path()).expect("store"));
    let store_b: Arc<dyn Blockstore> = Arc::new(DiskStore::open(dir_b.path()).expect("store"));
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let root = import_file(
        &data[..],
        &ImportOptions::default(),
        &mut StoreSink(&*store_a),
        &mut |_| {},
    )
    .expect("import")
    .cid;

    let host_a = Host::start(config(1)).await.expect("host a");
    let host_b = Host::start(config(2)).await.expect("host b");
    let _ex_a = Exchange::start(host_a.clone(), store_a.clone());
    let ex_b = Exchange::start(host_b.clone(), store_b.clone());
    let addr = host_a.listen_addrs()[0]
        .clone()
        .with(libp2p::multiaddr::Protocol::P2p(host_a.peer_id()));
    let peer = host_b.dial(addr).await.expect("dial");
    assert_eq!(peer, host_a.peer_id());

    let (blocks, _bytes) = ex_b
        .fetch_dag(peer, root, 32, Duration::from_secs(20))
        .await
        .expect("fetch");
    assert!(blocks >= 12, "{blocks} blocks");
    let got = crust_ipfs::exporter::cat(&*store_b, root).expect("cat");
    assert!(got == data, "fetched bytes differ");
    // A block the server does not have is answered with DontHave, not a hang.
    let absent = crust_ipfs::Block::raw(b"absent".to_vec()).cid;
    let err = ex_b
        .get_block(peer, absent, Duration::from_secs(10))
        .await
        .expect_err("absent");
    assert!(
        matches!(err, crust_net::exchange::ExchangeError::DontHave(_)),
        "{err}"
    );
}
