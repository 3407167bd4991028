//! First proofs of pending replicas (D30): `ProveReplicas` and the deadline it must meet.

use super::storage::identity;
use super::{SworkError, SworkEvent, challenge};
use crate::market;
use crate::state::State;
use crate::{CallContext, Event, system};
use crust_primitives::BlockHeight;

/// The last block a replica recorded at `since` may be proven in: one report slot later (at
/// least 10 blocks), and never beyond the block hashes the chain keeps (the challenge's seed).
pub fn prove_deadline(state: &impl State, since: BlockHeight) -> Result<BlockHeight, SworkError> {
    let window = system::config(state)?
        .report_slot_blocks
        .clamp(10, system::BLOCK_HASH_COUNT - 1);
    Ok(since.saturating_add(window))
}

/// Proves pending replicas of the caller's identity (D30). Every proof must pass, or the call
/// changes nothing; a replica that cannot join its file any more (closed, full, or its owner
/// got another copy proven first) is dropped. Replicas stay pending (and earn nothing) until
/// proven; the chain drops them at their deadline.
pub fn prove_replicas(
    state: &mut impl State,
    ctx: &CallContext,
    proofs: &[challenge::PendingProof],
) -> Result<(), SworkError> {
    let id = identity(state, &ctx.caller)?.ok_or(SworkError::IdentityNotExist)?;
    let owner = id.group.unwrap_or(ctx.caller);
    if proofs.is_empty() || proofs.len() > challenge::PROVE_BATCH {
        return Err(SworkError::IllegalProof {
            proof: 0,
            why: "between 1 and PROVE_BATCH proofs per call",
        });
    }
    for (n, p) in proofs.iter().enumerate() {
        let fail = |why| SworkError::IllegalProof {
            proof: n as u64,
            why,
        };
        let Some(market::index::AnchorEntry::Pending {
            since,
            who,
            deadline,
            ..
        }) = market::index::entry(state, &id.anchor, &p.cid, &owner)?
        else {
            return Err(fail("no pending replica of this file"));
        };
        if who != ctx.caller {
            return Err(fail("another account reported this replica"));
        }
        if ctx.height > deadline {
            return Err(fail("too late: the replica's proving deadline passed"));
        }
        // The seed is the hash of the block that recorded the replica, known from the next one.
        let Some(seed) = system::block_hash(state, since)? else {
            return Err(fail("too early: the seed block is not final yet"));
        };
        let Some(file) = market::file(state, &p.cid)? else {
            return Err(fail("the file has no order"));
        };
        let asked = challenge::pending_pieces(&seed, &id.anchor, &p.cid, file.commitment.pieces());
        if asked.is_empty() || asked.len() != p.content.len() {
            return Err(fail("wrong number of content pieces"));
        }
        for (index, piece) in asked.into_iter().zip(&p.content) {
            challenge::check_content(&file.commitment, index, piece).map_err(fail)?;
        }
        market::prove_pending(state, ctx.height, &id.anchor, &p.cid, &owner)?;
    }
    crate::history::note_proven(state, &id.anchor, proofs.len() as u64)?;
    state.emit(Event::Swork(SworkEvent::ReplicasProven {
        who: ctx.caller,
        count: proofs.len() as u32,
    }));
    Ok(())
}
