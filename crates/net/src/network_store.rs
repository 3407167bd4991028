//! A blockstore that fetches what it lacks from the data network.
//!
//! Kubo's gateway and RPC API answer for any CID on IPFS, not just local blocks: a missing
//! block is asked of the connected peers, then of the DHT's providers, and kept in the local
//! store (unpinned, so garbage collection may drop it again). [`NetworkStore`] does the same
//! for the daemon's gateway and API. Reads that must stay local (`only-if-cached`) use
//! [`Blockstore::has`], which never goes to the network.
//!
//! Blocks are fetched one at a time, as the reader asks for them; `crust fetch` (a whole DAG
//! with many wants in flight) is the fast path for large files.

use crate::exchange::Exchange;
use crate::host::Host;
use crust_ipfs::blockstore::{Blockstore, StoreError};
use crust_ipfs::{Block, Cid};
use libp2p::PeerId;
use std::sync::Arc;
use std::time::Duration;

/// How long the connected peers have to deliver a missing block before the DHT is asked.
pub const CONNECTED_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a DHT provider lookup may take.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the providers found have to deliver the block.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(30);

/// The local store, backed by Bitswap for blocks it lacks.
pub struct NetworkStore {
    local: Arc<dyn Blockstore>,
    host: Host,
    exchange: Arc<Exchange>,
}

impl NetworkStore {
    /// Reads from `local`, fetching missing blocks over `exchange` and keeping them there.
    pub fn new(local: Arc<dyn Blockstore>, host: Host, exchange: Arc<Exchange>) -> Self {
        Self {
            local,
            host,
            exchange,
        }
    }

    /// Fetches `cid` from the network. Only possible from a thread that may block inside the
    /// multi-threaded runtime (a blocking task, or a worker via `block_in_place`); elsewhere
    /// the block is simply missing.
    fn fetch(&self, cid: &Cid) -> Option<Block> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return None;
        }
        tokio::task::block_in_place(|| handle.block_on(self.fetch_async(*cid)))
    }

    /// Fetches whatever the local store lacks of the DAG under `root` with many wants in
    /// flight (a whole file for `pin/add`), from the connected peers and the root's DHT
    /// providers. Without any peer it does nothing: the caller finds out what is missing.
    pub async fn fetch_dag(&self, root: Cid) -> Result<(), crate::exchange::ExchangeError> {
        let mut peers = self.connected().await;
        if !self.local.has(&root) {
            let providers = self.providers(root, &peers).await;
            peers.extend(providers);
        }
        if peers.is_empty() {
            return Ok(());
        }
        let options = crate::exchange::FetchOptions {
            block_timeout: PROVIDER_TIMEOUT,
            ..Default::default()
        };
        self.exchange
            .fetch_dag_into(&*self.local, &peers, root, &options, &mut |_| {})
            .await
            .map(|_| ())
    }

    async fn fetch_async(&self, cid: Cid) -> Option<Block> {
        let connected = self.connected().await;
        if !connected.is_empty()
            && let Ok(block) = self
                .exchange
                .get_block(&connected, cid, CONNECTED_TIMEOUT)
                .await
        {
            return Some(block);
        }
        let providers = self.providers(cid, &[]).await;
        if providers.is_empty() {
            return None;
        }
        self.exchange
            .get_block(&providers, cid, PROVIDER_TIMEOUT)
            .await
            .ok()
    }

    /// The peers connected now.
    async fn connected(&self) -> Vec<PeerId> {
        match self.host.peers().await {
            Ok(list) => list.into_iter().map(|(p, _)| p).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The DHT's providers of `cid` this host could connect to, leaving out `known`.
    async fn providers(&self, cid: Cid, known: &[PeerId]) -> Vec<PeerId> {
        let Ok(Ok(found)) =
            tokio::time::timeout(LOOKUP_TIMEOUT, self.host.find_providers(cid)).await
        else {
            return Vec::new();
        };
        let mut peers = Vec::new();
        for provider in found.into_iter().filter(|p| !known.contains(p)) {
            if let Ok(Ok(peer)) =
                tokio::time::timeout(CONNECTED_TIMEOUT, self.host.connect(provider)).await
            {
                peers.push(peer);
            }
        }
        peers
    }
}

impl Blockstore for NetworkStore {
    fn get(&self, cid: &Cid) -> Result<Option<bytes::Bytes>, StoreError> {
        if let Some(data) = self.local.get(cid)? {
            return Ok(Some(data));
        }
        let Some(block) = self.fetch(cid) else {
            return Ok(None);
        };
        // The exchange checked the block against its CID; keep it for the next reader.
        self.local.put(&block)?;
        Ok(Some(block.data))
    }

    /// Local only: serving peers never fetches on their behalf.
    fn get_unverified(&self, cid: &Cid) -> Result<Option<bytes::Bytes>, StoreError> {
        self.local.get_unverified(cid)
    }

    fn has(&self, cid: &Cid) -> bool {
        self.local.has(cid)
    }

    /// Fetches the block when it is missing (readers size raw leaves before reading them).
    fn size(&self, cid: &Cid) -> Option<u64> {
        self.local
            .size(cid)
            .or_else(|| Some(self.get(cid).ok()??.len() as u64))
    }

    fn put(&self, block: &Block) -> Result<(), StoreError> {
        self.local.put(block)
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.local.sync()
    }
}
