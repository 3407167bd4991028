//! Protocol constants, each with the reference value it mirrors and where that value comes from.
//!
//! Values that a chain spec may change (slot and era lengths, file duration, fees) are defaults
//! here and live in runtime configuration; the ones that are protocol rules are fixed.

use crate::{Balance, BlockHeight};

/// Smallest unit per CRU: 12 decimals (`primitives/src/constants.rs`, `DOLLARS = 10^12`).
pub const UNITS_PER_CRU: Balance = 1_000_000_000_000;
/// 1 CENT = 10^10 units (`constants::currency::CENTS`).
pub const CENTS: Balance = 10_000_000_000;
/// 1 MILLICENT = 10^7 units (`constants::currency::MILLICENTS`).
pub const MILLICENTS: Balance = 10_000_000;
/// Existential deposit: 10 MILLICENTS = 10^8 units (runtime `ExistentialDeposit`).
pub const EXISTENTIAL_DEPOSIT: Balance = 10 * MILLICENTS;

/// Reference block time in milliseconds (`MILLISECS_PER_BLOCK` = 6000).
pub const REFERENCE_BLOCK_TIME_MS: u64 = 6_000;
/// Blocks per hour at the reference block time (`HOURS` = 600).
pub const HOURS: BlockHeight = 600;
/// Blocks per day at the reference block time (`DAYS` = 14 400).
pub const DAYS: BlockHeight = 24 * HOURS;
/// Reference report slot: one hour of blocks (`swork::REPORT_SLOT` = 600).
pub const REFERENCE_REPORT_SLOT_BLOCKS: BlockHeight = HOURS;
/// Reference era: 6 sessions of one hour (`SessionsPerEra` = 6, 3 600 blocks).
pub const REFERENCE_SLOTS_PER_ERA: u64 = 6;
/// Reference storage term bought by one order: 180 days (`FileDuration` = 2 592 000 blocks).
pub const REFERENCE_FILE_DURATION_BLOCKS: BlockHeight = 180 * DAYS;
/// Reference unbonding time: 112 eras = 28 days (`BondingDuration`).
pub const BONDING_DURATION_ERAS: u64 = 112;

/// Bytes in one MiB; the byte fee is charged per started MiB (`market::get_file_fee`).
pub const MIB: u64 = 1_048_576;
