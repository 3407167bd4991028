//! Address classification, bootstrap lists, and a host's announced and dialed addresses.

use super::addrs::{DhtScope, dht_scope};
use super::*;

fn addr(text: &str) -> Multiaddr {
    text.parse().expect("multiaddr")
}

#[test]
fn public_addresses_are_told_from_local_ones() {
    for public in [
        "/ip4/8.8.8.8/tcp/4001",
        "/ip4/100.128.0.1/udp/4001/quic-v1",
        "/ip6/2604:1380::1/tcp/4001",
        "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
        "/dns4/node.example.com/tcp/4001",
    ] {
        assert!(is_public(&addr(public)), "{public}");
    }
    for local_name in [
        "/dns4/localhost/tcp/4001",
        "/dns4/peer.localhost/tcp/4001",
        "/dns4/printer.local/tcp/4001",
        "/dns6/node.internal/tcp/4001",
        "/dns4/storage-1/tcp/4001",
        "/dns4/nas.home.arpa/tcp/4001",
        "/ip4/224.0.0.251/udp/5353",
        "/ip6/ff02::1/tcp/4001",
        "/ip6/100::1/tcp/4001",
    ] {
        assert!(!is_public(&addr(local_name)), "{local_name}");
    }
    for local in [
        "/ip4/127.0.0.1/tcp/4001",
        "/ip4/0.0.0.0/tcp/4001",
        "/ip4/10.1.2.3/tcp/4001",
        "/ip4/172.20.0.5/tcp/4001",
        "/ip4/192.168.1.10/udp/4001/quic-v1",
        "/ip4/169.254.3.4/tcp/4001",
        "/ip4/100.64.0.1/tcp/4001",
        "/ip4/198.18.0.1/tcp/4001",
        "/ip4/192.0.2.1/tcp/4001",
        "/ip4/240.0.0.1/tcp/4001",
        "/ip6/::1/tcp/4001",
        "/ip6/fd00::1/tcp/4001",
        "/ip6/fe80::1/tcp/4001",
        "/ip6/2001:db8::1/tcp/4001",
        "/ip6/::ffff:192.168.0.1/tcp/4001",
    ] {
        assert!(!is_public(&addr(local)), "{local}");
    }
    assert!(is_loopback(&addr("/ip4/127.0.0.1/tcp/1")));
    assert!(is_loopback(&addr("/ip6/::1/tcp/1")));
    assert!(!is_loopback(&addr("/ip4/192.168.0.1/tcp/1")));
}

#[test]
fn the_public_dht_takes_only_public_addresses_on_the_public_network() {
    let (public, private) = (addr("/ip4/8.8.8.8/tcp/1"), addr("/ip4/10.0.0.1/tcp/1"));
    let both = DhtScope {
        wan: true,
        lan: true,
    };
    assert_eq!(
        dht_scope(true, &public),
        DhtScope {
            wan: true,
            lan: false
        }
    );
    assert_eq!(
        dht_scope(true, &private),
        DhtScope {
            wan: false,
            lan: true
        }
    );
    // A devnet or a LAN (no public bootstrap peer): every address counts on both.
    assert_eq!(dht_scope(false, &private), both);
    assert_eq!(dht_scope(false, &addr("/ip4/127.0.0.1/tcp/1")), both);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_addresses_are_not_announced_on_the_public_network() {
    let config = |seed: u8, bootstrap: &str| NetConfig {
        key_seed: [seed; 32],
        listen: vec![addr("/ip4/127.0.0.1/tcp/0")],
        bootstrap: vec![addr(&format!("{bootstrap}/p2p/{}", PeerId::random()))],
        announce: Vec::new(),
    };
    // A public bootstrap peer (never reached here: the dial fails in the background).
    let public = Host::start(config(61, "/ip4/1.1.1.1/tcp/9"))
        .await
        .expect("host");
    assert!(
        public.announce_addrs().is_empty(),
        "{:?}",
        public.announce_addrs()
    );
    assert_eq!(public.listen_addrs().len(), 1);
    // A devnet's loopback bootstrap peer: the loopback address is what peers dial.
    let private = Host::start(config(62, "/ip4/127.0.0.1/tcp/9"))
        .await
        .expect("host");
    assert_eq!(private.announce_addrs(), private.listen_addrs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_addresses_resolve_and_dial() {
    let config = |seed: u8| NetConfig {
        key_seed: [seed; 32],
        listen: vec![addr("/ip4/127.0.0.1/tcp/0")],
        bootstrap: Vec::new(),
        announce: Vec::new(),
    };
    let a = Host::start(config(63)).await.expect("host a");
    let b = Host::start(config(64)).await.expect("host b");
    let port = a.listen_addrs()[0]
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .expect("tcp port");
    let named = addr(&format!("/dns4/localhost/tcp/{port}/p2p/{}", a.peer_id()));
    assert_eq!(b.dial(named).await.expect("dial"), a.peer_id());
}

#[test]
fn bootstrap_default_is_the_public_ipfs_network() {
    let list = bootstrap_addrs(&["default".into()]).expect("default");
    assert_eq!(list.len(), IPFS_BOOTSTRAP.len());
    assert!(list.iter().all(|a| is_public(a) && peer_of(a).is_some()));
    let mine = format!("/ip4/127.0.0.1/tcp/4001/p2p/{}", PeerId::random());
    assert_eq!(
        bootstrap_addrs(std::slice::from_ref(&mine)).expect("one"),
        [addr(&mine)]
    );
    let err = bootstrap_addrs(&["/ip4/127.0.0.1/tcp/4001".into()]).expect_err("no peer id");
    assert!(err.contains("/p2p/"), "{err}");
    assert!(bootstrap_addrs(&["bogus".into()]).is_err());
}
