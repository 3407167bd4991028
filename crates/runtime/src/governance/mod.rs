//! Governance without a master key: proposals, stake-weighted votes, a council that can only
//! stop things, the treasury, and the privileged calls only a passed proposal makes.
//!
//! Any account proposes a privileged call with a deposit. Stakers vote with their active
//! bonded stake, counted as it was when they voted (no conviction: voting locks nothing new,
//! but the voting period is shorter than the bonding duration, so stake that voted cannot be
//! withdrawn and bonded again elsewhere before the vote closes). When voting ends the tally
//! needs, per kind of call, a turnout (votes cast / all active bonded stake) and an approval
//! (aye / votes cast, strictly more than the threshold). A passed call waits an enactment
//! delay, then the executive runs it as [`system::governance_origin`]; if it fails its changes
//! are discarded and an event says why. The council (a genesis-set or governance-set
//! multisig) can cancel a proposal before it runs — returning or forfeiting the deposit — and
//! can do nothing else. Dev and local chains may also have a `sudo` key
//! ([`system::RuntimeConfig::sudo`]); public specs have none.

#[cfg(test)]
mod tests;
mod types;

pub use types::*;

use crate::balances::{self, Existence};
use crate::state::{State, StateExt, key};
use crate::{CallContext, Event, ProposedCall, staking, system};
use crust_primitives::codec::max_items;
use crust_primitives::{AccountId, Balance, BlockHeight};

const MODULE: &str = "governance";

// ---- storage ------------------------------------------------------------------------------

/// The state key of the governance parameters.
pub fn params_key() -> Vec<u8> {
    key(MODULE, "params", &[])
}
/// The state key of the council.
pub fn council_key() -> Vec<u8> {
    key(MODULE, "council", &[])
}
/// The state key of the number the next proposal gets (= how many were made).
pub fn next_id_key() -> Vec<u8> {
    key(MODULE, "next_id", &[])
}
/// The state key of the list of open proposals.
pub fn active_key() -> Vec<u8> {
    key(MODULE, "active", &[])
}
/// The state key of proposal `id`.
pub fn proposal_key(id: u32) -> Vec<u8> {
    key(MODULE, "proposal", &[&id.to_be_bytes()])
}
/// The state key of `voter`'s vote on proposal `id`.
pub fn vote_key(id: u32, voter: &AccountId) -> Vec<u8> {
    key(MODULE, "vote", &[&id.to_be_bytes(), voter.as_bytes()])
}
fn approvals_key(id: u32, kill: bool) -> Vec<u8> {
    key(MODULE, "cancel", &[&id.to_be_bytes(), &[u8::from(kill)]])
}

/// Governance parameters.
pub fn params(state: &impl State) -> Result<GovParams, GovernanceError> {
    match state.read(&params_key())? {
        Some(p) => Ok(p),
        None => {
            let c = system::config(state)?;
            Ok(GovParams::defaults(c.era_blocks(), c.report_slot_blocks, 0))
        }
    }
}

/// The council (empty if none was set).
pub fn council(state: &impl State) -> Result<Council, GovernanceError> {
    Ok(state.read_or_default(&council_key())?)
}

/// Proposal `id`.
pub fn proposal(state: &impl State, id: u32) -> Result<Option<Proposal>, GovernanceError> {
    Ok(state.read(&proposal_key(id))?)
}

/// How many proposals were ever made (their numbers are `0..count`).
pub fn proposal_count(state: &impl State) -> Result<u32, GovernanceError> {
    Ok(state.read_or_default(&next_id_key())?)
}

/// The numbers of the proposals voting or waiting to run.
pub fn active(state: &impl State) -> Result<Vec<u32>, GovernanceError> {
    Ok(state
        .read_with::<Vec<u32>>(&active_key(), &max_items(MAX_ACTIVE_PROPOSALS))?
        .unwrap_or_default())
}

fn set_active(state: &mut impl State, ids: &[u32]) {
    state.write(&active_key(), &ids.to_vec());
}

/// `voter`'s vote on proposal `id`.
pub fn vote_of(
    state: &impl State,
    id: u32,
    voter: &AccountId,
) -> Result<Option<Vote>, GovernanceError> {
    Ok(state.read(&vote_key(id, voter))?)
}

/// The kind of proposal `call` needs, or `None` if it is not a privileged call.
pub fn kind_of(call: &crate::Call) -> Option<ProposalKind> {
    use crate::Call;
    use crate::market::MarketCall as M;
    use crate::staking::StakingCall as St;
    use crate::swork::SworkCall as Sw;
    use ProposalKind::*;
    match call {
        Call::Market(M::SetParameter { .. }) => Some(Parameter),
        Call::Market(M::SpendReserved { .. }) => Some(Treasury),
        Call::Swork(Sw::SetPunishment { .. } | Sw::SetChallenges { .. }) => Some(Parameter),
        Call::Swork(
            Sw::SetCode { .. }
            | Sw::SetAuthorities { .. }
            | Sw::SetSgxPolicy { .. }
            | Sw::SetSrdPolicy { .. },
        ) => Some(Authority),
        Call::Staking(
            St::SetValidatorCount { .. } | St::SetMinSelfBond { .. } | St::ForceEra { .. },
        ) => Some(Parameter),
        Call::Staking(St::CancelDeferredSlash { .. }) => Some(Slash),
        Call::Root(RootCall::TreasurySpend { .. }) => Some(Treasury),
        Call::Root(RootCall::SetCouncil { .. }) => Some(Authority),
        Call::Root(RootCall::SetParams { .. }) => Some(Parameter),
        Call::Root(RootCall::ScheduleUpgrade { .. } | RootCall::CancelUpgrade {}) => Some(Upgrade),
        _ => None,
    }
}

// ---- calls --------------------------------------------------------------------------------

/// Governance calls any account signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GovernanceCall {
    /// Proposes `call` (a privileged call), reserving the proposal deposit.
    Propose {
        /// The call to make if the proposal passes.
        call: ProposedCall,
    },
    /// A stash votes on an open proposal with its active bond (a second vote replaces the
    /// first).
    Vote {
        /// Proposal number.
        proposal: u32,
        /// For or against.
        aye: bool,
    },
    /// A council member approves stopping a proposal before it runs; with `kill` the deposit
    /// is forfeited to the treasury (for spam or malice), otherwise returned.
    CouncilCancel {
        /// Proposal number.
        proposal: u32,
        /// Forfeit the deposit.
        kill: bool,
    },
}
crust_primitives::impl_codec_enum!(GovernanceCall {
    0 => Propose { call },
    1 => Vote { proposal, aye },
    2 => CouncilCancel { proposal, kill },
});

/// Privileged calls of the governance module itself (only a passed proposal or a dev chain's
/// sudo key makes them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootCall {
    /// Pays `amount` from the treasury to `to`.
    TreasurySpend {
        /// Recipient.
        to: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Replaces the council.
    SetCouncil {
        /// Members.
        members: Vec<AccountId>,
        /// Approvals a cancellation needs.
        threshold: u32,
    },
    /// Replaces the governance parameters.
    SetParams {
        /// New parameters.
        params: GovParams,
    },
    /// Schedules the next protocol version at block `at`.
    ScheduleUpgrade {
        /// The version.
        version: u32,
        /// Its first block.
        at: BlockHeight,
    },
    /// Drops the scheduled upgrade.
    CancelUpgrade {},
}
crust_primitives::impl_codec_enum!(RootCall {
    0 => TreasurySpend { to, amount },
    1 => SetCouncil { members: max_items(MAX_COUNCIL), threshold },
    2 => SetParams { params },
    3 => ScheduleUpgrade { version, at },
    4 => CancelUpgrade {},
});

/// Executes a governance call.
pub fn dispatch(
    state: &mut impl State,
    ctx: &CallContext,
    call: &GovernanceCall,
) -> Result<(), GovernanceError> {
    match call {
        GovernanceCall::Propose { call } => propose(state, ctx, call).map(|_| ()),
        GovernanceCall::Vote { proposal, aye } => vote(state, ctx, *proposal, *aye),
        GovernanceCall::CouncilCancel { proposal, kill } => {
            council_cancel(state, ctx, *proposal, *kill)
        }
    }
}

/// Executes a privileged governance call.
pub fn dispatch_root(
    state: &mut impl State,
    ctx: &CallContext,
    call: &RootCall,
) -> Result<(), GovernanceError> {
    system::ensure_governance(state, &ctx.caller)?;
    match call {
        RootCall::TreasurySpend { to, amount } => treasury_spend(state, to, *amount),
        RootCall::SetCouncil { members, threshold } => set_council(state, members, *threshold),
        RootCall::SetParams { params } => set_params(state, params),
        RootCall::ScheduleUpgrade { version, at } => {
            Ok(system::schedule_upgrade(state, ctx, *version, *at)?)
        }
        RootCall::CancelUpgrade {} => Ok(system::cancel_upgrade(state, ctx)?),
    }
}

/// Opens a proposal for `call`; returns its number.
pub fn propose(
    state: &mut impl State,
    ctx: &CallContext,
    call: &ProposedCall,
) -> Result<u32, GovernanceError> {
    let kind = kind_of(&call.0).ok_or(GovernanceError::NotPrivileged)?;
    let mut open = active(state)?;
    if open.len() >= MAX_ACTIVE_PROPOSALS {
        return Err(GovernanceError::TooManyActive {
            max: MAX_ACTIVE_PROPOSALS,
        });
    }
    let p = params(state)?;
    balances::reserve(state, &ctx.caller, p.proposal_deposit)?;
    let id = proposal_count(state)?;
    let next = id
        .checked_add(1)
        .ok_or_else(|| GovernanceError::InvalidParams("proposal numbers exhausted".into()))?;
    let voting_ends = ctx.height.saturating_add(p.voting_period);
    state.write(
        &proposal_key(id),
        &Proposal {
            proposer: ctx.caller,
            call: call.clone(),
            kind,
            deposit: p.proposal_deposit,
            submitted_at: ctx.height,
            voting_ends,
            aye: 0,
            nay: 0,
            voters: 0,
            status: ProposalStatus::Voting {},
        },
    );
    state.write(&next_id_key(), &next);
    open.push(id);
    set_active(state, &open);
    state.emit(Event::Governance(GovernanceEvent::Proposed {
        id,
        proposer: ctx.caller,
        kind,
        deposit: p.proposal_deposit,
        voting_ends,
    }));
    Ok(id)
}

/// The caller (a stash) votes on proposal `id` with its active bond; a later vote replaces
/// an earlier one.
pub fn vote(
    state: &mut impl State,
    ctx: &CallContext,
    id: u32,
    aye: bool,
) -> Result<(), GovernanceError> {
    let mut p = proposal(state, id)?.ok_or(GovernanceError::NoSuchProposal { id })?;
    if p.status != (ProposalStatus::Voting {}) || ctx.height >= p.voting_ends {
        return Err(GovernanceError::NotVoting { id });
    }
    let weight = match staking::ledger_of_stash(state, &ctx.caller)? {
        Some((_, ledger)) if ledger.active > 0 => ledger.active,
        _ => return Err(GovernanceError::NoVotingStake { who: ctx.caller }),
    };
    match vote_of(state, id, &ctx.caller)? {
        Some(old) if old.aye => p.aye = p.aye.saturating_sub(old.weight),
        Some(old) => p.nay = p.nay.saturating_sub(old.weight),
        None => p.voters = p.voters.saturating_add(1),
    }
    if aye {
        p.aye = p.aye.saturating_add(weight);
    } else {
        p.nay = p.nay.saturating_add(weight);
    }
    state.write(&vote_key(id, &ctx.caller), &Vote { aye, weight });
    state.write(&proposal_key(id), &p);
    state.emit(Event::Governance(GovernanceEvent::Voted {
        id,
        voter: ctx.caller,
        aye,
        weight,
    }));
    Ok(())
}

/// A council member approves stopping proposal `id`; at the council's threshold (counting
/// only current members) the proposal is cancelled.
pub fn council_cancel(
    state: &mut impl State,
    ctx: &CallContext,
    id: u32,
    kill: bool,
) -> Result<(), GovernanceError> {
    let c = council(state)?;
    if !c.members.contains(&ctx.caller) {
        return Err(GovernanceError::NotCouncilMember { who: ctx.caller });
    }
    let mut p = proposal(state, id)?.ok_or(GovernanceError::NoSuchProposal { id })?;
    if !p.status.is_active() {
        return Err(GovernanceError::NotActive { id });
    }
    let mut approvals: Vec<AccountId> = state
        .read_with(&approvals_key(id, kill), &max_items(MAX_COUNCIL))?
        .unwrap_or_default();
    approvals.retain(|m| c.members.contains(m));
    if approvals.contains(&ctx.caller) {
        return Err(GovernanceError::AlreadyApproved { who: ctx.caller });
    }
    approvals.push(ctx.caller);
    let count = u32::try_from(approvals.len()).unwrap_or(u32::MAX);
    state.emit(Event::Governance(GovernanceEvent::CancelApproved {
        id,
        member: ctx.caller,
        kill,
        approvals: count,
        threshold: c.threshold,
    }));
    if count < c.threshold.max(1) {
        state.write(&approvals_key(id, kill), &approvals);
        return Ok(());
    }
    state.delete(&approvals_key(id, false));
    state.delete(&approvals_key(id, true));
    if kill {
        forfeit_deposit(state, &p)?;
    } else {
        balances::unreserve(state, &p.proposer, p.deposit)?;
    }
    p.status = ProposalStatus::Cancelled { killed: kill };
    close(state, id, &p)?;
    state.emit(Event::Governance(GovernanceEvent::Cancelled {
        id,
        killed: kill,
    }));
    Ok(())
}

fn forfeit_deposit(state: &mut impl State, p: &Proposal) -> Result<(), GovernanceError> {
    let taken = balances::slash_reserved(state, &p.proposer, p.deposit)?;
    balances::mint(state, &system::treasury_account(), taken)?;
    Ok(())
}

/// Stores a proposal that has ended and drops it from the open list.
fn close(state: &mut impl State, id: u32, p: &Proposal) -> Result<(), GovernanceError> {
    state.write(&proposal_key(id), p);
    let mut open = active(state)?;
    open.retain(|x| *x != id);
    set_active(state, &open);
    Ok(())
}

/// What the treasury can pay without closing its account.
pub fn treasury_balance(state: &impl State) -> Result<Balance, GovernanceError> {
    Ok(balances::free_balance(state, &system::treasury_account())?)
}

fn treasury_spend(
    state: &mut impl State,
    to: &AccountId,
    amount: Balance,
) -> Result<(), GovernanceError> {
    let available = treasury_balance(state)?;
    if available < amount {
        return Err(GovernanceError::InsufficientTreasury {
            requested: amount,
            available,
        });
    }
    balances::transfer(
        state,
        &system::treasury_account(),
        to,
        amount,
        Existence::AllowDeath,
    )?;
    state.emit(Event::Governance(GovernanceEvent::TreasurySpent {
        to: *to,
        amount,
    }));
    Ok(())
}

/// Checks and stores a council (also used at genesis).
pub(crate) fn set_council(
    state: &mut impl State,
    members: &[AccountId],
    threshold: u32,
) -> Result<(), GovernanceError> {
    let mut distinct = members.to_vec();
    distinct.sort();
    distinct.dedup();
    let ok = if members.is_empty() {
        threshold == 0
    } else {
        distinct.len() == members.len()
            && members.len() <= MAX_COUNCIL
            && threshold >= 1
            && threshold as usize <= members.len()
    };
    if !ok {
        return Err(GovernanceError::InvalidCouncil {
            members: members.len(),
            threshold,
        });
    }
    state.write(
        &council_key(),
        &Council {
            members: members.to_vec(),
            threshold,
        },
    );
    state.emit(Event::Governance(GovernanceEvent::CouncilSet {
        members: members.to_vec(),
        threshold,
    }));
    Ok(())
}

/// Checks and stores governance parameters (also used at genesis); see [`GovParams::check`].
pub(crate) fn set_params(state: &mut impl State, p: &GovParams) -> Result<(), GovernanceError> {
    p.check(&system::config(state)?)?;
    state.write(&params_key(), p);
    state.emit(Event::Governance(GovernanceEvent::ParamsSet {
        params: p.clone(),
    }));
    Ok(())
}

impl GovParams {
    /// Whether these parameters are usable on a chain configured as `c`: a vote lasts at
    /// least one block and less than the bonding duration (so voted stake cannot be withdrawn
    /// and bonded again elsewhere before the tally); approval thresholds are at least 50%.
    pub fn check(&self, c: &system::RuntimeConfig) -> Result<(), GovernanceError> {
        let bonding_blocks = c.era_blocks().saturating_mul(c.bonding_duration_eras);
        if self.voting_period == 0 || self.voting_period >= bonding_blocks {
            return Err(GovernanceError::InvalidParams(format!(
                "the voting period must be 1..{bonding_blocks} blocks (shorter than the \
                 bonding duration), not {}",
                self.voting_period
            )));
        }
        let half = crust_primitives::Perbill::from_percent(50);
        if ProposalKind::ALL
            .iter()
            .any(|k| self.threshold(*k).approval < half)
        {
            return Err(GovernanceError::InvalidParams(
                "approval thresholds must be at least 50%".into(),
            ));
        }
        Ok(())
    }
}

/// Where a proposal is, in words (for the CLI, the RPC and the console).
pub fn status_text(s: &ProposalStatus) -> String {
    match s {
        ProposalStatus::Voting {} => "voting".into(),
        ProposalStatus::Passed { enact_at } => format!("passed, runs at block {enact_at}"),
        ProposalStatus::Rejected {} => "rejected".into(),
        ProposalStatus::Cancelled { killed: false } => "cancelled by the council".into(),
        ProposalStatus::Cancelled { killed: true } => {
            "killed by the council (deposit forfeited)".into()
        }
        ProposalStatus::Enacted { at } => format!("enacted at block {at}"),
        ProposalStatus::EnactmentFailed { at, error } => format!(
            "ran at block {at} and failed: {}",
            String::from_utf8_lossy(error)
        ),
    }
}

// ---- block hook ---------------------------------------------------------------------------

/// Whether `aye`/`nay` out of `electorate` meets `t`: turnout at least, approval strictly more.
pub fn passes(t: Threshold, aye: Balance, nay: Balance, electorate: Balance) -> bool {
    let cast = aye.saturating_add(nay);
    cast > 0 && cast >= t.turnout.mul_ceil(electorate) && aye > t.approval.mul_floor(cast)
}

/// At the start of block `height`: tallies proposals whose voting ended and returns the calls
/// of passed proposals due now, in proposal order. The executive runs each as the governance
/// origin and reports back through [`record_enactment`]. Bounded by
/// [`MAX_ACTIVE_PROPOSALS`].
pub fn on_initialize(
    state: &mut impl State,
    height: BlockHeight,
) -> Result<Vec<(u32, crate::Call)>, GovernanceError> {
    let mut due = Vec::new();
    for id in active(state)? {
        let Some(mut p) = proposal(state, id)? else {
            continue;
        };
        if p.status == (ProposalStatus::Voting {}) && height >= p.voting_ends {
            let electorate = staking::total_active(state)?;
            let (aye, nay) = (p.aye, p.nay);
            if passes(params(state)?.threshold(p.kind), aye, nay, electorate) {
                let enact_at = height.saturating_add(params(state)?.enactment_delay);
                p.status = ProposalStatus::Passed { enact_at };
                state.write(&proposal_key(id), &p);
                state.emit(Event::Governance(GovernanceEvent::Passed {
                    id,
                    enact_at,
                    aye,
                    nay,
                    electorate,
                }));
            } else {
                balances::unreserve(state, &p.proposer, p.deposit)?;
                p.status = ProposalStatus::Rejected {};
                close(state, id, &p)?;
                state.emit(Event::Governance(GovernanceEvent::Rejected {
                    id,
                    aye,
                    nay,
                    electorate,
                }));
                continue;
            }
        }
        if let ProposalStatus::Passed { enact_at } = p.status
            && height >= enact_at
        {
            due.push((id, (*p.call.0).clone()));
        }
    }
    Ok(due)
}

/// Records what running proposal `id`'s call did (`error` is `None` on success), returns the
/// deposit and closes the proposal.
pub fn record_enactment(
    state: &mut impl State,
    id: u32,
    height: BlockHeight,
    error: Option<String>,
) -> Result<(), GovernanceError> {
    let mut p = proposal(state, id)?.ok_or(GovernanceError::NoSuchProposal { id })?;
    balances::unreserve(state, &p.proposer, p.deposit)?;
    match error {
        None => {
            p.status = ProposalStatus::Enacted { at: height };
            state.emit(Event::Governance(GovernanceEvent::Enacted { id }));
        }
        Some(e) => {
            let mut bytes = e.clone().into_bytes();
            let mut cut = bytes.len().min(256);
            while !e.is_char_boundary(cut) {
                cut = cut.saturating_sub(1);
            }
            bytes.truncate(cut);
            p.status = ProposalStatus::EnactmentFailed {
                at: height,
                error: bytes,
            };
            state.emit(Event::Governance(GovernanceEvent::EnactmentFailed {
                id,
                error: e,
            }));
        }
    }
    close(state, id, &p)
}

/// Writes the genesis council and parameters.
pub(crate) fn genesis(
    state: &mut impl State,
    params: &GovParams,
    council: &Council,
) -> Result<(), GovernanceError> {
    set_params(state, params)?;
    if !council.members.is_empty() {
        set_council(state, &council.members, council.threshold)?;
    }
    Ok(())
}
