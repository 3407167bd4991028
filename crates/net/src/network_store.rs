//! A blockstore that fetches what it lacks from the data network.
//!
//! Kubo's gateway and RPC API answer for any CID on IPFS, not just local blocks: a missing
//! block is asked of the connected peers, then of the DHT's providers, and kept in the local
//! store (unpinned, so garbage collection may drop it again). [`NetworkStore`] does the same
//! for the daemon's gateway and API. Reads that must stay local (`only-if-cached`) use
//! [`Blockstore::has`], which never goes to the network.
//!
//! A reader walks a file's DAG node by node, so a block fetched from the network has its
//! children fetched ahead ([`PREFETCH_WINDOW`] at a time, from the connected peers): a file read
//! through the gateway streams instead of paying one round trip per block. Only blocks this store
//! brought in have their children fetched ahead, so reads of local content cost nothing extra,
//! and a read that stops early (a range, a HEAD) wastes at most one node's children per node it
//! touched. A reader that asks for a block already on its way waits for that fetch instead of
//! asking again, as a second copy would arrive unsolicited.

use crate::exchange::Exchange;
use crate::host::Host;
use crust_ipfs::blockstore::{Blockstore, StoreError};
use crust_ipfs::{Block, Cid};
use futures::StreamExt;
use futures::future::{BoxFuture, FutureExt, Shared};
use libp2p::PeerId;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long the connected peers have to deliver a missing block before the DHT is asked.
pub const CONNECTED_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a DHT provider lookup may take.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the providers found have to deliver the block.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(30);
/// Children of a fetched node asked for at once, ahead of the reader.
pub const PREFETCH_WINDOW: usize = 32;
/// Most children of one node fetched ahead: a file node has at most 174, a big directory's
/// entries are fetched as they are read.
pub const MAX_LOOK_AHEAD: usize = 256;
/// Most fetched blocks remembered as not yet looked ahead of (a bound on memory only; the set
/// starts over when full).
const MAX_FRONTIER: usize = 65_536;
/// Most look-ahead fetches under way at once across all readers: many small reads of wide DAGs
/// cannot multiply the node's wants without bound (a reader's own fetches are not limited).
pub const LOOK_AHEAD_BUDGET: usize = 256;

/// A fetch under way that several readers may wait for; it yields the block, already stored.
type Pending = Shared<BoxFuture<'static, Option<Block>>>;

/// The local store, backed by Bitswap for blocks it lacks.
pub struct NetworkStore {
    local: Arc<dyn Blockstore>,
    host: Host,
    exchange: Arc<Exchange>,
    /// Fetches under way, by CID.
    pending: Arc<Mutex<HashMap<Cid, Pending>>>,
    /// Blocks this store fetched whose children it has not fetched ahead yet.
    frontier: Mutex<HashSet<Cid>>,
    /// Look-ahead fetches that may still start (see [`LOOK_AHEAD_BUDGET`]).
    budget: Arc<tokio::sync::Semaphore>,
}

impl NetworkStore {
    /// Reads from `local`, fetching missing blocks over `exchange` and keeping them there.
    pub fn new(local: Arc<dyn Blockstore>, host: Host, exchange: Arc<Exchange>) -> Self {
        Self::with_memory(local, host, exchange, &crate::NetMemory::default())
    }

    /// [`NetworkStore::new`] with at most `memory.look_ahead` look-ahead fetches under way.
    pub fn with_memory(
        local: Arc<dyn Blockstore>,
        host: Host,
        exchange: Arc<Exchange>,
        memory: &crate::NetMemory,
    ) -> Self {
        Self {
            local,
            host,
            exchange,
            pending: Arc::default(),
            frontier: Mutex::default(),
            budget: Arc::new(tokio::sync::Semaphore::new(memory.look_ahead.max(1))),
        }
    }

    /// Fetches `cid` from the network (joining a fetch already under way) and keeps it. Only
    /// possible from a thread that may block inside the multi-threaded runtime (a blocking
    /// task, or a worker via `block_in_place`); elsewhere the block is simply missing.
    fn fetch(&self, cid: &Cid) -> Option<Block> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return None;
        }
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let ahead = lock(&self.pending).get(cid).cloned();
                if let Some(ahead) = ahead
                    && let Some(block) = ahead.await
                {
                    return Some(block);
                }
                let (fetch, _) = self.pending(*cid, true);
                fetch.await
            })
        })
    }

    /// The fetch of `cid`, joined if under way, else started: from the connected peers, then
    /// (if `providers`) from the DHT's providers. The flag says whether it was started here.
    fn pending(&self, cid: Cid, providers: bool) -> (Pending, bool) {
        let mut pending = lock(&self.pending);
        if let Some(fetch) = pending.get(&cid) {
            return (fetch.clone(), false);
        }
        let (local, host, exchange) =
            (self.local.clone(), self.host.clone(), self.exchange.clone());
        let registry = self.pending.clone();
        let fetch = async move {
            // Leaves the registry however the fetch ends (a panic included), after the store.
            let _unregister = Unregister(registry, cid);
            // A fetch that just finished stored the block before leaving the registry.
            if let Ok(Some(data)) = local.get(&cid) {
                return Some(Block { cid, data });
            }
            let block = fetch_block(&host, &exchange, cid, providers).await;
            // The exchange checked the block against its CID; keep it for the next reader.
            block.filter(|b| local.put(b).is_ok())
        }
        .boxed()
        .shared();
        pending.insert(cid, fetch.clone());
        (fetch, true)
    }

    /// Fetches the children of `block` (just fetched, or reached by a reader for the first time
    /// after being fetched ahead) that the local store lacks, in the background.
    fn look_ahead(&self, cid: &Cid, data: &[u8]) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let links = crust_ipfs::links::links(cid, data).unwrap_or_default();
        let mut started = Vec::new();
        for link in links.into_iter().take(MAX_LOOK_AHEAD) {
            if self.local.has(&link) || lock(&self.pending).contains_key(&link) {
                continue;
            }
            let Ok(permit) = self.budget.clone().try_acquire_owned() else {
                break;
            };
            let (fetch, new) = self.pending(link, false);
            if new {
                // Raw leaves have nothing below them to look ahead for.
                if link.codec() != crust_primitives::cid::RAW {
                    let mut frontier = lock(&self.frontier);
                    if frontier.len() >= MAX_FRONTIER {
                        frontier.clear();
                    }
                    frontier.insert(link);
                }
                started.push(async move {
                    let _permit = permit;
                    fetch.await
                });
            }
        }
        if started.is_empty() {
            return;
        }
        handle.spawn(
            futures::stream::iter(started)
                .buffered(PREFETCH_WINDOW)
                .for_each(|_| async {}),
        );
    }

    /// Fetches whatever the local store lacks of the DAG under `root` with many wants in
    /// flight (a whole file for `pin/add`), from the connected peers and the root's DHT
    /// providers. Without any peer it does nothing: the caller finds out what is missing.
    pub async fn fetch_dag(&self, root: Cid) -> Result<(), crate::exchange::ExchangeError> {
        let mut peers = connected(&self.host).await;
        if !self.local.has(&root) {
            let providers = find_providers(&self.host, root, &peers).await;
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
}

/// One block from the connected peers, then (if `providers`) from the DHT's providers.
async fn fetch_block(host: &Host, exchange: &Exchange, cid: Cid, providers: bool) -> Option<Block> {
    let peers = connected(host).await;
    if !peers.is_empty()
        && let Ok(block) = exchange.get_block(&peers, cid, CONNECTED_TIMEOUT).await
    {
        return Some(block);
    }
    if !providers {
        return None;
    }
    let found = find_providers(host, cid, &[]).await;
    if found.is_empty() {
        return None;
    }
    exchange.get_block(&found, cid, PROVIDER_TIMEOUT).await.ok()
}

/// The peers connected now.
async fn connected(host: &Host) -> Vec<PeerId> {
    match host.peers().await {
        Ok(list) => list.into_iter().map(|(p, _)| p).collect(),
        Err(_) => Vec::new(),
    }
}

/// The DHT's providers of `cid` the host could connect to, leaving out `known`.
async fn find_providers(host: &Host, cid: Cid, known: &[PeerId]) -> Vec<PeerId> {
    let Ok(Ok(found)) = tokio::time::timeout(LOOKUP_TIMEOUT, host.find_providers(cid)).await else {
        return Vec::new();
    };
    let mut peers = Vec::new();
    for provider in found.into_iter().filter(|p| !known.contains(p)) {
        if let Ok(Ok(peer)) = tokio::time::timeout(CONNECTED_TIMEOUT, host.connect(provider)).await
        {
            peers.push(peer);
        }
    }
    peers
}

/// Removes a fetch from the registry when dropped.
struct Unregister(Arc<Mutex<HashMap<Cid, Pending>>>, Cid);

impl Drop for Unregister {
    fn drop(&mut self) {
        lock(&self.0).remove(&self.1);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Blockstore for NetworkStore {
    fn get(&self, cid: &Cid) -> Result<Option<bytes::Bytes>, StoreError> {
        if let Some(data) = self.local.get(cid)? {
            // Fetched ahead and reached now: the reader goes on below it.
            if lock(&self.frontier).remove(cid) {
                self.look_ahead(cid, &data);
            }
            return Ok(Some(data));
        }
        let Some(block) = self.fetch(cid) else {
            return Ok(None);
        };
        lock(&self.frontier).remove(cid);
        self.look_ahead(cid, &block.data);
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
