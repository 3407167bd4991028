//! Per-block market work: fee adjustments on the reference's schedule, and spower maturity.

use super::pricing::{next_base_fee, next_byte_fee, next_keys_fee};
use super::{MarketError, MarketEvent, counters, params, replicas, set_counters, set_params};
use crate::state::State;
use crate::{Event, system};
use crust_primitives::BlockHeight;

/// Byte and keys fees adjust 3 blocks before an interval boundary (reference
/// `PRICE_UPDATE_OFFSET`), if an order or renewal happened since the last adjustment.
const PRICE_UPDATE_OFFSET: BlockHeight = 3;
/// The base fee adjusts 22 blocks before an interval boundary (`BASE_FEE_UPDATE_OFFSET`).
const BASE_FEE_UPDATE_OFFSET: BlockHeight = 22;

/// Runs the market's start-of-block work at `height`.
pub fn on_initialize(state: &mut impl State, height: BlockHeight) -> Result<(), MarketError> {
    let cfg = system::config(state)?;
    let mut p = params(state)?;
    let interval = u64::from(p.fee_adjust_interval_slots).saturating_mul(cfg.report_slot_blocks);
    if interval > 0 {
        let mut c = counters(state)?;
        let mut changed = false;
        if height
            .saturating_add(PRICE_UPDATE_OFFSET)
            .is_multiple_of(interval)
            && c.has_new_order
        {
            let supply = replicas::storage_supply(state)?;
            p.byte_fee = next_byte_fee(&p, &supply);
            p.keys_fee = next_keys_fee(&p, c.file_keys_count);
            c.has_new_order = false;
            c.last_fee_adjust_block = height;
            changed = true;
        }
        if height
            .saturating_add(BASE_FEE_UPDATE_OFFSET)
            .is_multiple_of(interval)
        {
            p.base_fee = next_base_fee(&p, c.added_replicas, c.orders_count);
            c.added_replicas = 0;
            c.orders_count = 0;
            c.last_fee_adjust_block = height;
            changed = true;
        }
        if changed {
            set_params(state, &p);
            set_counters(state, &c);
            state.emit(Event::Market(MarketEvent::FeesAdjusted {
                base_fee: p.base_fee,
                byte_fee: p.byte_fee,
                keys_fee: p.keys_fee,
            }));
        }
    }
    replicas::process_matured(state, height)?;
    replicas::expire_pending(state, height)
}
