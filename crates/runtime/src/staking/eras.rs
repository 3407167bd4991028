//! Era transitions, driven by block height: planning (election) one report slot before an era
//! ends, then the switch, with rewards fixed for the era that ended and deferred slashes
//! applied for the one that starts.

use super::{
    EraState, Forcing, StakingError, StakingEvent, committee, committee_key, election,
    era_prefs_key, era_rewards, era_rewards_key, era_state, exposure_key, params, rewards,
    set_era_state, set_params, slashing,
};
use crate::state::{State, StateExt};
use crate::{Event, system};
use crust_primitives::{AccountId, BlockHeight};

/// Runs staking's start-of-block work at `height`, authored by the consensus key `author`.
///
/// Eras have a fixed length (`slots_per_era × report_slot_blocks`) so they line up with
/// consensus epochs: era `e` covers heights `[e·L, (e+1)·L)`. The next committee is elected one
/// slot before the boundary (again at the next slot boundary when governance forces it), and
/// the boundary always finds a committee for the next era: the elected one, or the current one
/// carried over.
pub fn on_initialize(
    state: &mut impl State,
    height: BlockHeight,
    author: &AccountId,
) -> Result<(), StakingError> {
    let cfg = system::config(state)?;
    let slot = cfg.report_slot_blocks.max(1);
    let era_len = cfg.era_blocks().max(slot);
    let mut e = era_state(state)?;

    // The era boundary.
    if height > 0 && height == e.active_start + era_len {
        let ended = e.active;
        if committee(state, ended + 1)?.is_none() {
            carry_over(state, ended, ended + 1)?;
        }
        rewards::end_era(state, ended, height - e.active_start)?;
        e = EraState {
            active: ended + 1,
            active_start: height,
            next_start: None,
        };
        set_era_state(state, &e);
        slashing::apply_due(state, e.active)?;
        state.emit(Event::Staking(StakingEvent::EraStarted {
            era: e.active,
            height,
        }));
    }

    if height > 0 {
        rewards::note_author(state, e.active, author)?;
    }

    // Planning the next era's committee.
    let boundary = e.active_start + era_len;
    let mut p = params(state)?;
    let forced =
        p.force_era == Forcing::ForceNew && height.is_multiple_of(slot) && height > e.active_start;
    let scheduled = height == boundary - slot;
    if height < boundary && (forced || scheduled) {
        let next = e.active + 1;
        if p.force_era == Forcing::ForceNone || !election::elect(state, next)? {
            carry_over(state, e.active, next)?;
        }
        e.next_start = Some(boundary);
        set_era_state(state, &e);
        if forced {
            p.force_era = Forcing::NotForcing;
            set_params(state, &p);
        }
    }
    Ok(())
}

/// Too few candidates: the current committee (with its exposures) serves again.
fn carry_over(state: &mut impl State, from: u64, to: u64) -> Result<(), StakingError> {
    let Some(members) = committee(state, from)? else {
        return Ok(());
    };
    for m in &members {
        if let Some(exp) = state.get(&exposure_key(from, &m.stash)) {
            state.put(&exposure_key(to, &m.stash), exp);
        }
        if let Some(prefs) = state.get(&era_prefs_key(from, &m.stash)) {
            state.put(&era_prefs_key(to, &m.stash), prefs);
        }
    }
    let mut r = era_rewards(state, to)?;
    r.total_stake = era_rewards(state, from)?.total_stake;
    state.write(&era_rewards_key(to), &r);
    state.write(&committee_key(to), &members);
    Ok(())
}
