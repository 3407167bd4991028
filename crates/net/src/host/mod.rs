//! The libp2p host: transport stack (TCP + Noise + Yamux, and QUIC v1), identity, listening
//! and dialing, and content routing on the IPFS Kademlia DHTs (`/ipfs/kad/1.0.0` and Kubo's LAN
//! DHT `/ipfs/lan/kad/1.0.0`: provider records keyed by multihash, as Kubo).

use crust_ipfs::Cid;
use futures::StreamExt as _;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, identify, identity, kad, noise, ping, tcp, yamux};
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

mod addrs;
mod event_loop;
#[cfg(test)]
mod tests;

pub use addrs::{IPFS_BOOTSTRAP, bootstrap_addrs, is_public};
use addrs::{is_loopback, is_quic, peer_of};
use event_loop::run;

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
    RoutingTableSize(oneshot::Sender<usize>),
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
pub(super) const LAN_DHT: libp2p::StreamProtocol =
    libp2p::StreamProtocol::new("/ipfs/lan/kad/1.0.0");

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

    /// Peers in the DHT routing tables (the public DHT's and the LAN DHT's).
    pub async fn routing_table_size(&self) -> Result<usize, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::RoutingTableSize(tx))
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
