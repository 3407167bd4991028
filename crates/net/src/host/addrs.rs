//! Which addresses a host announces, dials and puts in which DHT: public or local, loopback,
//! QUIC, the peer an address names, and the bootstrap list.

use libp2p::{Multiaddr, PeerId};

/// Kubo's default bootstrap peers, the way into the public IPFS network (`--bootstrap default`).
pub const IPFS_BOOTSTRAP: [&str; 6] = [
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
    "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
    "/ip4/104.131.131.82/udp/4001/quic-v1/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
];

/// Parses `--bootstrap` values: multiaddrs ending in `/p2p/<peer id>`, or `default` for
/// [`IPFS_BOOTSTRAP`].
pub fn bootstrap_addrs(list: &[String]) -> Result<Vec<Multiaddr>, String> {
    let mut out = Vec::new();
    for item in list {
        if item == "default" {
            out.extend(IPFS_BOOTSTRAP.iter().filter_map(|a| a.parse().ok()));
            continue;
        }
        let addr: Multiaddr = item
            .parse()
            .map_err(|e| format!("--bootstrap {item}: {e}"))?;
        if peer_of(&addr).is_none() {
            return Err(format!(
                "--bootstrap {item}: needs a /p2p/<peer id> suffix (or `default` for the public IPFS network)"
            ));
        }
        out.push(addr);
    }
    Ok(out)
}

/// Which DHTs may hold a peer's address: on the public network the WAN DHT takes only public
/// addresses and the LAN DHT the others; on a private network both take every address.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct DhtScope {
    pub(super) wan: bool,
    pub(super) lan: bool,
}

pub(super) fn dht_scope(public_network: bool, addr: &Multiaddr) -> DhtScope {
    if !public_network {
        return DhtScope {
            wan: true,
            lan: true,
        };
    }
    let public = is_public(addr);
    DhtScope {
        wan: public,
        lan: !public,
    }
}

/// Whether `addr` is reachable from the public internet: a DNS name, or an IP address outside
/// the loopback, private, link-local, shared (CGNAT), documentation, benchmarking and reserved
/// ranges.
pub fn is_public(addr: &Multiaddr) -> bool {
    use libp2p::multiaddr::Protocol;
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => {
            let [a, b, c, _] = ip.octets();
            !(ip.is_unspecified()
                || ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_broadcast()
                || ip.is_multicast()
                || ip.is_documentation()
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240
                || a == 0)
        }
        Some(Protocol::Ip6(ip)) => {
            let [first, second, ..] = ip.segments();
            !(ip.is_unspecified()
                || ip.is_loopback()
                || ip.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfec0
                || (first == 0x0100 && ip.segments()[1..4] == [0, 0, 0])
                || (first == 0x2001 && second == 0x0002 && ip.segments()[2] == 0)
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && second == 0x0db8)
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| !is_public(&Multiaddr::empty().with(Protocol::Ip4(v4)))))
        }
        Some(
            Protocol::Dns(name)
            | Protocol::Dns4(name)
            | Protocol::Dns6(name)
            | Protocol::Dnsaddr(name),
        ) => {
            // Names that only resolve on this machine or a local network.
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let local = ["localhost", "local", "internal", "home.arpa", "lan"]
                .iter()
                .any(|suffix| name == *suffix || name.ends_with(&format!(".{suffix}")));
            !local && name.contains('.')
        }
        _ => false,
    }
}

/// Whether `addr` is a loopback (or unspecified) IP address.
pub(super) fn is_loopback(addr: &Multiaddr) -> bool {
    use libp2p::multiaddr::Protocol;
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        _ => false,
    }
}

pub(super) fn is_quic(addr: &Multiaddr) -> bool {
    addr.iter()
        .any(|p| matches!(p, libp2p::multiaddr::Protocol::QuicV1))
}

pub(super) fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}
