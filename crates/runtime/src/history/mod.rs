//! The chain's own history: one record per report slot, and each storage worker's challenge
//! results, kept in state from protocol version 3 on ([`crate::system::ProtocolRules`]).
//!
//! Charts of fees, orders, proofs and proven storage over time could be drawn from whatever a
//! node happened to see, but then a viewer trusts that node's memory. Here every figure is a
//! state entry under a single key, so a light client checks a run of slots (or a worker's
//! record) under a certified state root like any other read.
//!
//! **Slot records.** Counters of the slot in progress live in one record ([`current`]); the
//! first block of the next slot closes it, adding what stands at that moment (the fees, the
//! pots, the live files), and keeps it under its slot for [`HISTORY_SLOTS`] slots. The slot's
//! proven-storage totals and missed reports join the closed record when the slot-end
//! consolidation (run over the next slot's first blocks) gets to them. A slot is named by its
//! first block, as work reports name theirs.
//!
//! **Worker records** ([`worker`]), by identity anchor: accepted reports and the challenges
//! they answered, reports refused for a wrong answer (with the last reason), missed slots,
//! new replicas proven and dropped unproven. Never deleted: under 250 bytes per anchor ever
//! registered (each registration pays a fee), so a worker's track record outlives its
//! replacement.
//!
//! Every `note_*` function does nothing under a protocol version that keeps no history, and
//! every counter saturates. The module sits just above `system` (it imports nothing else of
//! the runtime): the modules above it report to it, and what a slot's end looks like (fees,
//! pots) is handed in by the executive.

#[cfg(test)]
mod tests;

use crate::state::{State, StateExt, key};
use crate::system::{self, SystemError};
use crust_primitives::codec::max_items;
use crust_primitives::{Balance, BlockHeight};
use serde::{Deserialize, Serialize};

/// A storage identity's anchor (its first enclave key).
pub type Anchor = [u8; 32];

/// A slot's consolidated proven storage (sWork's round totals, `swork::RoundTotals`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageTotals {
    /// The slot evaluated.
    pub slot: u64,
    /// Identities visited.
    pub identities: u64,
    /// Σ SRD bytes of identities that count.
    pub free: u128,
    /// Σ spower of identities that count.
    pub spower: u128,
    /// Σ file bytes of identities that count.
    pub files: u128,
}
crust_primitives::impl_codec_struct!(StorageTotals {
    slot,
    identities,
    free,
    spower,
    files
});

/// What stands at a slot's end, as the executive reads it from the market and balances.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotEnd {
    /// Base fee.
    pub base_fee: Balance,
    /// Byte fee.
    pub byte_fee: Balance,
    /// Keys fee.
    pub keys_fee: Balance,
    /// Live files.
    pub live_files: u64,
    /// The storage pot's balance.
    pub storage_pot: Balance,
    /// The staking pot's balance.
    pub staking_pot: Balance,
    /// The reserved pot's balance.
    pub reserved_pot: Balance,
}

const MODULE: &str = "history";

/// Slot records kept (older ones are deleted as new ones close): 30 days of the reference
/// network's one-hour slots, 6 hours of the dev chain's 30-second ones.
pub const HISTORY_SLOTS: u64 = 720;

/// Most bytes of a refusal's reason kept in a worker's record.
pub const REASON_BYTES: usize = 160;

/// What happened in one report slot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    /// The slot's first block.
    pub slot: u64,
    /// Orders placed (new files and re-orders).
    pub orders: u32,
    /// Bytes those orders were for.
    pub ordered_bytes: u64,
    /// Files renewed from their prepaid pools.
    pub renewals: u32,
    /// Replicas that started earning (proven, or reported while challenges are off).
    pub replicas_added: u32,
    /// Replicas removed (deleted, purged, or their worker missed a slot).
    pub replicas_removed: u32,
    /// New replicas dropped because they were not proven in time.
    pub replicas_unproven: u32,
    /// Work reports accepted.
    pub reports: u32,
    /// Replica challenges those reports answered.
    pub replica_challenges: u32,
    /// SRD challenges those reports answered.
    pub srd_challenges: u32,
    /// Work reports refused for a wrong or missing challenge answer.
    pub failed_reports: u32,
    /// Identities that made no accepted report in the slot (filled in at its consolidation).
    pub missed_reports: u32,
    /// Slash reports against validators (an offence reported again with a higher fraction, as
    /// equivocations are when more offenders of the same round turn up, counts again).
    pub offences: u32,
    /// Stake slashed (applied slashes).
    pub slashed: Balance,
    /// Whether the slot has ended (the fields below are set when it does).
    pub closed: bool,
    /// Base fee at the slot's end.
    pub base_fee: Balance,
    /// Byte fee at the slot's end.
    pub byte_fee: Balance,
    /// Keys fee at the slot's end.
    pub keys_fee: Balance,
    /// Live (not closed) files at the slot's end.
    pub live_files: u64,
    /// The storage pot's balance at the slot's end.
    pub storage_pot: Balance,
    /// The staking pot's balance at the slot's end.
    pub staking_pot: Balance,
    /// The reserved pot's balance at the slot's end.
    pub reserved_pot: Balance,
    /// The slot's consolidated proven storage, once its consolidation completed.
    pub storage: Option<StorageTotals>,
}
crust_primitives::impl_codec_struct!(SlotRecord {
    slot,
    orders,
    ordered_bytes,
    renewals,
    replicas_added,
    replicas_removed,
    replicas_unproven,
    reports,
    replica_challenges,
    srd_challenges,
    failed_reports,
    missed_reports,
    offences,
    slashed,
    closed,
    base_fee,
    byte_fee,
    keys_fee,
    live_files,
    storage_pot,
    staking_pot,
    reserved_pot,
    storage,
});

/// A report refused for a challenge answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The slot it was made in.
    pub slot: u64,
    /// Which challenge failed (the SRD challenge follows the replica challenges).
    pub challenge: u64,
    /// Why, as the chain said it (at most [`REASON_BYTES`]).
    #[serde(with = "text")]
    pub why: Vec<u8>,
}
crust_primitives::impl_codec_struct!(Refusal {
    slot,
    challenge,
    why: max_items(REASON_BYTES),
});

/// A storage worker's track record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// Work reports accepted.
    pub reports: u64,
    /// Replica challenges answered in them.
    pub replica_challenges: u64,
    /// SRD challenges answered in them.
    pub srd_challenges: u64,
    /// Reports refused for a challenge answer.
    pub failed_reports: u64,
    /// The last such refusal.
    pub last_failure: Option<Refusal>,
    /// Slots it made no accepted report in.
    pub missed_reports: u64,
    /// The last slot it missed.
    pub last_missed: Option<u64>,
    /// New replicas it proved.
    pub replicas_proven: u64,
    /// New replicas dropped because it did not prove them in time.
    pub replicas_unproven: u64,
}
crust_primitives::impl_codec_struct!(WorkerRecord {
    reports,
    replica_challenges,
    srd_challenges,
    failed_reports,
    last_failure,
    missed_reports,
    last_missed,
    replicas_proven,
    replicas_unproven,
});

/// Bytes shown as text in JSON (the state keeps them as bytes with a bound).
mod text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        String::deserialize(d).map(String::into_bytes)
    }
}

fn slot_key(slot: u64) -> Vec<u8> {
    key(MODULE, "slot", &[&slot.to_be_bytes()])
}
fn current_key() -> Vec<u8> {
    key(MODULE, "current", &[])
}
fn last_key() -> Vec<u8> {
    key(MODULE, "last", &[])
}
fn worker_key(anchor: &Anchor) -> Vec<u8> {
    key(MODULE, "worker", &[anchor])
}

fn keeps(state: &impl State) -> Result<bool, SystemError> {
    Ok(system::current_rules(state)?.keeps_history)
}

/// The counters of the slot in progress, named by its first block (all zero before history
/// started).
pub fn current(state: &impl State) -> Result<SlotRecord, SystemError> {
    Ok(state.read_or_default(&current_key())?)
}

/// The closed record of `slot`, if kept.
pub fn slot(state: &impl State, slot: u64) -> Result<Option<SlotRecord>, SystemError> {
    Ok(state.read(&slot_key(slot))?)
}

/// The last closed slot, if any.
pub fn last_slot(state: &impl State) -> Result<Option<u64>, SystemError> {
    Ok(state.read(&last_key())?)
}

/// A worker's record (all zero for one never seen).
pub fn worker(state: &impl State, anchor: &Anchor) -> Result<WorkerRecord, SystemError> {
    Ok(state.read_or_default(&worker_key(anchor))?)
}

/// Up to `limit` closed records, newest first, of the slots that start before height `before`
/// (all closed ones if `None`): single-key reads only, so the answer can be proven key by key.
pub fn recent(
    state: &impl State,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<SlotRecord>, SystemError> {
    let Some(last) = last_slot(state)? else {
        return Ok(Vec::new());
    };
    let slot_len = system::config(state)?.report_slot_blocks.max(1);
    let mut at = match before {
        Some(b) => match b.checked_sub(1) {
            Some(b) => last.min(b - b % slot_len),
            None => return Ok(Vec::new()),
        },
        None => last,
    };
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(record) = slot(state, at)? else {
            break;
        };
        out.push(record);
        let Some(prev) = at.checked_sub(slot_len) else {
            break;
        };
        at = prev;
    }
    Ok(out)
}

/// Adds to the counters of the slot in progress.
fn note(state: &mut impl State, f: impl FnOnce(&mut SlotRecord)) -> Result<(), SystemError> {
    if !keeps(state)? {
        return Ok(());
    }
    let mut r = current(state)?;
    f(&mut r);
    state.write(&current_key(), &r);
    Ok(())
}

/// Amends the closed record of `slot` (nothing if it is not kept).
fn amend(
    state: &mut impl State,
    slot: u64,
    f: impl FnOnce(&mut SlotRecord),
) -> Result<(), SystemError> {
    if !keeps(state)? {
        return Ok(());
    }
    if let Some(mut r) = self::slot(state, slot)? {
        f(&mut r);
        state.write(&slot_key(slot), &r);
    }
    Ok(())
}

/// Changes a worker's record.
fn note_worker(
    state: &mut impl State,
    anchor: &Anchor,
    f: impl FnOnce(&mut WorkerRecord),
) -> Result<(), SystemError> {
    if !keeps(state)? {
        return Ok(());
    }
    let mut r = worker(state, anchor)?;
    f(&mut r);
    state.write(&worker_key(anchor), &r);
    Ok(())
}

fn add32(a: &mut u32, n: u32) {
    *a = a.saturating_add(n);
}

fn add64(a: &mut u64, n: u64) {
    *a = a.saturating_add(n);
}

/// An order was placed for `bytes`.
pub fn note_order(state: &mut impl State, bytes: u64) -> Result<(), SystemError> {
    note(state, |r| {
        add32(&mut r.orders, 1);
        add64(&mut r.ordered_bytes, bytes);
    })
}

/// A file was renewed from its prepaid pool.
pub fn note_renewal(state: &mut impl State) -> Result<(), SystemError> {
    note(state, |r| add32(&mut r.renewals, 1))
}

/// A replica started earning.
pub fn note_replica_added(state: &mut impl State) -> Result<(), SystemError> {
    note(state, |r| add32(&mut r.replicas_added, 1))
}

/// A replica was removed.
pub fn note_replica_removed(state: &mut impl State) -> Result<(), SystemError> {
    note(state, |r| add32(&mut r.replicas_removed, 1))
}

/// Worker `anchor` proved `n` new replicas.
pub fn note_proven(state: &mut impl State, anchor: &Anchor, n: u64) -> Result<(), SystemError> {
    note_worker(state, anchor, |w| add64(&mut w.replicas_proven, n))
}

/// A new replica of worker `anchor` was dropped unproven.
pub fn note_unproven(state: &mut impl State, anchor: &Anchor) -> Result<(), SystemError> {
    note(state, |r| add32(&mut r.replicas_unproven, 1))?;
    note_worker(state, anchor, |w| add64(&mut w.replicas_unproven, 1))
}

/// Worker `anchor` made an accepted report answering `replica` and `srd` challenges.
pub fn note_report(
    state: &mut impl State,
    anchor: &Anchor,
    replica: u64,
    srd: u64,
) -> Result<(), SystemError> {
    let (r32, s32) = (
        u32::try_from(replica).unwrap_or(u32::MAX),
        u32::try_from(srd).unwrap_or(u32::MAX),
    );
    note(state, |r| {
        add32(&mut r.reports, 1);
        add32(&mut r.replica_challenges, r32);
        add32(&mut r.srd_challenges, s32);
    })?;
    note_worker(state, anchor, |w| {
        add64(&mut w.reports, 1);
        add64(&mut w.replica_challenges, replica);
        add64(&mut w.srd_challenges, srd);
    })
}

/// Worker `anchor`'s report at `height` was refused: challenge `challenge` failed for `why`.
pub fn note_refused(
    state: &mut impl State,
    anchor: &Anchor,
    height: BlockHeight,
    challenge: u64,
    why: &str,
) -> Result<(), SystemError> {
    let slot_len = system::config(state)?.report_slot_blocks.max(1);
    let mut cut = why.len().min(REASON_BYTES);
    while !why.is_char_boundary(cut) {
        cut = cut.saturating_sub(1);
    }
    let refusal = Refusal {
        slot: height - height % slot_len,
        challenge,
        why: why.as_bytes().get(..cut).unwrap_or_default().to_vec(),
    };
    note(state, |r| add32(&mut r.failed_reports, 1))?;
    note_worker(state, anchor, |w| {
        add64(&mut w.failed_reports, 1);
        w.last_failure = Some(refusal);
    })
}

/// Worker `anchor` made no accepted report in `slot` (found by that slot's consolidation).
pub fn note_missed(state: &mut impl State, anchor: &Anchor, slot: u64) -> Result<(), SystemError> {
    amend(state, slot, |r| add32(&mut r.missed_reports, 1))?;
    note_worker(state, anchor, |w| {
        add64(&mut w.missed_reports, 1);
        w.last_missed = Some(slot);
    })
}

/// The consolidation of `totals.slot` completed.
pub fn note_storage(state: &mut impl State, totals: &StorageTotals) -> Result<(), SystemError> {
    amend(state, totals.slot, |r| r.storage = Some(totals.clone()))
}

/// An offence was reported against a validator.
pub fn note_offence(state: &mut impl State) -> Result<(), SystemError> {
    note(state, |r| add32(&mut r.offences, 1))
}

/// A slash of `amount` was applied.
pub fn note_slashed(state: &mut impl State, amount: Balance) -> Result<(), SystemError> {
    note(state, |r| r.slashed = r.slashed.saturating_add(amount))
}

/// At genesis: a chain that keeps history from its start counts slot 0 from block 0.
pub fn start(state: &mut impl State) -> Result<(), SystemError> {
    if keeps(state)? {
        state.write(&current_key(), &SlotRecord::default());
    }
    Ok(())
}

/// Start of block `height`: at a slot's first block, closes the previous slot's record (with
/// the fees, pots and live files as they stand; not if history started within that slot) and
/// forgets the one [`HISTORY_SLOTS`] older. In the first block under a version that keeps
/// history (an upgrade), counting starts: a slot already under way is counted under the next
/// slot's name, so it never matches at its close and is not recorded in part.
/// Runs before the other modules' hooks, so the consolidation that starts in this block finds
/// the record it amends.
pub fn on_initialize<S: State, E: From<SystemError>>(
    state: &mut S,
    height: BlockHeight,
    slot_end: impl FnOnce(&S) -> Result<SlotEnd, E>,
) -> Result<(), E> {
    if !keeps(state)? {
        return Ok(());
    }
    let slot_len = system::config(state)?.report_slot_blocks.max(1);
    let start = height - height % slot_len;
    let Some(mut r) = state
        .read::<SlotRecord>(&current_key())
        .map_err(SystemError::from)?
    else {
        let slot = if height == start {
            start
        } else {
            start.saturating_add(slot_len)
        };
        state.write(
            &current_key(),
            &SlotRecord {
                slot,
                ..SlotRecord::default()
            },
        );
        return Ok(());
    };
    if height == 0 || height != start {
        return Ok(());
    }
    let slot = height - slot_len;
    // The slot in which history started (an upgrade to version 3 after genesis) was counted
    // only in part: it is not recorded, so no record shows less than its slot saw.
    let whole = r.slot == slot;
    state.write(
        &current_key(),
        &SlotRecord {
            slot: height,
            ..SlotRecord::default()
        },
    );
    if !whole {
        return Ok(());
    }
    let end = slot_end(state)?;
    r.slot = slot;
    r.closed = true;
    r.base_fee = end.base_fee;
    r.byte_fee = end.byte_fee;
    r.keys_fee = end.keys_fee;
    r.live_files = end.live_files;
    r.storage_pot = end.storage_pot;
    r.staking_pot = end.staking_pot;
    r.reserved_pot = end.reserved_pot;
    state.write(&slot_key(slot), &r);
    state.write(&last_key(), &slot);
    if let Some(old) = slot.checked_sub(HISTORY_SLOTS.saturating_mul(slot_len)) {
        state.delete(&slot_key(old));
    }
    Ok(())
}
