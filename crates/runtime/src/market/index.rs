//! Each worker's replicas, by worker (D18, D30): what the chain challenges is picked from here,
//! never from a list the worker declares.
//!
//! An entry per (worker anchor, CID, owner) says whether the replica is *pending* (reported,
//! not yet proven: it earns nothing) or *proven* (in the file's replica list, earning), and a
//! proven replica also sits at a position in the worker's dense list `0..count`, so "the n-th
//! replica of worker W" is one read. Removal swaps the last position into the hole, so the list
//! stays dense and every change is O(1). This module is the only writer of these keys.

use super::{Anchor, MarketError};
use crate::state::{State, StateExt, key, var};
use crust_primitives::{AccountId, BlockHeight, Cid};

const MODULE: &str = "market";

/// What the chain knows about one worker's copy of one file for one owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnchorEntry {
    /// Reported and waiting for its first passed challenge (D30): it earns nothing yet.
    Pending {
        /// The reporting account.
        who: AccountId,
        /// The block the report was accepted in (D15: the replica's validity starts there).
        valid_at: BlockHeight,
        /// The block that recorded it: the challenge's randomness is that block's hash, which
        /// nobody knew when the worker reported.
        since: BlockHeight,
        /// The last block a proof is accepted in; after it the replica is dropped.
        deadline: BlockHeight,
    },
    /// In the file's replica list, at `position` in the worker's list.
    Proven {
        /// Position in the worker's dense list of proven replicas.
        position: u64,
    },
}
crust_primitives::impl_codec_enum!(AnchorEntry {
    0 => Pending { who, valid_at, since, deadline },
    1 => Proven { position },
});

/// One proven replica in a worker's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexedReplica {
    /// The file.
    pub cid: Cid,
    /// The owner the replica counts for.
    pub owner: AccountId,
}
crust_primitives::impl_codec_struct!(IndexedReplica { cid, owner });

/// The state key of a worker's entry for (`cid`, `owner`) (for light reads).
pub fn entry_key(anchor: &Anchor, cid: &Cid, owner: &AccountId) -> Vec<u8> {
    key(
        MODULE,
        "anchor_file",
        &[anchor, &var(&cid.to_bytes()), owner.as_bytes()],
    )
}

pub(super) fn entries_prefix(anchor: &Anchor) -> Vec<u8> {
    key(MODULE, "anchor_file", &[anchor])
}

/// The state key of the replica at `position` in a worker's proven list (for light reads).
pub fn position_key(anchor: &Anchor, position: u64) -> Vec<u8> {
    key(MODULE, "anchor_at", &[anchor, &position.to_be_bytes()])
}

/// The state key of the length of a worker's proven list (for light reads).
pub fn count_key(anchor: &Anchor) -> Vec<u8> {
    key(MODULE, "anchor_count", &[anchor])
}

fn due_key(deadline: BlockHeight, anchor: &Anchor, cid: &Cid, owner: &AccountId) -> Vec<u8> {
    key(
        MODULE,
        "pending_due",
        &[
            &deadline.to_be_bytes(),
            anchor,
            &var(&cid.to_bytes()),
            owner.as_bytes(),
        ],
    )
}

fn due_prefix() -> Vec<u8> {
    key(MODULE, "pending_due", &[])
}

/// The (CID, owner) at the end of an entry or due key: a length-prefixed CID, then the owner.
pub(super) fn cid_and_owner(rest: &[u8]) -> Option<(Cid, AccountId)> {
    let (&len, rest) = rest.split_first()?;
    let (cid_bytes, owner_bytes) = rest.split_at(usize::from(len).min(rest.len()));
    let cid = Cid::from_bytes(cid_bytes).ok()?;
    let owner = crust_primitives::codec::decode::<AccountId>(owner_bytes).ok()?;
    Some((cid, owner))
}

/// A worker's entry for (`cid`, `owner`).
pub fn entry(
    state: &impl State,
    anchor: &Anchor,
    cid: &Cid,
    owner: &AccountId,
) -> Result<Option<AnchorEntry>, MarketError> {
    Ok(state.read(&entry_key(anchor, cid, owner))?)
}

/// How many proven replicas the worker holds.
pub fn proven_count(state: &impl State, anchor: &Anchor) -> Result<u64, MarketError> {
    Ok(state.read_or_default(&count_key(anchor))?)
}

/// The proven replica at `position` in the worker's list.
pub fn proven_at(
    state: &impl State,
    anchor: &Anchor,
    position: u64,
) -> Result<Option<IndexedReplica>, MarketError> {
    Ok(state.read(&position_key(anchor, position))?)
}

/// Records a pending replica (replacing nothing: the caller checked there is no entry).
pub(super) fn insert_pending(
    state: &mut impl State,
    anchor: &Anchor,
    cid: &Cid,
    owner: &AccountId,
    pending: &AnchorEntry,
) {
    if let AnchorEntry::Pending { deadline, .. } = pending {
        state.put(&due_key(*deadline, anchor, cid, owner), Vec::new());
    }
    state.write(&entry_key(anchor, cid, owner), pending);
}

/// Appends a proven replica to the worker's list (a pending entry for it becomes proven).
pub(super) fn insert_proven(
    state: &mut impl State,
    anchor: &Anchor,
    cid: &Cid,
    owner: &AccountId,
) -> Result<(), MarketError> {
    if let Some(AnchorEntry::Proven { .. }) = entry(state, anchor, cid, owner)? {
        return Ok(());
    }
    let count = proven_count(state, anchor)?;
    state.write(
        &position_key(anchor, count),
        &IndexedReplica {
            cid: *cid,
            owner: *owner,
        },
    );
    state.write(&count_key(anchor), &count.saturating_add(1));
    state.write(
        &entry_key(anchor, cid, owner),
        &AnchorEntry::Proven { position: count },
    );
    Ok(())
}

/// Removes the worker's entry for (`cid`, `owner`), pending or proven; a proven one's place
/// is taken by the last of the list. Returns the entry removed.
pub(super) fn remove(
    state: &mut impl State,
    anchor: &Anchor,
    cid: &Cid,
    owner: &AccountId,
) -> Result<Option<AnchorEntry>, MarketError> {
    let found = entry(state, anchor, cid, owner)?;
    state.delete(&entry_key(anchor, cid, owner));
    if let Some(AnchorEntry::Proven { position }) = found {
        let count = proven_count(state, anchor)?;
        let last = count.saturating_sub(1);
        if position < last
            && let Some(moved) = proven_at(state, anchor, last)?
        {
            state.write(&position_key(anchor, position), &moved);
            state.write(
                &entry_key(anchor, &moved.cid, &moved.owner),
                &AnchorEntry::Proven { position },
            );
        }
        state.delete(&position_key(anchor, last));
        if last == 0 {
            state.delete(&count_key(anchor));
        } else {
            state.write(&count_key(anchor), &last);
        }
    }
    Ok(found)
}

/// Pending replicas whose deadline (the last block a proof is accepted in) is before `now`,
/// at most `limit`: their entries are
/// removed and they are returned (so the caller can report them). A due mark whose replica
/// was proven or removed meanwhile is just cleared.
pub(super) fn expire_pending(
    state: &mut impl State,
    now: BlockHeight,
    limit: usize,
) -> Result<Vec<(Anchor, Cid, AccountId)>, MarketError> {
    let prefix = due_prefix();
    let mut expired = Vec::new();
    for (k, _) in state.scan(&prefix, None, limit) {
        let rest = &k[prefix.len()..];
        let Some((at, rest)) = rest.split_first_chunk::<8>() else {
            state.delete(&k);
            continue;
        };
        if u64::from_be_bytes(*at) >= now {
            break;
        }
        state.delete(&k);
        let Some((anchor, rest)) = rest.split_first_chunk::<32>() else {
            continue;
        };
        let Some((cid, owner)) = cid_and_owner(rest) else {
            continue;
        };
        if let Some(AnchorEntry::Pending { deadline, .. }) = entry(state, anchor, &cid, &owner)?
            && deadline < now
        {
            state.delete(&entry_key(anchor, &cid, &owner));
            expired.push((*anchor, cid, owner));
        }
    }
    Ok(expired)
}
