//! The deterministic state machine of the network: balances, the storage market (DSM),
//! benefits and system (fees, nonces, governance, block hooks).
//!
//! The runtime never sees the network, the disk or the clock: time enters as the block height,
//! and all state goes through the [`State`] trait. Arithmetic is integer-only with the
//! reference network's rounding (decision D4), every call is atomic (D1), and no input makes
//! it panic (D2) — malformed or failing calls become typed errors while the fee is still paid.
//!
//! Modules share one shape (`mod.rs` calls, `types.rs`, `errors.rs`, `events.rs`, `tests.rs`):
//! - [`balances`]: free/reserved/locked balances, transfers, issuance;
//! - [`market`]: storage orders, pricing, pots, replica payouts, spower;
//! - [`benefits`]: locked funds for fee reductions and merchant collateral;
//! - [`swork`]: storage identities, attestation, work reports, groups, slot-end workload;
//! - [`staking`]: GPoS bonds, stake limits from storage, era elections, rewards, slashing;
//! - [`governance`]: proposals, stake-weighted votes, the council, the treasury;
//! - [`history`]: the chain's own record per report slot and per storage worker (what the
//!   console charts, provable like any state);
//! - [`system`]: configuration, who may make privileged calls, protocol versions, the fee
//!   formula, the clock and block hashes;
//! - [`executive`]: applies transactions, runs every module's block hooks and enacts passed
//!   proposals.

pub mod balances;
pub mod benefits;
pub mod executive;
pub mod genesis;
pub mod governance;
pub mod history;
#[cfg(test)]
mod invariants;
pub mod market;
#[cfg(test)]
mod scenario;
pub mod staking;
pub mod state;
pub mod swork;
pub mod system;
#[cfg(test)]
mod testing;

pub use genesis::Genesis;
pub use state::{MemoryState, State, StateExt};

use crust_primitives::{AccountId, BlockHeight, EraIndex};
use serde::Serialize;

/// Who is calling and when: the only inputs a call gets besides its arguments and state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallContext {
    /// The signer of the transaction.
    pub caller: AccountId,
    /// Height of the block the call executes in.
    pub height: BlockHeight,
    /// The active era.
    pub era: EraIndex,
}

/// The block a transaction executes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockContext {
    /// Block height.
    pub height: BlockHeight,
    /// Active era.
    pub era: EraIndex,
    /// The block's proposer, who receives 20% of fees.
    pub author: AccountId,
    /// Hash of the parent block; the runtime keeps recent block hashes so work reports can
    /// prove they were made for this chain at this slot.
    pub parent_hash: [u8; 32],
    /// The block's timestamp (ms since the Unix epoch), validated by consensus; the chain's
    /// clock for checks such as attestation collateral validity.
    pub timestamp_ms: u64,
}

/// Every call a signed transaction can make.
// A work report with its challenge answers makes the sWork variant the largest (~360 bytes); a
// call is decoded once per transaction and moved a few times, so boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// A balances call.
    Balances(balances::BalancesCall),
    /// A market call.
    Market(market::MarketCall),
    /// A benefits call.
    Benefits(benefits::BenefitsCall),
    /// An sWork call.
    Swork(swork::SworkCall),
    /// A staking call.
    Staking(staking::StakingCall),
    /// A governance call (propose, vote, council cancellation).
    Governance(governance::GovernanceCall),
    /// A privileged call of the governance module itself (treasury, council, parameters,
    /// upgrades).
    Root(governance::RootCall),
}

/// The tag of [`Call::Governance`] in the codec: calls under it cannot be proposed, which
/// keeps proposals from nesting (and decoding from recursing).
const GOVERNANCE_TAG: u8 = 5;

impl crust_primitives::codec::Write for Call {
    fn write(&self, buf: &mut impl crust_primitives::codec::BufMut) {
        match self {
            Call::Balances(c) => {
                0u8.write(buf);
                c.write(buf);
            }
            Call::Market(c) => {
                1u8.write(buf);
                c.write(buf);
            }
            Call::Benefits(c) => {
                2u8.write(buf);
                c.write(buf);
            }
            Call::Swork(c) => {
                3u8.write(buf);
                c.write(buf);
            }
            Call::Staking(c) => {
                4u8.write(buf);
                c.write(buf);
            }
            Call::Governance(c) => {
                GOVERNANCE_TAG.write(buf);
                c.write(buf);
            }
            Call::Root(c) => {
                6u8.write(buf);
                c.write(buf);
            }
        }
    }
}

impl crust_primitives::codec::EncodeSize for Call {
    fn encode_size(&self) -> usize {
        1 + match self {
            Call::Balances(c) => c.encode_size(),
            Call::Market(c) => c.encode_size(),
            Call::Benefits(c) => c.encode_size(),
            Call::Swork(c) => c.encode_size(),
            Call::Staking(c) => c.encode_size(),
            Call::Governance(c) => c.encode_size(),
            Call::Root(c) => c.encode_size(),
        }
    }
}

impl crust_primitives::codec::Read for Call {
    type Cfg = ();
    fn read_cfg(
        buf: &mut impl crust_primitives::codec::Buf,
        _: &(),
    ) -> Result<Self, crust_primitives::codec::Error> {
        use crust_primitives::codec::ReadExt as _;
        match u8::read(buf)? {
            GOVERNANCE_TAG => Ok(Call::Governance(governance::GovernanceCall::read(buf)?)),
            other => Call::read_variant(other, buf),
        }
    }
}

impl Call {
    /// Decodes the call after its tag, for every tag but [`GOVERNANCE_TAG`].
    fn read_variant(
        tag: u8,
        buf: &mut impl crust_primitives::codec::Buf,
    ) -> Result<Self, crust_primitives::codec::Error> {
        use crust_primitives::codec::ReadExt as _;
        match tag {
            0 => Ok(Call::Balances(balances::BalancesCall::read(buf)?)),
            1 => Ok(Call::Market(market::MarketCall::read(buf)?)),
            2 => Ok(Call::Benefits(benefits::BenefitsCall::read(buf)?)),
            3 => Ok(Call::Swork(swork::SworkCall::read(buf)?)),
            4 => Ok(Call::Staking(staking::StakingCall::read(buf)?)),
            6 => Ok(Call::Root(governance::RootCall::read(buf)?)),
            other => Err(crust_primitives::codec::Error::InvalidEnum(other)),
        }
    }
}

/// The call inside a proposal: any call but a governance call (a proposal to vote or propose
/// would nest), refused while decoding so nesting cannot even be expressed.
///
/// ```
/// # use crust_runtime::{Call, ProposedCall, staking::StakingCall};
/// let call = ProposedCall::new(Call::Staking(StakingCall::SetValidatorCount { count: 7 }));
/// assert!(matches!(*call.0, Call::Staking(_)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposedCall(pub Box<Call>);

impl ProposedCall {
    /// Wraps `call` for a proposal.
    pub fn new(call: Call) -> Self {
        Self(Box::new(call))
    }
}

impl crust_primitives::codec::Write for ProposedCall {
    fn write(&self, buf: &mut impl crust_primitives::codec::BufMut) {
        self.0.write(buf);
    }
}

impl crust_primitives::codec::EncodeSize for ProposedCall {
    fn encode_size(&self) -> usize {
        self.0.encode_size()
    }
}

impl crust_primitives::codec::Read for ProposedCall {
    type Cfg = ();
    fn read_cfg(
        buf: &mut impl crust_primitives::codec::Buf,
        _: &(),
    ) -> Result<Self, crust_primitives::codec::Error> {
        use crust_primitives::codec::ReadExt as _;
        match u8::read(buf)? {
            GOVERNANCE_TAG => Err(crust_primitives::codec::Error::InvalidEnum(GOVERNANCE_TAG)),
            other => Ok(ProposedCall(Box::new(Call::read_variant(other, buf)?))),
        }
    }
}

/// Every event the runtime emits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Event {
    /// System events.
    System(system::SystemEvent),
    /// Balances events.
    Balances(balances::BalancesEvent),
    /// Market events.
    Market(market::MarketEvent),
    /// Benefits events.
    Benefits(benefits::BenefitsEvent),
    /// sWork events.
    Swork(swork::SworkEvent),
    /// Staking events.
    Staking(staking::StakingEvent),
    /// Governance events.
    Governance(governance::GovernanceEvent),
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// A system error (e.g. a governance call from another account).
    #[error(transparent)]
    System(#[from] system::SystemError),
    /// A balances error.
    #[error(transparent)]
    Balances(#[from] balances::BalancesError),
    /// A market error.
    #[error(transparent)]
    Market(#[from] market::MarketError),
    /// A benefits error.
    #[error(transparent)]
    Benefits(#[from] benefits::BenefitsError),
    /// An sWork error.
    #[error(transparent)]
    Swork(#[from] swork::SworkError),
    /// A staking error.
    #[error(transparent)]
    Staking(#[from] staking::StakingError),
    /// A governance error.
    #[error(transparent)]
    Governance(#[from] governance::GovernanceError),
}

pub use executive::dispatch;
