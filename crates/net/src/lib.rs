//! The open data network: how storage nodes fetch ordered files from whoever has them and
//! serve them back to anyone on IPFS.
//!
//! [`host`] runs a libp2p host (TCP, Noise, Yamux, Identify, Ping) with the node's persisted
//! ed25519 key; [`exchange`] speaks Bitswap (1.2.0, with the 1.1.0/1.0.0 ids registered) on it,
//! as a server answering wants from the blockstore and as a client fetching whole DAGs with
//! many wants in flight over several peers; [`ledger`] keeps each peer's credit account, which
//! sets how much the server sends it; [`queue`] shares the server's upload among peers in credit
//! order when they compete for it. The wire format lives in `crust_ipfs::bitswap`.

pub mod exchange;
pub mod host;
pub mod inbound;
pub mod ledger;
pub mod memory;
pub mod metrics;
pub mod network_store;
pub mod queue;

pub use exchange::{Exchange, FetchOptions, FetchProgress};
pub use host::{Host, IPFS_BOOTSTRAP, NetConfig, NetError, bootstrap_addrs, is_public};
pub use libp2p::{Multiaddr, PeerId, multiaddr};
pub use memory::NetMemory;
pub use network_store::NetworkStore;
