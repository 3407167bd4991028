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
        bootstrap: Vec::new(),
        announce: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dag_moves_between_two_nodes() {
    move_a_dag("/ip4/127.0.0.1/tcp/0", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dag_moves_between_two_nodes_over_quic() {
    move_a_dag("/ip4/127.0.0.1/udp/0/quic-v1", 3).await;
}

/// Two hosts listening on `listen` (one transport): B fetches a 3 MB DAG from A.
async fn move_a_dag(listen: &str, seed: u8) {
    let config = |seed: u8| NetConfig {
        listen: vec![listen.parse().expect("addr")],
        ..config(seed)
    };
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

    let host_a = Host::start(config(seed)).await.expect("host a");
    let host_b = Host::start(config(seed + 1)).await.expect("host b");
    assert_eq!(
        host_a.listen_addrs()[0].to_string().contains("quic"),
        listen.contains("quic")
    );
    let _ex_a = Exchange::start(host_a.clone(), store_a.clone());
    let ex_b = Exchange::start(host_b.clone(), store_b.clone());
    let addr = host_a.listen_addrs()[0]
        .clone()
        .with(libp2p::multiaddr::Protocol::P2p(host_a.peer_id()));
    let peer = host_b.dial(addr).await.expect("dial");
    assert_eq!(peer, host_a.peer_id());

    // A bound below the DAG's size fails the fetch instead of bringing it all in.
    let small = crust_net::FetchOptions {
        window: 32,
        block_timeout: Duration::from_secs(20),
        max_bytes: Some(data.len() as u64 / 2),
    };
    let err = ex_b
        .fetch_dag_into(
            &crust_ipfs::blockstore::MemStore::default(),
            &[peer],
            root,
            &small,
            &mut |_| {},
        )
        .await
        .expect_err("too large");
    assert!(
        matches!(err, crust_net::exchange::ExchangeError::TooLarge(_)),
        "{err}"
    );
    let options = crust_net::FetchOptions {
        window: 32,
        block_timeout: Duration::from_secs(20),
        max_bytes: Some(data.len() as u64 * 2),
    };
    let done = ex_b
        .fetch_dag(&[peer], root, &options, &mut |_| {})
        .await
        .expect("fetch");
    assert!(done.blocks >= 12, "{} blocks", done.blocks);
    let got = crust_ipfs::exporter::cat(&*store_b, root).expect("cat");
    assert!(got == data, "fetched bytes differ");
    // A block the server does not have is answered with DontHave, not a hang.
    let absent = crust_ipfs::Block::raw(b"absent".to_vec()).cid;
    let err = ex_b
        .get_block(&[peer], absent, Duration::from_secs(10))
        .await
        .expect_err("absent");
    assert!(
        matches!(err, crust_net::exchange::ExchangeError::DontHave(_)),
        "{err}"
    );
}

/// A node: host, on-disk store and exchange.
struct Node {
    _dir: tempfile::TempDir,
    store: Arc<dyn Blockstore>,
    host: Host,
    exchange: Arc<Exchange>,
}

impl Node {
    async fn start(seed: u8) -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let store: Arc<dyn Blockstore> = Arc::new(DiskStore::open(dir.path()).expect("store"));
        let host = Host::start(config(seed)).await.expect("host");
        let exchange = Exchange::start(host.clone(), store.clone());
        Self {
            _dir: dir,
            store,
            host,
            exchange,
        }
    }

    fn addr(&self) -> libp2p::Multiaddr {
        self.host.listen_addrs()[0]
            .clone()
            .with(libp2p::multiaddr::Protocol::P2p(self.host.peer_id()))
    }

    fn add(&self, data: &[u8]) -> crust_ipfs::Cid {
        import_file(
            data,
            &ImportOptions::default(),
            &mut StoreSink(&*self.store),
            &mut |_| {},
        )
        .expect("import")
        .cid
    }

    async fn connect(&self, other: &Node) -> libp2p::PeerId {
        self.host.dial(other.addr()).await.expect("dial")
    }

    fn cat(&self, root: crust_ipfs::Cid) -> Vec<u8> {
        crust_ipfs::exporter::cat(&*self.store, root).expect("cat")
    }
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_fetch_concurrently_and_serve_onward() {
    let a = Node::start(11).await;
    let b = Node::start(12).await;
    let c = Node::start(13).await;
    let data = pattern(8_000_000, 1);
    let root = a.add(&data);
    let b_to_a = b.connect(&a).await;
    let c_to_a = c.connect(&a).await;
    let c_to_b = c.connect(&b).await;
    let options = crust_net::FetchOptions::default();
    let (b_peers, c_peers) = ([b_to_a], [c_to_a, c_to_b]);
    let (mut quiet_b, mut quiet_c) = (
        |_: &crust_net::FetchProgress| {},
        |_: &crust_net::FetchProgress| {},
    );
    // B fetches from A while C fetches from A and B: C's wants to B for blocks B does not
    // have yet are remembered by B and answered once B has them.
    let (got_b, got_c) = tokio::join!(
        b.exchange.fetch_dag(&b_peers, root, &options, &mut quiet_b),
        c.exchange.fetch_dag(&c_peers, root, &options, &mut quiet_c),
    );
    got_b.expect("b fetches");
    got_c.expect("c fetches");
    assert!(b.cat(root) == data && c.cat(root) == data);

    // A leaves; a fourth node gets the file from B and C alone.
    a.host.shutdown().await;
    let d = Node::start(14).await;
    let d_to_b = d.connect(&b).await;
    let d_to_c = d.connect(&c).await;
    let done = d
        .exchange
        .fetch_dag(&[d_to_b, d_to_c], root, &options, &mut |_| {})
        .await
        .expect("d fetches from b and c");
    assert!(d.cat(root) == data);
    // Both onward servers contributed, and the ledgers agree on what moved.
    let from_b = d.exchange.ledger().account(&d_to_b);
    let from_c = d.exchange.ledger().account(&d_to_c);
    assert!(from_b.blocks_received > 0 && from_c.blocks_received > 0);
    assert_eq!(from_b.blocks_received + from_c.blocks_received, done.blocks);
    assert_eq!(from_b.bytes_received + from_c.bytes_received, done.bytes);
    let b_side = b.exchange.ledger().account(&d.host.peer_id());
    assert_eq!(b_side.blocks_sent, from_b.blocks_received);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_vanishes_mid_transfer_is_routed_around() {
    let a = Node::start(21).await;
    let b = Node::start(22).await;
    let c = Node::start(23).await;
    let data = pattern(30_000_000, 2);
    let root = a.add(&data);
    assert_eq!(b.add(&data), root);
    let c_to_a = c.connect(&a).await;
    let c_to_b = c.connect(&b).await;
    let options = crust_net::FetchOptions {
        window: 8,
        block_timeout: Duration::from_secs(30),
        ..crust_net::FetchOptions::default()
    };
    let (vanish_tx, vanish_rx) = std::sync::mpsc::channel();
    let mut signalled = false;
    let peers = [c_to_a, c_to_b];
    let mut on_progress = |p: &crust_net::FetchProgress| {
        if p.blocks >= 20 && !signalled {
            signalled = true;
            let _ = vanish_tx.send(());
        }
    };
    let fetch = c
        .exchange
        .fetch_dag(&peers, root, &options, &mut on_progress);
    let host_a = a.host.clone();
    let vanish = tokio::spawn(async move {
        while vanish_rx.try_recv().is_err() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        host_a.shutdown().await;
    });
    let done = fetch.await.expect("fetch survives a vanished peer");
    vanish.await.expect("vanish task");
    assert!(c.cat(root) == data);
    let from_a = c.exchange.ledger().account(&c_to_a).blocks_received;
    let from_b = c.exchange.ledger().account(&c_to_b).blocks_received;
    assert!(from_a > 0, "A served before it vanished");
    assert!(from_b > 0);
    assert_eq!(from_a + from_b, done.blocks);
    assert!(
        from_a < done.blocks,
        "A left mid-transfer, B served the rest"
    );
}

/// Opens a raw Bitswap stream from `from` to `to` and writes `bytes` on it.
async fn raw_write(from: &Node, to: &Node, bytes: &[u8], close: bool) {
    use futures::AsyncWriteExt as _;
    let mut control = from.host.control();
    let mut stream = control
        .open_stream(
            to.host.peer_id(),
            libp2p::StreamProtocol::new("/ipfs/bitswap/1.2.0"),
        )
        .await
        .expect("open stream");
    stream.write_all(bytes).await.expect("write");
    stream.flush().await.expect("flush");
    if close {
        let _ = stream.close().await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_are_bounded_penalized_and_banned() {
    use crust_ipfs::bitswap::{self, Entry, Message, WantType};
    let server = Node::start(31).await;
    let data = pattern(300_000, 3);
    let root = server.add(&data);
    let attacker = Node::start(32).await;
    let attacker_id = attacker.connect(&server).await;
    assert_eq!(attacker_id, server.host.peer_id());
    let me = attacker.host.peer_id();

    // A stream reset mid-message is not a violation, and the peer is still served.
    let want = |cid| Entry {
        cid,
        priority: 1,
        cancel: false,
        want_type: WantType::Block,
        send_dont_have: true,
    };
    let frame = bitswap::frame(
        &Message {
            wants: vec![want(root)],
            ..Default::default()
        }
        .encode(),
    );
    raw_write(&attacker, &server, &frame[..frame.len() / 2], false).await;
    assert_eq!(server.exchange.ledger().account(&me).violations, 0);
    attacker
        .exchange
        .get_block(&[attacker_id], root, Duration::from_secs(10))
        .await
        .expect("still served");

    // A wantlist flood: 5 messages of 1024 wants for missing blocks. The server remembers at
    // most 1024 of them and answers each with DontHave.
    for round in 0..5u32 {
        let wants = (0..bitswap::MAX_ENTRIES as u32)
            .map(|i| want(crust_ipfs::Block::raw((round * 100_000 + i).to_le_bytes().to_vec()).cid))
            .collect();
        let msg = Message {
            wants,
            ..Default::default()
        };
        raw_write(&attacker, &server, &bitswap::frame(&msg.encode()), true).await;
    }
    let remembered = server.exchange.peer_wantlist(&me).len();
    assert_eq!(remembered, crust_net::exchange::MAX_REMEMBERED_WANTS);
    // A full wantlist replaces the remembered one.
    let full = Message {
        wants: vec![want(crust_ipfs::Block::raw(b"one".to_vec()).cid)],
        full: true,
        ..Default::default()
    };
    raw_write(&attacker, &server, &bitswap::frame(&full.encode()), true).await;
    assert_eq!(server.exchange.peer_wantlist(&me).len(), 1);
    assert_eq!(server.exchange.ledger().account(&me).violations, 0);

    // Violation 1: a length prefix over the 4 MiB limit (nothing of it is buffered).
    let mut oversized = Vec::new();
    let mut len = (bitswap::MAX_MESSAGE_BYTES + 1) as u64;
    while len >= 0x80 {
        oversized.push((len as u8) | 0x80);
        len >>= 7;
    }
    oversized.push(len as u8);
    oversized.extend_from_slice(&[0u8; 64]);
    raw_write(&attacker, &server, &oversized, false).await;
    assert_eq!(server.exchange.ledger().account(&me).violations, 1);

    // Violation 2: a block under a malformed prefix (a 33-byte SHA-256 digest). A block
    // whose bytes were altered cannot claim a wanted CID: the receiver derives the CID from
    // the bytes, so altered bytes arrive as an unsolicited block and are dropped unused.
    let good = crust_ipfs::Block::raw(b"honest bytes".to_vec());
    let mut encoded = Message {
        blocks: vec![good],
        ..Default::default()
    }
    .encode();
    let at = encoded
        .windows(4)
        .position(|w| w == [0x01, 0x55, 0x12, 0x20])
        .expect("prefix in message");
    encoded[at + 3] = 0x21;
    raw_write(&attacker, &server, &bitswap::frame(&encoded), true).await;
    assert_eq!(server.exchange.ledger().account(&me).violations, 2);

    // Violation 3: garbage protobuf. The peer is banned and disconnected, and further wants
    // go unanswered.
    raw_write(&attacker, &server, &bitswap::frame(&[0xff; 32]), true).await;
    assert_eq!(server.exchange.ledger().account(&me).violations, 3);
    assert_eq!(
        server.exchange.ledger().standing(&me),
        crust_net::ledger::Standing::Banned
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let connected = server.host.peers().await.expect("peers");
    assert!(
        connected.iter().all(|(p, _)| *p != me),
        "banned peer disconnected"
    );
    let _ = attacker.connect(&server).await;
    let refused = attacker
        .exchange
        .get_block(&[attacker_id], root, Duration::from_secs(3))
        .await;
    assert!(refused.is_err(), "a banned peer is not served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_is_found_through_the_dht_and_fetched_from() {
    // B is the bootstrap node; A and C only know B.
    let b = Node::start(41).await;
    let with_bootstrap = |seed: u8| NetConfig {
        bootstrap: vec![b.addr()],
        ..config(seed)
    };
    let start = |seed: u8| {
        let cfg = with_bootstrap(seed);
        async move {
            let dir = tempfile::tempdir().expect("tmp");
            let store: Arc<dyn Blockstore> = Arc::new(DiskStore::open(dir.path()).expect("store"));
            let host = Host::start(cfg).await.expect("host");
            let exchange = Exchange::start(host.clone(), store.clone());
            Node {
                _dir: dir,
                store,
                host,
                exchange,
            }
        }
    };
    let a = start(42).await;
    let c = start(43).await;
    let data = pattern(2_000_000, 5);
    let root = a.add(&data);
    // A announces; C looks it up without knowing A, connects by peer ID and fetches.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match a.host.provide(root).await {
            Ok(()) => break,
            // The routing table fills as the bootstrap connection's Identify arrives.
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("provide: {e}"),
        }
    }
    let providers = c.host.find_providers(root).await.expect("lookup");
    assert_eq!(providers, vec![a.host.peer_id()]);
    let peer = c
        .host
        .connect(providers[0])
        .await
        .expect("connect by peer id");
    c.exchange
        .fetch_dag(
            &[peer],
            root,
            &crust_net::FetchOptions::default(),
            &mut |_| {},
        )
        .await
        .expect("fetch");
    assert!(c.cat(root) == data);
    // Nobody provides an unknown CID.
    let unknown = crust_ipfs::Block::raw(b"nobody has this".to_vec()).cid;
    assert!(
        c.host
            .find_providers(unknown)
            .await
            .expect("lookup")
            .is_empty()
    );
}

/// A read through [`crust_net::NetworkStore`] fetches each node's children ahead of the reader,
/// one level below what was read (not the whole DAG), and joins fetches under way instead of
/// asking twice, so the server sends nothing unsolicited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_read_looks_ahead_one_level_below_what_was_read() {
    let dir_a = tempfile::tempdir().expect("tmp");
    let dir_b = tempfile::tempdir().expect("tmp");
    let store_a: Arc<dyn Blockstore> = Arc::new(DiskStore::open(dir_a.path()).expect("store"));
    let store_b: Arc<dyn Blockstore> = Arc::new(DiskStore::open(dir_b.path()).expect("store"));
    // 4 KiB leaves under nodes of 16 links, three levels of them.
    let data = pattern(3_000_000, 11);
    let options = ImportOptions {
        cid_version: 1,
        chunk_size: 4096,
        max_links: 16,
        ..ImportOptions::default()
    };
    let root = import_file(&data[..], &options, &mut StoreSink(&*store_a), &mut |_| {})
        .expect("import")
        .cid;
    let host_a = Host::start(config(41)).await.expect("host a");
    let host_b = Host::start(config(42)).await.expect("host b");
    let _ex_a = Exchange::start(host_a.clone(), store_a.clone());
    let ex_b = Exchange::start(host_b.clone(), store_b.clone());
    let addr = host_a.listen_addrs()[0]
        .clone()
        .with(libp2p::multiaddr::Protocol::P2p(host_a.peer_id()));
    let peer = host_b.dial(addr).await.expect("dial");
    let network = Arc::new(crust_net::NetworkStore::new(
        store_b.clone(),
        host_b.clone(),
        ex_b.clone(),
    ));
    let links = |cid| {
        let data = store_a.get(&cid).expect("read").expect("block");
        crust_ipfs::links::links(&cid, &data).expect("links")
    };
    let children = links(root);
    assert_eq!(children.len(), 3);
    let grandchildren = links(children[0]);

    // Reading the root brings its children without being asked, and nothing below them.
    let reader = network.clone();
    let got = tokio::task::spawn_blocking(move || reader.get(&root))
        .await
        .expect("join")
        .expect("read");
    assert!(got.is_some());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !children.iter().all(|c| store_b.has(c)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the root's children were not fetched ahead"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        grandchildren.iter().all(|c| !store_b.has(c)),
        "looked further ahead than one level"
    );

    // The whole file reads through the network store; every block arrived once, as asked.
    let reader = network.clone();
    let read = tokio::task::spawn_blocking(move || {
        crust_ipfs::exporter::cat(&*reader, root).map_err(|e| e.to_string())
    })
    .await
    .expect("join")
    .expect("cat");
    assert!(read == data, "read bytes differ");
    let account = ex_b.ledger().account(&peer);
    assert_eq!(account.unsolicited_bytes, 0);
    assert_eq!(account.violations, 0);
    let mut distinct = std::collections::HashSet::from([root]);
    let mut queue = vec![root];
    while let Some(cid) = queue.pop() {
        queue.extend(links(cid).into_iter().filter(|l| distinct.insert(*l)));
    }
    assert_eq!(account.blocks_received, distinct.len() as u64);
}

/// A late copy of a block whose want just ended (moved on to another peer, timed out, or
/// answered right after a cancel) is a duplicate, not an unsolicited block: the first such copy
/// costs its sender nothing, a second one counts against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_copy_of_a_wanted_block_is_not_held_against_its_sender() {
    use crust_ipfs::bitswap::{self, Message};
    let blocks_frame = |block: &crust_ipfs::Block| {
        bitswap::frame(
            &Message {
                blocks: vec![block.clone()],
                ..Default::default()
            }
            .encode(),
        )
    };
    let reader = Node::start(51).await;
    let late = Node::start(52).await;
    let late_id = reader.connect(&late).await;
    let me = late.host.peer_id();
    // The reader wants a block the peer does not have; the want ends with DontHave.
    let block = crust_ipfs::Block::raw(b"arrives after the want ended".to_vec());
    let missing = reader
        .exchange
        .get_block(&[late_id], block.cid, Duration::from_secs(5))
        .await;
    assert!(missing.is_err());
    let copy = blocks_frame(&block);
    raw_write(&late, &reader, &copy, true).await;
    let account = reader.exchange.ledger().account(&me);
    assert_eq!(account.unsolicited_bytes, 0, "the first late copy is free");
    raw_write(&late, &reader, &copy, true).await;
    let account = reader.exchange.ledger().account(&me);
    assert_eq!(account.unsolicited_bytes, block.data.len() as u64);
    // A block never wanted is unsolicited at once.
    let stray = crust_ipfs::Block::raw(b"never wanted".to_vec());
    raw_write(&late, &reader, &blocks_frame(&stray), true).await;
    let account = reader.exchange.ledger().account(&me);
    assert_eq!(
        account.unsolicited_bytes,
        (block.data.len() + stray.data.len()) as u64
    );
}
