//! Replicas and spower: the internal API sWork calls after verifying work reports (D3), and
//! the per-worker spower totals it reads back for stake limits.
//!
//! Accounting invariant: every replica contributes to its worker's anchor either the raw file
//! size (while `created_at` is `Some`, i.e. before the spower ready period has passed) or the
//! file's multiplied `spower` (after). [`anchor_spower`] is exactly the sum of those
//! contributions; this module is the only writer, so it cannot drift.

use super::index::{self, AnchorEntry};
use super::{
    Anchor, FileInfo, MAX_PAID_OWNERS, MAX_REPLICAS, MarketError, MarketEvent, REWARD_PERSON,
    Replica, ReplicaOutcome, ReplicaReport, StorageSupply, counters, file, params, put_file,
    reward_ratio, set_counters,
};
use crate::state::{State, StateExt, key, var};
use crate::{Event, benefits, system};
use crust_primitives::{AccountId, BlockHeight, Cid};

const MODULE: &str = "market";

fn anchor_key(anchor: &Anchor) -> Vec<u8> {
    key(MODULE, "anchor_spower", &[anchor])
}

fn supply_key() -> Vec<u8> {
    key(MODULE, "supply", &[])
}

fn due_prefix() -> Vec<u8> {
    key(MODULE, "spower_due", &[])
}

fn due_key(at: BlockHeight, cid: &Cid) -> Vec<u8> {
    key(
        MODULE,
        "spower_due",
        &[&at.to_be_bytes(), &var(&cid.to_bytes())],
    )
}

/// The spower of one replica of a `size_bytes` file held by `replicas` replicas: the size
/// times a step multiplier from 1× (no replicas) and 1.1× (1–8) up to 200× (158 or more),
/// the reference's table (`docs/reference.md` M7.1) in integers.
pub fn calculate_spower(size_bytes: u64, replicas: usize) -> u64 {
    let extra_multiple: u64 = match replicas {
        0 => return size_bytes,
        1..=8 => return size_bytes.saturating_add(size_bytes / 10),
        9..=16 => 1,
        17..=24 => 3,
        25..=32 => 7,
        33..=40 => 9,
        41..=48 => 14,
        49..=55 => 19,
        56..=65 => 49,
        66..=74 => 79,
        75..=83 => 99,
        84..=92 => 119,
        93..=100 => 149,
        101..=115 => 159,
        116..=127 => 169,
        128..=142 => 179,
        143..=157 => 189,
        _ => 199,
    };
    size_bytes.saturating_add(size_bytes.saturating_mul(extra_multiple))
}

/// The spower a worker's replicas add up to: what its stake-limit workload counts for files.
pub fn anchor_spower(state: &impl State, anchor: &Anchor) -> Result<u64, MarketError> {
    Ok(state.read_or_default(&anchor_key(anchor))?)
}

fn adjust_anchor(state: &mut impl State, anchor: &Anchor, delta: i128) -> Result<(), MarketError> {
    if delta == 0 {
        return Ok(());
    }
    let current = i128::from(anchor_spower(state, anchor)?);
    let next = u64::try_from((current + delta).max(0)).unwrap_or(u64::MAX);
    if next == 0 {
        state.delete(&anchor_key(anchor));
    } else {
        state.write(&anchor_key(anchor), &next);
    }
    Ok(())
}

/// Records the network's storage supply (sWork's totals of used file bytes and free SRD
/// bytes); the byte fee follows it.
pub fn set_storage_supply(state: &mut impl State, supply: &StorageSupply) {
    state.write(&supply_key(), supply);
}

pub(super) fn storage_supply(state: &impl State) -> Result<StorageSupply, MarketError> {
    Ok(state.read_or_default(&supply_key())?)
}

/// Applies one verified replica report: records the replica, pays the owner's share if one
/// is due and collateral covers it, starts the file's paid period if it was pending, and
/// updates spower.
pub fn add_replica(
    state: &mut impl State,
    height: BlockHeight,
    report: &ReplicaReport,
) -> Result<ReplicaOutcome, MarketError> {
    let outcome = add_replica_inner(state, height, report)?;
    state.emit(Event::Market(MarketEvent::ReplicaReported {
        cid: report.cid,
        owner: report.owner,
        outcome: outcome.clone(),
    }));
    Ok(outcome)
}

fn add_replica_inner(
    state: &mut impl State,
    height: BlockHeight,
    report: &ReplicaReport,
) -> Result<ReplicaOutcome, MarketError> {
    let Some(mut f) = file(state, &report.cid)? else {
        return Ok(ReplicaOutcome::UnknownFile);
    };
    if f.file_size != report.reported_size {
        // D10: the ordered size is authoritative; a disagreeing report is rejected for this file.
        return Ok(ReplicaOutcome::SizeMismatch {
            ordered: f.file_size,
            reported: report.reported_size,
        });
    }
    let mut c = counters(state)?;
    c.added_replicas = c.added_replicas.saturating_add(1);
    set_counters(state, &c);

    let position = match f.replicas.binary_search_by(|r| r.owner.cmp(&report.owner)) {
        Ok(_) => return Ok(ReplicaOutcome::AlreadyHeld),
        Err(_) if f.replicas.len() >= MAX_REPLICAS => return Ok(ReplicaOutcome::Full),
        Err(position) => position,
    };
    // D15: a replica cannot be valid before the block that reports it.
    let valid_at = report.valid_at.min(height);
    f.replicas.insert(
        position,
        Replica {
            owner: report.owner,
            who: report.who,
            anchor: report.anchor,
            valid_at,
            created_at: Some(valid_at),
        },
    );
    adjust_anchor(state, &report.anchor, i128::from(f.file_size))?;
    index::insert_proven(state, &report.anchor, &report.cid, &report.owner)?;
    crate::history::note_replica_added(state)?;

    let reward = pay_replica_owner(state, &mut f, &report.owner)?;
    let cfg = system::config(state)?;
    if f.is_pending() {
        f.calculated_at = height;
        f.expired_at = height.saturating_add(cfg.file_duration_blocks);
    }
    refresh_spower(state, height, &report.cid, &mut f)?;
    put_file(state, &report.cid, &f);
    Ok(ReplicaOutcome::Added { reward })
}

/// Records a reported replica as pending (D30): it earns nothing, and counts for nothing,
/// until [`prove_pending`] after its first passed challenge; unproven by `deadline`, it is
/// dropped. The same checks as [`add_replica`] apply first (a known file of the ordered size,
/// an owner not yet holding it, room for another replica).
pub fn add_pending(
    state: &mut impl State,
    height: BlockHeight,
    report: &ReplicaReport,
    deadline: BlockHeight,
) -> Result<ReplicaOutcome, MarketError> {
    let outcome = add_pending_inner(state, height, report, deadline)?;
    state.emit(Event::Market(MarketEvent::ReplicaReported {
        cid: report.cid,
        owner: report.owner,
        outcome: outcome.clone(),
    }));
    Ok(outcome)
}

fn add_pending_inner(
    state: &mut impl State,
    height: BlockHeight,
    report: &ReplicaReport,
    deadline: BlockHeight,
) -> Result<ReplicaOutcome, MarketError> {
    let Some(f) = file(state, &report.cid)? else {
        return Ok(ReplicaOutcome::UnknownFile);
    };
    if f.file_size != report.reported_size {
        return Ok(ReplicaOutcome::SizeMismatch {
            ordered: f.file_size,
            reported: report.reported_size,
        });
    }
    if f.replicas.iter().any(|r| r.owner == report.owner) {
        return Ok(ReplicaOutcome::AlreadyHeld);
    }
    if f.replicas.len() >= MAX_REPLICAS {
        return Ok(ReplicaOutcome::Full);
    }
    if index::entry(state, &report.anchor, &report.cid, &report.owner)?.is_some() {
        return Ok(ReplicaOutcome::AlreadyHeld);
    }
    index::insert_pending(
        state,
        &report.anchor,
        &report.cid,
        &report.owner,
        &AnchorEntry::Pending {
            who: report.who,
            valid_at: report.valid_at.min(height),
            since: height,
            deadline,
        },
    );
    Ok(ReplicaOutcome::Pending)
}

/// Turns a pending replica whose challenge passed into a proven one: it joins the file's
/// replicas and is paid and counted from now on, as [`add_replica`] does. When it cannot join
/// (the file closed, the owner got another copy proven first, the file is full) the pending
/// entry is dropped. Returns what happened, `None` if no such pending replica exists.
pub fn prove_pending(
    state: &mut impl State,
    height: BlockHeight,
    anchor: &Anchor,
    cid: &Cid,
    owner: &AccountId,
) -> Result<Option<ReplicaOutcome>, MarketError> {
    let Some(AnchorEntry::Pending { who, valid_at, .. }) = index::entry(state, anchor, cid, owner)?
    else {
        return Ok(None);
    };
    let Some(f) = file(state, cid)? else {
        index::remove(state, anchor, cid, owner)?;
        return Ok(Some(ReplicaOutcome::UnknownFile));
    };
    let report = ReplicaReport {
        cid: *cid,
        who,
        owner: *owner,
        anchor: *anchor,
        valid_at,
        reported_size: f.file_size,
    };
    let outcome = add_replica(state, height, &report)?;
    if !matches!(outcome, ReplicaOutcome::Added { .. }) {
        index::remove(state, anchor, cid, owner)?;
    }
    Ok(Some(outcome))
}

/// Drops a worker's pending replica (its report deleted the file before proving it).
pub fn remove_pending(
    state: &mut impl State,
    anchor: &Anchor,
    cid: &Cid,
    owner: &AccountId,
) -> Result<bool, MarketError> {
    if let Some(AnchorEntry::Pending { .. }) = index::entry(state, anchor, cid, owner)? {
        index::remove(state, anchor, cid, owner)?;
        return Ok(true);
    }
    Ok(false)
}

/// Drops pending replicas whose proving deadline passed by `now` (a missing answer), at most
/// [`super::SPOWER_MATURITY_PER_BLOCK`] per block.
pub(super) fn expire_pending(state: &mut impl State, now: BlockHeight) -> Result<(), MarketError> {
    for (anchor, cid, owner) in index::expire_pending(state, now, super::SPOWER_MATURITY_PER_BLOCK)?
    {
        crate::history::note_unproven(state, &anchor)?;
        state.emit(Event::Market(MarketEvent::ReplicaUnproven {
            cid,
            owner,
            anchor,
        }));
    }
    Ok(())
}

/// Credits the owner of a new replica with its share of the file's amount, if a paid slot is
/// open, the owner was never paid for this file (D12), and its collateral covers the total of
/// its unclaimed rewards times the collateral ratio.
fn pay_replica_owner(
    state: &mut impl State,
    f: &mut FileInfo,
    owner: &AccountId,
) -> Result<u128, MarketError> {
    if f.remaining_paid_count == 0
        || f.paid_owners.contains(owner)
        || f.paid_owners.len() >= MAX_PAID_OWNERS
    {
        return Ok(0);
    }
    let reward = reward_ratio(f.remaining_paid_count).mul_nearest(f.amount);
    let (collateral, unclaimed) = benefits::collateral_and_reward(state, owner)?;
    let ratio = u128::from(system::config(state)?.collateral_ratio);
    let covered = unclaimed.saturating_add(reward).saturating_mul(ratio) <= collateral;
    if !covered {
        return Ok(0);
    }
    benefits::set_file_reward(state, owner, unclaimed.saturating_add(reward))?;
    f.amount -= reward;
    f.remaining_paid_count -= 1;
    f.paid_owners.push(*owner);
    Ok(reward)
}

/// Removes `owner`'s replica of `cid` if `who` is the worker that reported it. Returns whether
/// a replica was removed. A live file left below the target replica count re-opens paid slots
/// for new owners (the repair bounty, D12).
pub fn remove_replica(
    state: &mut impl State,
    height: BlockHeight,
    cid: &Cid,
    who: &AccountId,
    owner: &AccountId,
) -> Result<bool, MarketError> {
    let Some(mut f) = file(state, cid)? else {
        return Ok(false);
    };
    let Ok(position) = f.replicas.binary_search_by(|r| r.owner.cmp(owner)) else {
        return Ok(false);
    };
    if f.replicas[position].who != *who {
        return Ok(false);
    }
    let replica = f.replicas.remove(position);
    // The contribution lives under the anchor that added it, even if the worker re-registered.
    adjust_anchor(
        state,
        &replica.anchor,
        -i128::from(f.contribution(&replica)),
    )?;
    index::remove(state, &replica.anchor, cid, &replica.owner)?;
    crate::history::note_replica_removed(state)?;
    state.emit(Event::Market(MarketEvent::ReplicaRemoved {
        cid: *cid,
        owner: *owner,
    }));

    let target = params(state)?.target_replicas;
    let count = u32::try_from(f.replicas.len()).unwrap_or(u32::MAX);
    if !f.is_pending() && count < target {
        let slots = (target - count).min(REWARD_PERSON);
        if f.remaining_paid_count < slots {
            f.remaining_paid_count = slots;
            state.emit(Event::Market(MarketEvent::RepairBountyOffered {
                cid: *cid,
                slots,
            }));
        }
    }
    refresh_spower(state, height, cid, &mut f)?;
    put_file(state, cid, &f);
    Ok(true)
}

/// Removes every contribution a file's replicas make (the file is closing).
pub(super) fn remove_all_contributions(
    state: &mut impl State,
    cid: &Cid,
    f: &FileInfo,
) -> Result<(), MarketError> {
    for replica in &f.replicas {
        adjust_anchor(state, &replica.anchor, -i128::from(f.contribution(replica)))?;
        index::remove(state, &replica.anchor, cid, &replica.owner)?;
    }
    Ok(())
}

/// Removes replicas held by the worker `anchor` — all of them, or only those counted for
/// `only_owner` — visiting at most `limit` index entries after `cursor`. Returns the cursor to
/// continue from, or `None` when done. Used when a worker leaves its group or is replaced by a
/// new registration, so its old copies stop counting.
pub fn purge_anchor(
    state: &mut impl State,
    height: BlockHeight,
    anchor: &Anchor,
    only_owner: Option<&AccountId>,
    cursor: Option<&[u8]>,
    limit: usize,
) -> Result<Option<Vec<u8>>, MarketError> {
    let prefix = index::entries_prefix(anchor);
    let entries = state.scan(&prefix, cursor, limit);
    let next = if entries.len() < limit {
        None
    } else {
        entries.last().map(|(k, _)| k.clone())
    };
    for (k, _) in entries {
        let Some((cid, owner)) = index::cid_and_owner(&k[prefix.len()..]) else {
            state.delete(&k);
            continue;
        };
        if only_owner.is_some_and(|o| *o != owner) {
            continue;
        }
        if let Some(AnchorEntry::Pending { .. }) = index::entry(state, anchor, &cid, &owner)? {
            index::remove(state, anchor, &cid, &owner)?;
            continue;
        }
        let held_by = file(state, &cid)?.and_then(|f| {
            f.replicas
                .into_iter()
                .find(|r| r.owner == owner && r.anchor == *anchor)
        });
        match held_by {
            Some(r) => {
                remove_replica(state, height, &cid, &r.who, &owner)?;
            }
            None => {
                index::remove(state, anchor, &cid, &owner)?;
            }
        }
    }
    Ok(next)
}

/// Recomputes a file's per-replica spower for its replica count, matures replicas whose ready
/// period has passed, moves every anchor's total by the change, and schedules the rest.
fn refresh_spower(
    state: &mut impl State,
    now: BlockHeight,
    cid: &Cid,
    f: &mut FileInfo,
) -> Result<(), MarketError> {
    let ready = params(state)?.spower_ready_period;
    let new = calculate_spower(f.file_size, f.replicas.len());
    let old = f.spower;
    for replica in &mut f.replicas {
        let delta = match replica.created_at {
            Some(created) if created.saturating_add(ready) <= now => {
                replica.created_at = None;
                i128::from(new) - i128::from(f.file_size)
            }
            Some(created) => {
                state.put(&due_key(created.saturating_add(ready), cid), Vec::new());
                0
            }
            None => i128::from(new) - i128::from(old),
        };
        adjust_anchor(state, &replica.anchor, delta)?;
    }
    if new != old {
        f.spower = new;
        state.emit(Event::Market(MarketEvent::SpowerUpdated {
            cid: *cid,
            spower: new,
        }));
    }
    Ok(())
}

/// Matures the replicas whose spower ready period ended by `now`, at most
/// [`super::SPOWER_MATURITY_PER_BLOCK`] files per block; the rest wait for the next block.
pub(super) fn process_matured(state: &mut impl State, now: BlockHeight) -> Result<(), MarketError> {
    let prefix = due_prefix();
    let due = state.scan(&prefix, None, super::SPOWER_MATURITY_PER_BLOCK);
    for (k, _) in due {
        let rest = &k[prefix.len()..];
        let Some((at, cid_part)) = rest.split_first_chunk::<8>() else {
            state.delete(&k);
            continue;
        };
        if u64::from_be_bytes(*at) > now {
            break;
        }
        state.delete(&k);
        let Some((_, cid_bytes)) = cid_part.split_first() else {
            continue;
        };
        let Ok(cid) = Cid::from_bytes(cid_bytes) else {
            continue;
        };
        if let Some(mut f) = file(state, &cid)? {
            refresh_spower(state, now, &cid, &mut f)?;
            put_file(state, &cid, &f);
        }
    }
    Ok(())
}
