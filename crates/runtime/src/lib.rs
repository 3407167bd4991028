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
//! - [`system`]: configuration, governance, the fee formula, the clock and block hashes;
//! - [`executive`]: applies transactions and runs every module's block hooks.

pub mod balances;
pub mod benefits;
pub mod executive;
pub mod genesis;
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
}

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
            0 => Ok(Call::Balances(balances::BalancesCall::read(buf)?)),
            1 => Ok(Call::Market(market::MarketCall::read(buf)?)),
            2 => Ok(Call::Benefits(benefits::BenefitsCall::read(buf)?)),
            3 => Ok(Call::Swork(swork::SworkCall::read(buf)?)),
            4 => Ok(Call::Staking(staking::StakingCall::read(buf)?)),
            other => Err(crust_primitives::codec::Error::InvalidEnum(other)),
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
}

pub use executive::dispatch;
