//! Slashing: offences reported with evidence (e.g. conflicting consensus votes) are recorded
//! against the offender's exposure, deferred so governance can cancel them, then applied to
//! the validator and its guarantors (`docs/reference.md` G7). Guarantees shrink with the bond
//! (D22).
//!
//! Slashing spans, as in the reference (Substrate NPoS): each stash's eras are cut into spans,
//! a new one starting after every slash that lands in the current span. Within one span a
//! stash pays only its largest slash, not the sum, so several reports of one incident (or of
//! one bad period, reported late for different eras) are not punished over and over; a slash
//! in a later span is paid in full. Reporters are paid per staker per span, up to half of
//! `slash_reward_fraction` of the span's slash. Offences older than the bonding window are
//! ignored, since the funds they would slash may already be gone.

use super::{
    Exposure, IndividualExposure, PendingSlash, StakingError, StakingEvent, active_era,
    chill_stash, committee, exposure, fit_guarantee, ledger_of_stash, params, put_ledger,
};
use crate::state::{State, StateExt, key};
use crate::{CallContext, Event, balances, system};
use crust_primitives::{AccountId, Balance, EraIndex, Perbill};

fn slashes_key(era: EraIndex) -> Vec<u8> {
    key("staking", "slashes", &[&era.to_be_bytes()])
}
fn slash_in_era_key(era: EraIndex, stash: &AccountId) -> Vec<u8> {
    key(
        "staking",
        "slash_in_era",
        &[&era.to_be_bytes(), stash.as_bytes()],
    )
}

fn spans_key(stash: &AccountId) -> Vec<u8> {
    key("staking", "spans", &[stash.as_bytes()])
}
fn span_record_key(stash: &AccountId, span: u32) -> Vec<u8> {
    key(
        "staking",
        "span_slash",
        &[stash.as_bytes(), &span.to_be_bytes()],
    )
}

/// Most earlier spans kept per stash (older ones are past the bonding window anyway).
const MAX_PRIOR_SPANS: usize = 128;

/// A stash's slashing spans: the current one and where the earlier ones started.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SlashingSpans {
    /// Index of the current span (0 for a stash never slashed).
    pub index: u32,
    /// First era of the current span.
    pub last_start: EraIndex,
    /// First eras of the earlier spans, newest first (span `index − 1 − i` starts at `prior[i]`).
    pub prior: Vec<EraIndex>,
}
crust_primitives::impl_codec_struct!(SlashingSpans {
    index,
    last_start,
    prior: crust_primitives::codec::max_items(MAX_PRIOR_SPANS),
});

/// What one span of one stash has been slashed and paid to reporters so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SpanRecord {
    /// The largest slash in the span (what the stash pays for it in total).
    pub slashed: Balance,
    /// Reporters' rewards already paid for it.
    pub paid_out: Balance,
}
crust_primitives::impl_codec_struct!(SpanRecord { slashed, paid_out });

impl SlashingSpans {
    /// The span containing `era`, if it is still tracked.
    fn span_of(&self, era: EraIndex) -> Option<u32> {
        if era >= self.last_start {
            return Some(self.index);
        }
        self.prior
            .iter()
            .position(|&start| era >= start)
            .and_then(|i| self.index.checked_sub(1 + i as u32))
    }
}

/// A stash's slashing spans.
pub fn slashing_spans(
    state: &impl State,
    stash: &AccountId,
) -> Result<SlashingSpans, StakingError> {
    Ok(state.read_or_default(&spans_key(stash))?)
}

/// What span `span` of `stash` has been slashed and paid out.
pub fn span_record(
    state: &impl State,
    stash: &AccountId,
    span: u32,
) -> Result<SpanRecord, StakingError> {
    Ok(state.read_or_default(&span_record_key(stash, span))?)
}

/// Forgets a stash's spans (its bond is gone).
pub(super) fn clear_spans(state: &mut impl State, stash: &AccountId) -> Result<(), StakingError> {
    let spans = slashing_spans(state, stash)?;
    for span in spans.index.saturating_sub(MAX_PRIOR_SPANS as u32)..=spans.index {
        state.delete(&span_record_key(stash, span));
    }
    state.delete(&spans_key(stash));
    Ok(())
}

/// Books a slash of `amount` (the offence era's fraction of the stash's exposure) in the span
/// of `era`: returns what is still to be slashed (beyond the span's largest slash so far) and
/// the reporters' reward due for this stash. A slash in the current span ends it.
fn book_in_span(
    state: &mut impl State,
    stash: &AccountId,
    era: EraIndex,
    active: EraIndex,
    amount: Balance,
    reward_fraction: Perbill,
) -> Result<(Balance, Balance), StakingError> {
    let mut spans = slashing_spans(state, stash)?;
    let Some(span) = spans.span_of(era) else {
        return Ok((0, 0)); // older than every tracked span
    };
    let mut record = span_record(state, stash, span)?;
    let more = amount.saturating_sub(record.slashed);
    if more == 0 {
        return Ok((0, 0));
    }
    record.slashed = amount;
    // Reporters get half of `reward_fraction` of the span's slash, less what they got already.
    let due = Perbill::from_percent(50)
        .mul_nearest(reward_fraction.mul_nearest(record.slashed))
        .saturating_sub(record.paid_out);
    record.paid_out = record.paid_out.saturating_add(due);
    state.write(&span_record_key(stash, span), &record);
    if span == spans.index {
        // End the current span: the next one starts after the active era.
        spans.prior.insert(0, spans.last_start);
        if spans.prior.len() > MAX_PRIOR_SPANS {
            spans.prior.truncate(MAX_PRIOR_SPANS);
            let oldest = spans.index.saturating_sub(MAX_PRIOR_SPANS as u32);
            state.delete(&span_record_key(stash, oldest));
        }
        spans.last_start = active.saturating_add(1);
        spans.index = spans.index.saturating_add(1);
        state.write(&spans_key(stash), &spans);
    }
    Ok((more, due))
}

/// The slashes waiting to be applied at the start of `era`.
pub fn pending_slashes(
    state: &impl State,
    era: EraIndex,
) -> Result<Vec<PendingSlash>, StakingError> {
    Ok(state
        .read_with(&slashes_key(era), &crust_primitives::codec::max_items(4096))?
        .unwrap_or_default())
}

/// Reports that the validator with consensus key `offender` misbehaved in `era`, to be slashed
/// by `fraction` of its exposure. A zero fraction only chills it. Returns whether it was
/// recorded (unknown offenders and repeated smaller fractions are ignored).
pub fn report_offence(
    state: &mut impl State,
    era: EraIndex,
    offender: &AccountId,
    fraction: Perbill,
    reporters: &[AccountId],
) -> Result<bool, StakingError> {
    let active = active_era(state)?;
    let window = system::config(state)?.bonding_duration_eras;
    if era > active || era.saturating_add(window) < active {
        return Ok(false); // not yet, or older than the bonding window
    }
    let Some(members) = committee(state, era)? else {
        return Ok(false);
    };
    let Some(stash) = members
        .iter()
        .find(|m| m.session_key == *offender)
        .map(|m| m.stash)
    else {
        return Ok(false);
    };
    // The offender leaves the validator set, and a new era is forced so the committee changes.
    chill_stash(state, &stash)?;
    let mut forced = params(state)?;
    forced.force_era = super::Forcing::ForceNew;
    super::set_params(state, &forced);
    if fraction.is_zero() {
        return Ok(true);
    }
    let prior: Perbill = state
        .read(&slash_in_era_key(era, &stash))?
        .unwrap_or_default();
    if fraction <= prior {
        return Ok(false);
    }
    state.write(&slash_in_era_key(era, &stash), &fraction);
    let exp: Exposure = exposure(state, era, &stash)?.unwrap_or_default();
    let p = params(state)?;
    let (own, mut payout) = book_in_span(
        state,
        &stash,
        era,
        active,
        fraction.mul_nearest(exp.own),
        p.slash_reward_fraction,
    )?;
    let mut others = Vec::new();
    for o in &exp.others {
        let (value, due) = book_in_span(
            state,
            &o.who,
            era,
            active,
            fraction.mul_nearest(o.value),
            p.slash_reward_fraction,
        )?;
        payout = payout.saturating_add(due);
        if value > 0 {
            others.push(IndividualExposure { who: o.who, value });
        }
    }
    let slash = PendingSlash {
        validator: stash,
        own,
        others,
        reporters: reporters.iter().take(16).copied().collect(),
        payout,
    };
    // Applied at the start of era `active + defer + 1`, as the reference applies queued slashes
    // of era e once `e < a − defer`.
    let apply_era = active.saturating_add(p.slash_defer_eras).saturating_add(1);
    crate::history::note_offence(state)?;
    state.emit(Event::Staking(StakingEvent::SlashReported {
        validator: stash,
        fraction,
        apply_era,
    }));
    if p.slash_defer_eras == 0 {
        apply(state, &slash)?;
    } else {
        let mut list = pending_slashes(state, apply_era)?;
        list.push(slash);
        state.write(&slashes_key(apply_era), &list);
    }
    Ok(true)
}

fn equivocators_key(era: EraIndex, view: u64) -> Vec<u8> {
    key(
        "staking",
        "equivocators",
        &[&era.to_be_bytes(), &view.to_be_bytes()],
    )
}

/// Most offenders remembered for one consensus round (a committee is never larger).
const MAX_EQUIVOCATORS: usize = 1024;

/// The consensus keys known to have equivocated in round `view` of `era`.
pub fn equivocators(
    state: &impl State,
    era: EraIndex,
    view: u64,
) -> Result<Vec<AccountId>, StakingError> {
    Ok(state
        .read_with(
            &equivocators_key(era, view),
            &crust_primitives::codec::max_items(MAX_EQUIVOCATORS),
        )?
        .unwrap_or_default())
}

/// The slash for `k` equivocators in one round of a committee of `n`: `min((3k/n)², 1)`, the
/// reference's BABE and GRANDPA equivocation fraction (`docs/reference.md` G7), so a lone
/// offender in a large committee loses little and a coordinated attack by a third loses
/// everything.
pub fn equivocation_fraction(k: u32, n: u32) -> Perbill {
    let (k, n) = (u128::from(k), u128::from(n.max(1)));
    Perbill::from_rational_approximation(9 * k * k, n * n)
}

/// Whether a report that `offender` equivocated in round `view` of `era` would be new: the era
/// has started and is inside the bonding window, the offender was in its committee, and that
/// round's offence is not yet known. Block builders include only such evidence.
pub fn equivocation_reportable(
    state: &impl State,
    era: EraIndex,
    view: u64,
    offender: &AccountId,
) -> Result<bool, StakingError> {
    let active = active_era(state)?;
    let window = system::config(state)?.bonding_duration_eras;
    if era > active || era.saturating_add(window) < active {
        return Ok(false);
    }
    let Some(members) = committee(state, era)? else {
        return Ok(false);
    };
    if !members.iter().any(|m| m.session_key == *offender) {
        return Ok(false);
    }
    let known = equivocators(state, era, view)?;
    Ok(!known.contains(offender) && known.len() < MAX_EQUIVOCATORS)
}

/// Reports that the validator with consensus key `offender` signed conflicting votes in round
/// `view` of `era` (the chain has checked the signatures). Every offender of that round is
/// (re)slashed by [`equivocation_fraction`] of the round's offender count, so later reports of
/// the same round raise the earlier offenders' fraction as the reference does. `reporter` is
/// the including block's proposer (its stash is paid the reporter share). Returns whether the
/// report was new; repeats, non-members and rounds outside the bonding window are ignored.
pub fn report_equivocation(
    state: &mut impl State,
    era: EraIndex,
    view: u64,
    offender: &AccountId,
    reporter: &AccountId,
) -> Result<bool, StakingError> {
    if !equivocation_reportable(state, era, view, offender)? {
        return Ok(false);
    }
    let Some(members) = committee(state, era)? else {
        return Ok(false);
    };
    let mut known = equivocators(state, era, view)?;
    known.push(*offender);
    state.write(&equivocators_key(era, view), &known);
    let n = u32::try_from(members.len()).unwrap_or(u32::MAX);
    let k = u32::try_from(known.len()).unwrap_or(u32::MAX);
    let fraction = equivocation_fraction(k, n);
    // The reporter is paid through its stash when it is a validator of that era.
    let reporter = members
        .iter()
        .find(|m| m.session_key == *reporter)
        .map_or(*reporter, |m| m.stash);
    for who in &known {
        // An offender that includes evidence against itself is not paid for it.
        let own = members
            .iter()
            .any(|m| m.session_key == *who && m.stash == reporter);
        let reporters: &[AccountId] = if own {
            &[]
        } else {
            std::slice::from_ref(&reporter)
        };
        report_offence(state, era, who, fraction, reporters)?;
    }
    Ok(true)
}

/// Governance: cancels pending slashes of `era` by index.
pub(super) fn cancel_deferred_slash(
    state: &mut impl State,
    ctx: &CallContext,
    era: EraIndex,
    indices: &[u32],
) -> Result<(), StakingError> {
    system::ensure_governance(state, &ctx.caller)?;
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(StakingError::DuplicateIndex);
    }
    let mut list = pending_slashes(state, era)?;
    if sorted.last().is_some_and(|&i| i as usize >= list.len()) {
        return Err(StakingError::InvalidSlashIndex);
    }
    for i in sorted.into_iter().rev() {
        list.remove(i as usize);
    }
    state.write(&slashes_key(era), &list);
    Ok(())
}

/// Applies every slash scheduled for `era` (called when it starts).
pub(super) fn apply_due(state: &mut impl State, era: EraIndex) -> Result<(), StakingError> {
    for slash in pending_slashes(state, era)? {
        apply(state, &slash)?;
    }
    state.delete(&slashes_key(era));
    Ok(())
}

fn apply(state: &mut impl State, slash: &PendingSlash) -> Result<(), StakingError> {
    let mut slashed = slash_stash(state, &slash.validator, slash.own)?;
    for other in &slash.others {
        slashed = slashed.saturating_add(slash_stash(state, &other.who, other.value)?);
    }
    crate::history::note_slashed(state, slashed)?;
    let reward = slash.payout.min(slashed);
    if !slash.reporters.is_empty() && reward > 0 {
        // Reporters are paid out of what the slash moved to the treasury.
        let each = reward / slash.reporters.len() as u128;
        for r in &slash.reporters {
            balances::transfer(
                state,
                &crate::system::treasury_account(),
                r,
                each,
                balances::Existence::AllowDeath,
            )?;
        }
    }
    Ok(())
}

/// Takes `amount` from a stash's bond — active first, then unlocking chunks soonest first —
/// moves it to the treasury, and shrinks its guarantees to fit (D22).
fn slash_stash(
    state: &mut impl State,
    stash: &AccountId,
    amount: Balance,
) -> Result<Balance, StakingError> {
    let Some((controller, mut ledger)) = ledger_of_stash(state, stash)? else {
        return Ok(0);
    };
    let mut left = amount.min(ledger.total);
    let from_active = left.min(ledger.active);
    ledger.active -= from_active;
    left -= from_active;
    for chunk in ledger.unlocking.iter_mut() {
        let take = left.min(chunk.value);
        chunk.value -= take;
        left -= take;
    }
    ledger.unlocking.retain(|c| c.value > 0);
    let taken = amount.min(ledger.total) - left;
    ledger.total -= taken;
    let burned = balances::slash(state, stash, taken)?;
    // What a slash takes goes to the treasury (as in the reference), where only a passed
    // proposal can spend it.
    balances::mint(state, &crate::system::treasury_account(), burned)?;
    put_ledger(state, &controller, &ledger)?;
    fit_guarantee(state, stash, ledger.active)?;
    state.emit(Event::Staking(StakingEvent::Slash {
        stash: *stash,
        amount: burned,
    }));
    Ok(burned)
}
