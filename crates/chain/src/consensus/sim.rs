//! Real validators (store, mempool, execution, marshal, simplex) in Commonware's deterministic
//! runtime over its simulated network: the harness of the consensus tests and of the
//! wide-area benchmark (`benches/wide_area.rs`). Time is simulated; a run is reproducible from
//! its seed.

// A harness for tests and benchmarks: a setup that cannot work (a channel registered twice, a
// state that does not open in simulated storage) is a bug in the caller, reported by panicking.
#![allow(clippy::panic)]

use super::app::SharedCore;
use super::node::{
    CH_BACKFILL, CH_BROADCAST, CH_CERTS, CH_RESOLVER, CH_TXS, CH_VOTES, Channels, ValidatorConfig,
    channel_quota, max_message_size, start_validator,
};
use super::{PublicKey, Timeouts, consensus_key, namespace};
use crate::spec::ChainSpec;
use commonware_cryptography::Signer as _;
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{Handle, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::{NZU64, NZUsize, ordered::Set};
use crust_primitives::Keypair;
use std::sync::Arc;

/// Each simulated validator's chain state, once it has opened it (by index).
pub type Cores = Arc<std::sync::Mutex<Vec<Option<SharedCore<deterministic::Context>>>>>;

/// The simulated network among `keys`, with the link from `keys[i]` to `keys[j]` given by
/// `link(i, j)` (`None`: no link).
pub async fn network(
    context: &deterministic::Context,
    keys: &[PublicKey],
    link: impl Fn(usize, usize) -> Option<Link>,
) -> Oracle<PublicKey, deterministic::Context> {
    let participants = Set::from_iter_dedup(keys.iter().cloned());
    let (network, oracle) = Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: max_message_size(participants.len()),
            max_peers_per_set: std::num::NonZeroUsize::new(participants.len())
                .unwrap_or(NZUsize!(1)),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        participants.iter().cloned(),
    )
    .await;
    network.start();
    let index = |k: &PublicKey| keys.iter().position(|x| x == k);
    for a in participants.iter() {
        for b in participants.iter() {
            if a == b {
                continue;
            }
            let (Some(i), Some(j)) = (index(a), index(b)) else {
                continue;
            };
            if let Some(l) = link(i, j) {
                // Only fails for a link added twice, which this loop never does.
                let _ = oracle.add_link(a.clone(), b.clone(), l).await;
            }
        }
    }
    oracle
}

/// Starts validator `index` (session key `session`) of a `committee`-member network on `spec`,
/// recording its chain state in `cores[index]`. Its tasks hang off the returned handle.
pub async fn spawn_validator(
    context: &deterministic::Context,
    oracle: &Oracle<PublicKey, deterministic::Context>,
    spec: &ChainSpec,
    session: &Keypair,
    index: usize,
    committee: usize,
    cores: Cores,
) -> Handle<()> {
    let signer = consensus_key(session);
    let control = oracle.control(signer.public_key());
    let reg = async |ch| control.register(ch, channel_quota(ch)).await;
    let (Ok(votes), Ok(certs), Ok(resolver), Ok(backfill), Ok(broadcast), Ok(txs)) = (
        reg(CH_VOTES).await,
        reg(CH_CERTS).await,
        reg(CH_RESOLVER).await,
        reg(CH_BACKFILL).await,
        reg(CH_BROADCAST).await,
        reg(CH_TXS).await,
    ) else {
        panic!("a simulated channel was registered twice");
    };
    let channels = Channels {
        votes,
        certs,
        resolver,
        backfill,
        broadcast,
    };
    let (gossip_tx, gossip_rx) = txs;
    let blocker = control.clone();
    let manager = oracle.manager();
    let spec = spec.clone();
    context
        .child("validator")
        .with_attribute("index", index)
        .spawn(move |ctx| async move {
            let Ok((core, genesis_block)) = crate::service::open_chain(
                ctx.child("store"),
                &spec,
                &format!("node{index}-state"),
            )
            .await
            else {
                panic!("validator {index}: cannot open its chain state");
            };
            let (outbox, queued) = crate::gossip::Outbox::new();
            core.lock().await.gossip = Some(outbox);
            ctx.child("gossip").spawn({
                let (core, blocker) = (core.clone(), blocker.clone());
                let max = max_message_size(committee) as usize;
                move |ctx| crate::gossip::run(ctx, core, queued, gossip_tx, gossip_rx, blocker, max)
            });
            if let Some(slot) = cores
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(index)
            {
                *slot = Some(core.clone());
            }
            let era_blocks = spec.report_slot_blocks.saturating_mul(spec.slots_per_era);
            let config = ValidatorConfig {
                prefix: format!("node{index}"),
                signer,
                core,
                genesis: super::app::genesis_digest(&genesis_block),
                genesis_block,
                era_blocks: std::num::NonZeroU64::new(era_blocks).unwrap_or(NZU64!(1)),
                namespace: namespace(&spec.id),
                timeouts: Timeouts::for_block_time(spec.block_time_ms),
                leftover_eras: Vec::new(),
            };
            let handle = start_validator(ctx, config, channels, blocker, manager).await;
            let _ = handle.await;
        })
}

/// Each validator's last finalized height (0 for one not started, or busy right now).
pub fn tips(cores: &Cores) -> Vec<u64> {
    cores
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|c| {
            c.as_ref()
                .and_then(|c| c.try_lock().map(|g| g.last_finalized.0))
                .unwrap_or(0)
        })
        .collect()
}
