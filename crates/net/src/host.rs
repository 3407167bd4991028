//! The libp2p host: transport stack (TCP + Noise + Yamux, and QUIC v1), identity, listening
//! and dialing, and content routing on the IPFS Kademlia DHTs (`/ipfs/kad/1.0.0` and Kubo's LAN
//! DHT `/ipfs/lan/kad/1.0.0`: provider records keyed by multihash, as Kubo).

use crust_ipfs::Cid;
use futures::StreamExt as _;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, identify, identity, kad, noise, ping, tcp, yamux};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How the host listens and who it is.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// The node key's 32-byte ed25519 seed (`crust_ipfs::identity::NodeKey::seed`).
    pub key_seed: [u8; 32],
    /// Addresses to listen on, e.g. `/ip4/127.0.0.1/tcp/0` or `/ip4/127.0.0.1/udp/0/quic-v1`.
    pub listen: Vec<Multiaddr>,
    /// DHT bootstrap peers (`…/p2p/<id>`): dialed at start and seeded into the routing table.
    pub bootstrap: Vec<Multiaddr>,
    /// Addresses others should dial (Identify, DHT provider records, the chain's peer record);
    /// empty = the bound listen addresses.
    pub announce: Vec<Multiaddr>,
}

/// Why the host failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Setting up the transport or listening failed.
    #[error("libp2p: {0}")]
    Setup(String),
    /// A dial failed.
    #[error("dialing {addr}: {reason}")]
    Dial {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The host has stopped.
    #[error("the network host has stopped")]
    Stopped,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    /// Kubo's second DHT for private networks (`/ipfs/lan/kad/1.0.0`), where private and (with
    /// Kubo's `Routing.LoopbackAddressesOnLanDHT`) loopback addresses count.
    lan: kad::Behaviour<kad::store::MemoryStore>,
    stream: libp2p_stream::Behaviour,
    bitswap: crate::inbound::Behaviour,
    limits: libp2p::connection_limits::Behaviour,
}

enum Command {
    Dial(Multiaddr, oneshot::Sender<Result<PeerId, NetError>>),
    Disconnect(PeerId),
    Peers(oneshot::Sender<Vec<(PeerId, Multiaddr)>>),
    Connect(PeerId, oneshot::Sender<Result<PeerId, NetError>>),
    Provide(Cid, oneshot::Sender<Result<(), NetError>>),
    FindProviders(Cid, oneshot::Sender<Vec<PeerId>>),
    Shutdown,
}

/// The DHT key of a CID: its multihash, as Kubo and Helia announce it.
fn dht_key(cid: &Cid) -> kad::RecordKey {
    let (code, digest) = cid.hash();
    let mut mh = Vec::with_capacity(digest.len() + 4);
    crust_ipfs::pb::put_varint(&mut mh, code);
    crust_ipfs::pb::put_varint(&mut mh, digest.len() as u64);
    mh.extend_from_slice(digest);
    kad::RecordKey::new(&mh)
}

/// Kubo's LAN DHT protocol.
const LAN_DHT: libp2p::StreamProtocol = libp2p::StreamProtocol::new("/ipfs/lan/kad/1.0.0");

/// A DHT speaking `protocol`, serving even without a confirmed public address (loopback, LANs).
fn dht(
    key: &identity::Keypair,
    protocol: libp2p::StreamProtocol,
) -> kad::Behaviour<kad::store::MemoryStore> {
    let id = key.public().to_peer_id();
    let mut config = kad::Config::new(protocol);
    config.set_query_timeout(Duration::from_secs(30));
    let mut kad = kad::Behaviour::with_config(id, kad::store::MemoryStore::new(id), config);
    kad.set_mode(Some(kad::Mode::Server));
    kad
}

/// A running host; dropping it does not stop the event loop (the runtime does).
#[derive(Clone)]
pub struct Host {
    peer_id: PeerId,
    listen_addrs: Vec<Multiaddr>,
    announce_addrs: Vec<Multiaddr>,
    control: libp2p_stream::Control,
    commands: mpsc::Sender<Command>,
    inbound: std::sync::Arc<std::sync::Mutex<Option<mpsc::Receiver<crate::inbound::Inbound>>>>,
}

/// Yamux streams per connection. Chosen so that the default 1 GiB connection receive window
/// leaves only 768 KiB for window auto-tuning, which keeps every stream's receive window at
/// 1 MiB or less: JavaScript yamux (Helia) sends data frames as large as the window allows,
/// and Rust yamux rejects frame bodies over 1 MiB by closing the whole connection (seen as
/// `FrameTooLarge(2097140)` when fetching from Helia with many wants in flight).
const YAMUX_MAX_STREAMS: usize = 4093;

fn yamux_config() -> yamux::Config {
    let mut config = yamux::Config::default();
    config.set_max_num_streams(YAMUX_MAX_STREAMS);
    config
}

/// Connections the host accepts: enough for a busy public node, bounded against floods.
pub const MAX_CONNECTIONS: u32 = 1024;
/// Connections to or from one peer (Kubo may dial over TCP and QUIC at once).
pub const MAX_CONNECTIONS_PER_PEER: u32 = 4;
/// Inbound connections still in their handshake.
pub const MAX_PENDING_INBOUND: u32 = 128;

fn connection_limits() -> libp2p::connection_limits::ConnectionLimits {
    libp2p::connection_limits::ConnectionLimits::default()
        .with_max_established(Some(MAX_CONNECTIONS))
        .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
        .with_max_pending_incoming(Some(MAX_PENDING_INBOUND))
}

/// The agent string peers see in Identify.
pub const AGENT: &str = concat!("crust/", env!("CARGO_PKG_VERSION"));

impl Host {
    /// Builds the host, starts listening and spawns its event loop on the current runtime.
    pub async fn start(config: NetConfig) -> Result<Self, NetError> {
        let setup = |e: &dyn std::fmt::Display| NetError::Setup(e.to_string());
        let mut seed = config.key_seed;
        let keypair = identity::Keypair::ed25519_from_bytes(&mut seed).map_err(|e| setup(&e))?;
        let protocols = crust_ipfs::bitswap::PROTOCOLS
            .iter()
            .map(|p| libp2p::StreamProtocol::new(p))
            .collect();
        let (bitswap, inbound) = crate::inbound::Behaviour::new(protocols);
        // `/dns*` and `/dnsaddr` addresses (Kubo's bootstrap peers) resolve through the system's
        // resolver, or Cloudflare's where the system has none configured (a bare container).
        let resolver = hickory_resolver::system_conf::read_system_conf().unwrap_or_else(|_| {
            (
                libp2p::dns::ResolverConfig::udp_and_tcp(&hickory_resolver::config::CLOUDFLARE),
                libp2p::dns::ResolverOpts::default(),
            )
        });
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux_config,
            )
            .map_err(|e| setup(&e))?
            .with_quic()
            .with_dns_config(resolver.0, resolver.1)
            .with_behaviour(|key| Behaviour {
                identify: identify::Behaviour::new(
                    identify::Config::new("/ipfs/0.1.0".into(), key.public())
                        .with_agent_version(AGENT.into()),
                ),
                ping: ping::Behaviour::default(),
                kad: dht(key, kad::PROTOCOL_NAME),
                lan: dht(key, LAN_DHT),
                stream: libp2p_stream::Behaviour::new(),
                bitswap,
                limits: libp2p::connection_limits::Behaviour::new(connection_limits()),
            })
            .map_err(|e| setup(&e))?
            .with_swarm_config(|c| {
                c.with_idle_connection_timeout(Duration::from_secs(120))
                    .with_max_negotiating_inbound_streams(1024)
            })
            .build();
        let mut listeners = HashSet::new();
        for addr in &config.listen {
            listeners.insert(swarm.listen_on(addr.clone()).map_err(|e| setup(&e))?);
        }
        // Wait until every listener reported a bound address (port 0 → real port; a wildcard
        // address reports one per interface, and more may follow later, see `run`).
        let mut listen_addrs = Vec::new();
        while !listeners.is_empty() {
            match tokio::time::timeout(Duration::from_secs(10), swarm.select_next_some()).await {
                Ok(SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                }) => {
                    listeners.remove(&listener_id);
                    listen_addrs.push(address);
                }
                Ok(SwarmEvent::ListenerError { error, .. }) => return Err(setup(&error)),
                Ok(_) => {}
                Err(_) => {
                    return Err(NetError::Setup(
                        "listeners did not start within 10 s".into(),
                    ));
                }
            }
        }
        // TCP first: scripts and tests take the first address, and every IPFS peer speaks TCP.
        listen_addrs.sort_by_key(is_quic);
        let peer_id = *swarm.local_peer_id();
        // Advertise where we can be dialed: Identify reports it, and DHT provider records
        // carry it (Kubo drops a provider record without addresses).
        // A node with a public bootstrap peer is on the public network: loopback addresses are
        // of no use to anyone there, and the public DHT's routing table takes only public
        // addresses (as Kubo's and Helia's WAN DHTs); private ones go to the LAN DHT. Without a
        // public bootstrap peer (a devnet, a LAN, tests on loopback) every address counts.
        let public = config.bootstrap.iter().any(is_public);
        let announce_addrs = if config.announce.is_empty() {
            listen_addrs
                .iter()
                .filter(|a| !public || !is_loopback(a))
                .cloned()
                .collect()
        } else {
            config.announce.clone()
        };
        for addr in &announce_addrs {
            swarm.add_external_address(addr.clone());
        }
        for addr in &config.bootstrap {
            let Some(peer) = peer_of(addr) else {
                return Err(NetError::Setup(format!(
                    "bootstrap address {addr} needs a /p2p/<peer id> suffix"
                )));
            };
            swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            swarm.behaviour_mut().lan.add_address(&peer, addr.clone());
            swarm.dial(addr.clone()).map_err(|e| setup(&e))?;
        }
        if !config.bootstrap.is_empty() {
            // Fill the routing tables from the bootstrap peers (a self-lookup).
            let _ = swarm.behaviour_mut().kad.bootstrap();
            let _ = swarm.behaviour_mut().lan.bootstrap();
        }
        let control = swarm.behaviour().stream.new_control();
        let (commands, rx) = mpsc::channel(64);
        tokio::spawn(run(swarm, rx, config.announce.is_empty(), public));
        Ok(Self {
            peer_id,
            listen_addrs,
            announce_addrs,
            control,
            commands,
            inbound: std::sync::Arc::new(std::sync::Mutex::new(Some(inbound))),
        })
    }

    /// This node's peer ID.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses the host listens on.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }

    /// The addresses the host tells others to dial.
    pub fn announce_addrs(&self) -> &[Multiaddr] {
        &self.announce_addrs
    }

    /// A handle for opening and accepting protocol streams.
    pub fn control(&self) -> libp2p_stream::Control {
        self.control.clone()
    }

    /// The queue of inbound Bitswap streams; the first caller gets it (the exchange).
    pub fn take_inbound(&self) -> Option<mpsc::Receiver<crate::inbound::Inbound>> {
        self.inbound.lock().ok()?.take()
    }

    /// Closes every connection to `peer` (a penalized or banned peer).
    pub async fn disconnect(&self, peer: PeerId) {
        let _ = self.commands.send(Command::Disconnect(peer)).await;
    }

    /// Stops the host: closes every connection and listener (the node leaves the network).
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }

    /// The connected peers and the remote address of one connection to each.
    pub async fn peers(&self) -> Result<Vec<(PeerId, Multiaddr)>, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Peers(tx))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Connects to `peer` at the addresses the DHT knows for it.
    pub async fn connect(&self, peer: PeerId) -> Result<PeerId, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Connect(peer, tx))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Announces on the DHT that this node provides `cid`.
    pub async fn provide(&self, cid: Cid) -> Result<(), NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Provide(cid, tx))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Looks up the providers of `cid` on the DHT (this node excluded).
    pub async fn find_providers(&self, cid: Cid) -> Result<Vec<PeerId>, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::FindProviders(cid, tx))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Connects to `addr` (which must end in `/p2p/<peer id>`), returning the peer.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Dial(addr, tx))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }
}

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
struct DhtScope {
    wan: bool,
    lan: bool,
}

fn dht_scope(public_network: bool, addr: &Multiaddr) -> DhtScope {
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
fn is_loopback(addr: &Multiaddr) -> bool {
    use libp2p::multiaddr::Protocol;
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        _ => false,
    }
}

fn is_quic(addr: &Multiaddr) -> bool {
    addr.iter()
        .any(|p| matches!(p, libp2p::multiaddr::Protocol::QuicV1))
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// Moves a provide or provider lookup along as one of its DHT queries progresses.
fn on_query(
    key: (bool, kad::QueryId),
    result: kad::QueryResult,
    last: bool,
    queries: &mut HashMap<(bool, kad::QueryId), u64>,
    providing: &mut HashMap<u64, Providing>,
    finding: &mut HashMap<u64, Finding>,
    me: &PeerId,
) {
    match result {
        kad::QueryResult::StartProviding(outcome) => {
            let Some(request) = queries.remove(&key) else {
                return;
            };
            let Some(p) = providing.get_mut(&request) else {
                return;
            };
            p.left -= 1;
            p.ok |= outcome.is_ok();
            if let Err(e) = outcome {
                p.error = Some(e.to_string());
            }
            if p.left == 0
                && let Some(p) = providing.remove(&request)
            {
                let result = if p.ok {
                    Ok(())
                } else {
                    Err(NetError::Setup(format!(
                        "provide: {}",
                        p.error.unwrap_or_default()
                    )))
                };
                let _ = p.reply.send(result);
            }
        }
        kad::QueryResult::GetProviders(outcome) => {
            let Some(request) = queries.get(&key).copied() else {
                return;
            };
            if let (Ok(kad::GetProvidersOk::FoundProviders { providers, .. }), Some(f)) =
                (outcome, finding.get_mut(&request))
            {
                f.found.extend(providers.into_iter().filter(|p| p != me));
                // Answer with the first providers found: a query keeps asking peers (some long
                // gone) until it times out.
                if !f.found.is_empty()
                    && let Some(f) = finding.remove(&request)
                {
                    let _ = f.reply.send(f.found.into_iter().collect());
                }
            }
            if last {
                queries.remove(&key);
                if let Some(f) = finding.get_mut(&request) {
                    f.left -= 1;
                    if f.left == 0
                        && let Some(f) = finding.remove(&request)
                    {
                        let _ = f.reply.send(f.found.into_iter().collect());
                    }
                }
            }
        }
        _ => {}
    }
}

/// Stops the DHT queries of lookups already answered (the first providers found), so they do
/// not keep asking peers until their timeout.
fn finish_answered(
    swarm: &mut libp2p::Swarm<Behaviour>,
    queries: &mut HashMap<(bool, kad::QueryId), u64>,
    providing: &HashMap<u64, Providing>,
    finding: &HashMap<u64, Finding>,
) {
    queries.retain(|&(lan, id), request| {
        if providing.contains_key(request) || finding.contains_key(request) {
            return true;
        }
        let b = swarm.behaviour_mut();
        let dht = if lan { &mut b.lan } else { &mut b.kad };
        if let Some(mut query) = dht.query_mut(&id) {
            query.finish();
        }
        false
    });
}

/// A provide on both DHTs: done when both are; succeeds if either stored the record.
struct Providing {
    left: usize,
    ok: bool,
    error: Option<String>,
    reply: oneshot::Sender<Result<(), NetError>>,
}

/// A provider lookup on both DHTs: answers with the first providers found, or with none once
/// both queries are over.
struct Finding {
    left: usize,
    found: HashSet<PeerId>,
    reply: oneshot::Sender<Vec<PeerId>>,
}

async fn run(
    mut swarm: libp2p::Swarm<Behaviour>,
    mut commands: mpsc::Receiver<Command>,
    announce_listen_addrs: bool,
    public: bool,
) {
    let mut pending: HashMap<PeerId, Vec<oneshot::Sender<Result<PeerId, NetError>>>> =
        HashMap::new();
    let mut connected: HashMap<PeerId, Multiaddr> = HashMap::new();
    // A provide or a lookup runs on both DHTs; it answers once both queries are done.
    let mut providing: HashMap<u64, Providing> = HashMap::new();
    let mut finding: HashMap<u64, Finding> = HashMap::new();
    // Query ids count per DHT, so they are kept with the DHT they belong to (`true` = LAN).
    let mut queries: HashMap<(bool, kad::QueryId), u64> = HashMap::new();
    let mut next_request = 0u64;
    let me = *swarm.local_peer_id();
    loop {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                    connected.insert(peer_id, endpoint.get_remote_address().clone());
                    for reply in pending.remove(&peer_id).unwrap_or_default() {
                        let _ = reply.send(Ok(peer_id));
                    }
                }
                // Learn DHT addresses from Identify, for peers that speak a DHT.
                SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                    let wan = info.protocols.contains(&kad::PROTOCOL_NAME);
                    let lan = info.protocols.contains(&LAN_DHT);
                    for addr in info.listen_addrs {
                        let scope = dht_scope(public, &addr);
                        if wan && scope.wan {
                            swarm.behaviour_mut().kad.add_address(&peer_id, addr.clone());
                        }
                        if lan && scope.lan {
                            swarm.behaviour_mut().lan.add_address(&peer_id, addr);
                        }
                    }
                }
                SwarmEvent::Behaviour(
                    BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed { id, result, step, .. }),
                ) => {
                    on_query((false, id), result, step.last, &mut queries, &mut providing, &mut finding, &me);
                    finish_answered(&mut swarm, &mut queries, &providing, &finding);
                }
                SwarmEvent::Behaviour(
                    BehaviourEvent::Lan(kad::Event::OutboundQueryProgressed { id, result, step, .. }),
                ) => {
                    on_query((true, id), result, step.last, &mut queries, &mut providing, &mut finding, &me);
                    finish_answered(&mut swarm, &mut queries, &providing, &finding);
                }
                // An interface that came up later (wildcard listeners) is dialable too.
                SwarmEvent::NewListenAddr { address, .. }
                    if announce_listen_addrs && !(public && is_loopback(&address)) =>
                {
                    swarm.add_external_address(address);
                }
                SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                    connected.remove(&peer_id);
                }
                SwarmEvent::OutgoingConnectionError { peer_id: Some(peer_id), error, .. } => {
                    for reply in pending.remove(&peer_id).unwrap_or_default() {
                        let _ = reply.send(Err(NetError::Dial { addr: peer_id.to_string(), reason: error.to_string() }));
                    }
                }
                _ => {}
            },
            command = commands.recv() => match command {
                Some(Command::Dial(addr, reply)) => {
                    let Some(peer) = peer_of(&addr) else {
                        let _ = reply.send(Err(NetError::Dial { addr: addr.to_string(), reason: "the address needs a /p2p/<peer id> suffix".into() }));
                        continue;
                    };
                    if swarm.is_connected(&peer) {
                        let _ = reply.send(Ok(peer));
                        continue;
                    }
                    match swarm.dial(addr.clone()) {
                        Ok(()) => pending.entry(peer).or_default().push(reply),
                        Err(e) => {
                            let _ = reply.send(Err(NetError::Dial { addr: addr.to_string(), reason: e.to_string() }));
                        }
                    }
                }
                Some(Command::Disconnect(peer)) => {
                    let _ = swarm.disconnect_peer_id(peer);
                }
                Some(Command::Shutdown) => return,
                Some(Command::Connect(peer, reply)) => {
                    if swarm.is_connected(&peer) {
                        let _ = reply.send(Ok(peer));
                        continue;
                    }
                    match swarm.dial(DialOpts::peer_id(peer).build()) {
                        Ok(()) => pending.entry(peer).or_default().push(reply),
                        Err(e) => {
                            let _ = reply.send(Err(NetError::Dial { addr: peer.to_string(), reason: e.to_string() }));
                        }
                    }
                }
                Some(Command::Provide(cid, reply)) => {
                    next_request += 1;
                    let b = swarm.behaviour_mut();
                    let started = [(false, b.kad.start_providing(dht_key(&cid))), (true, b.lan.start_providing(dht_key(&cid)))];
                    let mut p = Providing { left: 0, ok: false, error: None, reply };
                    for (lan, s) in started {
                        match s {
                            Ok(id) => {
                                queries.insert((lan, id), next_request);
                                p.left += 1;
                            }
                            Err(e) => p.error = Some(e.to_string()),
                        }
                    }
                    if p.left == 0 {
                        let _ = p.reply.send(Err(NetError::Setup(format!("provide: {}", p.error.unwrap_or_default()))));
                    } else {
                        providing.insert(next_request, p);
                    }
                }
                Some(Command::FindProviders(cid, reply)) => {
                    next_request += 1;
                    let b = swarm.behaviour_mut();
                    for key in [(false, b.kad.get_providers(dht_key(&cid))), (true, b.lan.get_providers(dht_key(&cid)))] {
                        queries.insert(key, next_request);
                    }
                    finding.insert(next_request, Finding { left: 2, found: HashSet::new(), reply });
                }
                Some(Command::Peers(reply)) => {
                    let _ = reply.send(connected.iter().map(|(p, a)| (*p, a.clone())).collect());
                }
                None => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
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
}
