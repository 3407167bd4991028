//! Per-block sWork work, all bounded per block and resumable (D5): applying queued replica
//! changes to the market, purging replicas of replaced or departed workers, and the slot-end
//! workload consolidation.

use super::{
    Consolidation, IDENTITY_BATCH, Identity, NEW_IDENTITY, QueuedReplica, REPLICA_BATCH,
    RoundTotals, SworkError, SworkEvent, identities_prefix, params, put_identity, reported_in_slot,
    work_report,
};
use crate::market::{self, Anchor, ReplicaReport, StorageSupply};
use crate::state::{State, StateExt, key};
use crate::{Event, system};
use crust_primitives::codec::{decode, max_items};
use crust_primitives::{AccountId, BlockHeight};

const MODULE: &str = "swork";

fn queue_key(seq: u64) -> Vec<u8> {
    key(MODULE, "queue", &[&seq.to_be_bytes()])
}
fn queue_prefix() -> Vec<u8> {
    key(MODULE, "queue", &[])
}
fn queue_tail_key() -> Vec<u8> {
    key(MODULE, "queue_tail", &[])
}
fn purge_prefix() -> Vec<u8> {
    key(MODULE, "purge", &[])
}
fn purge_key(anchor: &Anchor, owner: Option<&AccountId>) -> Vec<u8> {
    match owner {
        Some(o) => key(MODULE, "purge", &[anchor, &[1], o.as_bytes()]),
        None => key(MODULE, "purge", &[anchor, &[0]]),
    }
}
fn consolidation_key() -> Vec<u8> {
    key(MODULE, "consolidation", &[])
}
fn workload_key(slot: u64, owner: &AccountId) -> Vec<u8> {
    key(MODULE, "workload", &[&slot.to_be_bytes(), owner.as_bytes()])
}
fn workload_prefix() -> Vec<u8> {
    key(MODULE, "workload", &[])
}

/// Queues a replica change for the market.
pub(super) fn enqueue(state: &mut impl State, item: &QueuedReplica) -> Result<(), SworkError> {
    let tail: u64 = state.read_or_default(&queue_tail_key())?;
    state.write(&queue_key(tail), item);
    state.write(&queue_tail_key(), &(tail + 1));
    Ok(())
}

/// Replica changes waiting for the market.
pub fn queued_replicas(state: &impl State) -> usize {
    state.scan(&queue_prefix(), None, usize::MAX).len()
}

/// Schedules removal of the replicas held by `anchor` (all, or those counted for `owner`).
pub(super) fn schedule_purge(state: &mut impl State, anchor: &Anchor, owner: Option<&AccountId>) {
    state.write(&purge_key(anchor, owner), &None::<Vec<u8>>);
}

/// The progress and results of the slot-end consolidation.
pub fn consolidation(state: &impl State) -> Result<Consolidation, SworkError> {
    Ok(state.read_or_default(&consolidation_key())?)
}

/// An owner's workload (free + spower of its counting identities) from the last completed
/// slot-end consolidation: what its stake limit is computed from.
pub fn workload(state: &impl State, owner: &AccountId) -> Result<u128, SworkError> {
    let Some(done) = consolidation(state)?.completed else {
        return Ok(0);
    };
    Ok(state.read_or_default(&workload_key(done.slot, owner))?)
}

/// Runs sWork's start-of-block work at `height`.
pub fn on_initialize(state: &mut impl State, height: BlockHeight) -> Result<(), SworkError> {
    apply_queued_replicas(state, height)?;
    run_purges(state, height)?;
    consolidate(state, height)?;
    prune_old_workloads(state)
}

fn apply_queued_replicas(state: &mut impl State, height: BlockHeight) -> Result<(), SworkError> {
    for (k, v) in state.scan(&queue_prefix(), None, REPLICA_BATCH) {
        state.delete(&k);
        let Ok(item) = decode::<QueuedReplica>(&v) else {
            continue;
        };
        if item.added {
            let report = ReplicaReport {
                cid: item.cid,
                who: item.reporter,
                owner: item.owner,
                anchor: item.anchor,
                valid_at: item.report_block,
                reported_size: item.size,
            };
            // D30: with challenges on, a replica earns only once proven.
            if params(state)?.challenges {
                let deadline = super::prove_deadline(state, height)?;
                market::add_pending(state, height, &report, deadline)?;
            } else {
                market::add_replica(state, height, &report)?;
            }
        } else {
            market::remove_pending(state, &item.anchor, &item.cid, &item.owner)?;
            market::remove_replica(state, height, &item.cid, &item.reporter, &item.owner)?;
        }
    }
    Ok(())
}

fn run_purges(state: &mut impl State, height: BlockHeight) -> Result<(), SworkError> {
    let prefix = purge_prefix();
    for (k, v) in state.scan(&prefix, None, 4) {
        let rest = &k[prefix.len()..];
        let (Some(anchor), flag) = (
            rest.get(..32).and_then(|a| <[u8; 32]>::try_from(a).ok()),
            rest.get(32),
        ) else {
            state.delete(&k);
            continue;
        };
        let owner = match flag {
            Some(1) => rest.get(33..).and_then(|o| decode::<AccountId>(o).ok()),
            _ => None,
        };
        let cursor: Option<Vec<u8>> =
            crust_primitives::codec::decode_with(&v, &max_items(512)).unwrap_or(None);
        let next = market::purge_anchor(
            state,
            height,
            &anchor,
            owner.as_ref(),
            cursor.as_deref(),
            REPLICA_BATCH / 4,
        )?;
        match next {
            Some(c) => state.write(&k, &Some(c)),
            None => state.delete(&k),
        }
    }
    Ok(())
}

/// Whether an identity's workload counts for `slot`, updating its punishment deadline.
fn counts(
    state: &mut impl State,
    who: &AccountId,
    id: &mut Identity,
    slot: u64,
    slot_len: u64,
) -> Result<bool, SworkError> {
    if id.punishment_deadline == NEW_IDENTITY {
        id.punishment_deadline = 0;
        return Ok(true);
    }
    let reported = reported_in_slot(state, &id.anchor, slot);
    let p = params(state)?;
    if !reported {
        crate::history::note_missed(state, &id.anchor, slot)?;
    }
    if !p.enable_punishment {
        return Ok(reported);
    }
    if !reported {
        id.punishment_deadline = slot.saturating_add(p.punishment_slots.saturating_mul(slot_len));
        state.emit(Event::Swork(SworkEvent::IdentityPunished {
            who: *who,
            until_slot: id.punishment_deadline,
        }));
        drop_files(state, &id.anchor, slot)?;
    }
    Ok(slot >= id.punishment_deadline)
}

/// A missed report is a missed answer (D18): the identity's replicas are removed (in bounded
/// batches; live files left short of replicas offer the repair bounty, D12), and the chain
/// forgets the files it reported, so a worker that comes back reports them as new and earns
/// its replicas again from that report on.
fn drop_files(state: &mut impl State, anchor: &Anchor, slot: u64) -> Result<(), SworkError> {
    let Some(mut record) = super::work_report(state, anchor)? else {
        return Ok(());
    };
    // The consolidation of `slot` runs over several blocks of the next slot: a worker that has
    // already reported in it answered that report's challenges, so its files stay.
    if record.report_slot > slot {
        return Ok(());
    }
    // Already dropped, unless replicas were proven since (a queued add applied late): those go
    // too, so the chain never holds the worker to replicas its files root does not commit to.
    if record.reported_files_size == 0
        && record.files_root == [0; 32]
        && market::index::proven_count(state, anchor)? == 0
    {
        return Ok(());
    }
    schedule_purge(state, anchor, None);
    record.reported_files_size = 0;
    record.files_root = [0; 32];
    record.files_count = 0;
    state.write(&super::report_key(anchor), &record);
    Ok(())
}

fn consolidate(state: &mut impl State, height: BlockHeight) -> Result<(), SworkError> {
    let slot_len = system::config(state)?.report_slot_blocks.max(1);
    let mut c = consolidation(state)?;
    if c.evaluating.is_none() {
        if !height.is_multiple_of(slot_len) || height < slot_len {
            return Ok(());
        }
        let slot = height - slot_len;
        if c.completed.as_ref().is_some_and(|done| done.slot >= slot) {
            return Ok(());
        }
        c.evaluating = Some(slot);
        c.cursor = None;
        c.running = RoundTotals {
            slot,
            ..RoundTotals::default()
        };
    }
    let Some(slot) = c.evaluating else {
        return Ok(());
    };
    let prefix = identities_prefix();
    let after = c.cursor.map(|a| [prefix.as_slice(), a.as_bytes()].concat());
    let batch = state.scan(&prefix, after.as_deref(), IDENTITY_BATCH);
    let finished = batch.len() < IDENTITY_BATCH;
    for (k, v) in batch {
        let Ok(who) = decode::<AccountId>(&k[prefix.len()..]) else {
            continue;
        };
        let Ok(mut id) = decode::<Identity>(&v) else {
            continue;
        };
        let before = id.clone();
        if counts(state, &who, &mut id, slot, slot_len)?
            && let Some(wr) = work_report(state, &id.anchor)?
        {
            let spower = market::anchor_spower(state, &id.anchor)?;
            let owner = id.group.unwrap_or(who);
            let wk = workload_key(slot, &owner);
            let current: u128 = state.read_or_default(&wk)?;
            // D31: proven files count always; SRD only where the attestation vouches for it.
            let free = if params(state)?.srd_counts(id.attestation) {
                wr.free
            } else {
                0
            };
            let add = u128::from(free).saturating_add(u128::from(spower));
            state.write(&wk, &current.saturating_add(add));
            c.running.free = c.running.free.saturating_add(u128::from(free));
            c.running.spower = c.running.spower.saturating_add(u128::from(spower));
            c.running.files = c
                .running
                .files
                .saturating_add(u128::from(wr.reported_files_size));
        }
        if id != before {
            put_identity(state, &who, &id);
        }
        if let Some(old) = slot.checked_sub(super::HISTORY_SLOT_DEPTH * slot_len) {
            super::forget_reported(state, &id.anchor, old);
        }
        c.running.identities += 1;
        c.cursor = Some(who);
    }
    if finished {
        let done = std::mem::take(&mut c.running);
        market::set_storage_supply(
            state,
            &StorageSupply {
                used_bytes: done.files,
                free_bytes: done.free,
            },
        );
        state.emit(Event::Swork(SworkEvent::WorkloadConsolidated {
            slot: done.slot,
            identities: done.identities,
            workload: done.workload(),
        }));
        crate::history::note_storage(state, &done)?;
        c.completed = Some(done);
        c.evaluating = None;
        c.cursor = None;
    }
    state.write(&consolidation_key(), &c);
    Ok(())
}

/// Deletes workload entries of rounds older than the last completed one, a batch per block.
fn prune_old_workloads(state: &mut impl State) -> Result<(), SworkError> {
    let Some(done) = consolidation(state)?.completed else {
        return Ok(());
    };
    let prefix = workload_prefix();
    for (k, _) in state.scan(&prefix, None, IDENTITY_BATCH) {
        let slot = k
            .get(prefix.len()..prefix.len() + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes);
        match slot {
            Some(s) if s < done.slot => state.delete(&k),
            _ => break,
        }
    }
    Ok(())
}
