//! Governance types, errors and events.

use crate::ProposedCall;
use crate::balances::BalancesError;
use crate::state::StateError;
use crate::system::SystemError;
use crust_primitives::codec::{
    Buf, BufMut, Error as CodecError, FixedSize, Read, ReadExt, Write, max_items,
};
use crust_primitives::{AccountId, Balance, BlockHeight, Perbill};
use serde::Serialize;

/// Most proposals voting or waiting for enactment at once (each costs a deposit; the block
/// hook looks at all of them, so the bound keeps it cheap).
pub const MAX_ACTIVE_PROPOSALS: usize = 16;
/// Most council members.
pub const MAX_COUNCIL: usize = 32;

/// What a proposal's call does, which decides the turnout and approval it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ProposalKind {
    /// A parameter change (market fees, challenge and punishment switches, committee size,
    /// minimum self-bond, era forcing, governance's own parameters).
    Parameter,
    /// Spending from the treasury or the market's reserved pot.
    Treasury,
    /// Who is trusted: attestation authorities and threshold, the code allowlist, the SGX TCB
    /// and SRD policies, the council.
    Authority,
    /// Cancelling deferred slashes.
    Slash,
    /// Scheduling or cancelling a protocol upgrade.
    Upgrade,
}

impl ProposalKind {
    /// Every kind, in codec order.
    pub const ALL: [ProposalKind; 5] = [
        ProposalKind::Parameter,
        ProposalKind::Treasury,
        ProposalKind::Authority,
        ProposalKind::Slash,
        ProposalKind::Upgrade,
    ];
}

impl Write for ProposalKind {
    fn write(&self, buf: &mut impl BufMut) {
        (*self as u8).write(buf);
    }
}
impl FixedSize for ProposalKind {
    const SIZE: usize = 1;
}
impl Read for ProposalKind {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let tag = u8::read(buf)?;
        Self::ALL
            .get(usize::from(tag))
            .copied()
            .ok_or(CodecError::InvalidEnum(tag))
    }
}

/// What a kind of proposal needs to pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Threshold {
    /// Votes cast (aye + nay stake) must be at least this share of all active bonded stake.
    pub turnout: Perbill,
    /// Aye stake must be more than this share of the votes cast (at least 50%).
    pub approval: Perbill,
}
crust_primitives::impl_codec_struct!(Threshold { turnout, approval });

/// Governance parameters (changed only by a passed `Parameter` proposal).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GovParams {
    /// Reserved from the proposer until the proposal ends; returned unless the council kills
    /// it (then it goes to the treasury).
    pub proposal_deposit: Balance,
    /// Blocks a proposal is open for votes. Shorter than the bonding duration, so stake that
    /// voted stays bonded or unbonding (never withdrawn and re-bonded elsewhere) until the
    /// vote closes.
    pub voting_period: BlockHeight,
    /// Blocks between a proposal passing and its call running, so the council can stop it and
    /// operators can prepare.
    pub enactment_delay: BlockHeight,
    /// Needs of parameter changes.
    pub parameter: Threshold,
    /// Needs of treasury spends.
    pub treasury: Threshold,
    /// Needs of authority changes.
    pub authority: Threshold,
    /// Needs of slash cancellations.
    pub slash: Threshold,
    /// Needs of upgrades.
    pub upgrade: Threshold,
}
crust_primitives::impl_codec_struct!(GovParams {
    proposal_deposit,
    voting_period,
    enactment_delay,
    parameter,
    treasury,
    authority,
    slash,
    upgrade,
});

impl GovParams {
    /// Defaults for a chain whose eras are `era_blocks` long and slots `slot_blocks`: a vote
    /// lasts one era, enactment waits one slot; parameter changes, treasury spends and slash
    /// cancellations need 10% turnout and a majority, authority changes 20% and two thirds,
    /// upgrades a third of all stake and two thirds.
    pub fn defaults(era_blocks: BlockHeight, slot_blocks: BlockHeight, deposit: Balance) -> Self {
        let simple = Threshold {
            turnout: Perbill::from_percent(10),
            approval: Perbill::from_percent(50),
        };
        let two_thirds = Perbill::from_parts(666_666_667);
        Self {
            proposal_deposit: deposit,
            voting_period: era_blocks.max(1),
            enactment_delay: slot_blocks,
            parameter: simple,
            treasury: simple,
            authority: Threshold {
                turnout: Perbill::from_percent(20),
                approval: two_thirds,
            },
            slash: simple,
            upgrade: Threshold {
                turnout: Perbill::from_parts(333_333_334),
                approval: two_thirds,
            },
        }
    }

    /// The threshold for `kind`.
    pub fn threshold(&self, kind: ProposalKind) -> Threshold {
        match kind {
            ProposalKind::Parameter => self.parameter,
            ProposalKind::Treasury => self.treasury,
            ProposalKind::Authority => self.authority,
            ProposalKind::Slash => self.slash,
            ProposalKind::Upgrade => self.upgrade,
        }
    }
}

/// The council: a multisig that can only stop proposals, never pass them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Council {
    /// Members.
    pub members: Vec<AccountId>,
    /// Approvals a cancellation needs (1..=members; 0 only with no members).
    pub threshold: u32,
}
crust_primitives::impl_codec_struct!(Council {
    members: max_items(MAX_COUNCIL),
    threshold,
});

/// Where a proposal is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ProposalStatus {
    /// Open for votes until `voting_ends`.
    Voting {},
    /// Passed; its call runs at the start of block `enact_at`.
    Passed {
        /// Block the call runs in.
        enact_at: BlockHeight,
    },
    /// Did not reach its turnout or approval.
    Rejected {},
    /// Stopped by the council; the deposit was returned (`killed` false) or sent to the
    /// treasury (`killed` true).
    Cancelled {
        /// Whether the deposit was forfeited.
        killed: bool,
    },
    /// Its call ran and succeeded.
    Enacted {
        /// Block it ran in.
        at: BlockHeight,
    },
    /// Its call ran and failed (its changes were discarded).
    EnactmentFailed {
        /// Block it ran in.
        at: BlockHeight,
        /// Why (UTF-8, at most 256 bytes).
        error: Vec<u8>,
    },
}
crust_primitives::impl_codec_enum!(ProposalStatus {
    0 => Voting {},
    1 => Passed { enact_at },
    2 => Rejected {},
    3 => Cancelled { killed },
    4 => Enacted { at },
    5 => EnactmentFailed { at, error: max_items(256) },
});

impl ProposalStatus {
    /// Whether the proposal is still voting or waiting to run.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Voting {} | Self::Passed { .. })
    }
}

/// A proposal and its running tally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Who proposed it (and put down the deposit).
    pub proposer: AccountId,
    /// The privileged call it would make.
    pub call: ProposedCall,
    /// Its kind.
    pub kind: ProposalKind,
    /// The deposit reserved.
    pub deposit: Balance,
    /// Block it was made in.
    pub submitted_at: BlockHeight,
    /// The first block after voting closes (the tally runs at its start).
    pub voting_ends: BlockHeight,
    /// Stake voting aye.
    pub aye: Balance,
    /// Stake voting nay.
    pub nay: Balance,
    /// Accounts that voted.
    pub voters: u32,
    /// Where it is.
    pub status: ProposalStatus,
}
crust_primitives::impl_codec_struct!(Proposal {
    proposer,
    call,
    kind,
    deposit,
    submitted_at,
    voting_ends,
    aye,
    nay,
    voters,
    status,
});

/// One account's vote on one proposal: its bonded stake at the time it voted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Vote {
    /// For or against.
    pub aye: bool,
    /// The stake it counts with.
    pub weight: Balance,
}
crust_primitives::impl_codec_struct!(Vote { aye, weight });

/// Governance errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GovernanceError {
    /// The call is not one governance makes (it needs no privilege, or it is a governance
    /// vote itself).
    #[error("this call needs no governance; send it as an ordinary transaction")]
    NotPrivileged,
    /// Too many proposals are open.
    #[error("{max} proposals are already open; wait for one to close")]
    TooManyActive {
        /// The bound.
        max: usize,
    },
    /// No proposal has this number.
    #[error("no proposal #{id}")]
    NoSuchProposal {
        /// The number.
        id: u32,
    },
    /// The proposal is not open for votes.
    #[error("proposal #{id} is not open for votes")]
    NotVoting {
        /// The number.
        id: u32,
    },
    /// The proposal can no longer be cancelled.
    #[error("proposal #{id} has already closed")]
    NotActive {
        /// The number.
        id: u32,
    },
    /// Only bonded stake votes.
    #[error("{who} has no active bonded stake to vote with (bond as a stash first)")]
    NoVotingStake {
        /// The caller.
        who: AccountId,
    },
    /// Only council members may approve a cancellation.
    #[error("{who} is not on the council")]
    NotCouncilMember {
        /// The caller.
        who: AccountId,
    },
    /// A member approves a cancellation once.
    #[error("{who} already approved this cancellation")]
    AlreadyApproved {
        /// The caller.
        who: AccountId,
    },
    /// A council needs members and a threshold between 1 and their number.
    #[error("a council needs distinct members and a threshold of 1..={members}, not {threshold}")]
    InvalidCouncil {
        /// Members given.
        members: usize,
        /// Threshold given.
        threshold: u32,
    },
    /// Governance parameters out of range.
    #[error("governance parameters: {0}")]
    InvalidParams(String),
    /// The treasury cannot cover a spend.
    #[error("the treasury holds {available}, less than the {requested} asked for")]
    InsufficientTreasury {
        /// Asked.
        requested: Balance,
        /// Spendable.
        available: Balance,
    },
    /// Reserving or returning a deposit failed.
    #[error(transparent)]
    Balances(#[from] BalancesError),
    /// Reading stake failed (boxed: staking's errors are large, and governance's stay small).
    #[error(transparent)]
    Staking(Box<crate::staking::StakingError>),
    /// A privilege or upgrade check failed.
    #[error(transparent)]
    System(#[from] SystemError),
    /// The state is corrupt.
    #[error(transparent)]
    State(#[from] StateError),
}

impl From<crate::staking::StakingError> for GovernanceError {
    fn from(e: crate::staking::StakingError) -> Self {
        Self::Staking(Box::new(e))
    }
}

/// Governance events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum GovernanceEvent {
    /// A proposal opened.
    Proposed {
        /// Number.
        id: u32,
        /// Proposer.
        proposer: AccountId,
        /// Kind.
        kind: ProposalKind,
        /// Deposit reserved.
        deposit: Balance,
        /// First block after voting.
        voting_ends: BlockHeight,
    },
    /// A vote was cast (or changed).
    Voted {
        /// Proposal.
        id: u32,
        /// Voter (a stash).
        voter: AccountId,
        /// For or against.
        aye: bool,
        /// Stake counted.
        weight: Balance,
    },
    /// A proposal passed.
    Passed {
        /// Proposal.
        id: u32,
        /// Block its call runs in.
        enact_at: BlockHeight,
        /// Aye stake.
        aye: Balance,
        /// Nay stake.
        nay: Balance,
        /// All active bonded stake at the tally.
        electorate: Balance,
    },
    /// A proposal failed its turnout or approval.
    Rejected {
        /// Proposal.
        id: u32,
        /// Aye stake.
        aye: Balance,
        /// Nay stake.
        nay: Balance,
        /// All active bonded stake at the tally.
        electorate: Balance,
    },
    /// A passed proposal's call ran.
    Enacted {
        /// Proposal.
        id: u32,
    },
    /// A passed proposal's call ran and failed; nothing it did was kept.
    EnactmentFailed {
        /// Proposal.
        id: u32,
        /// Why.
        error: String,
    },
    /// A council member approved stopping a proposal.
    CancelApproved {
        /// Proposal.
        id: u32,
        /// Member.
        member: AccountId,
        /// Whether the deposit is to be forfeited.
        kill: bool,
        /// Approvals so far.
        approvals: u32,
        /// Approvals needed.
        threshold: u32,
    },
    /// The council stopped a proposal.
    Cancelled {
        /// Proposal.
        id: u32,
        /// Whether the deposit went to the treasury.
        killed: bool,
    },
    /// The treasury paid out.
    TreasurySpent {
        /// Recipient.
        to: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// The council changed.
    CouncilSet {
        /// Members.
        members: Vec<AccountId>,
        /// Threshold.
        threshold: u32,
    },
    /// Governance parameters changed.
    ParamsSet {
        /// The new parameters.
        params: GovParams,
    },
}
