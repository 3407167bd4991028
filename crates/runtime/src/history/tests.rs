use super::*;
use crate::testing::*;
use crate::{MemoryState, market};

const SLOT: u64 = 300; // the reference mock's report slot

/// A slot's end as the executive would report it (these tests do not look at it).
fn end(_: &MemoryState) -> Result<SlotEnd, SystemError> {
    Ok(SlotEnd::default())
}

/// The reference mock under protocol version 3 from genesis (history kept).
fn chain() -> Chain {
    let mut chain = Chain::mock();
    system::set_genesis_version(&mut chain.state, 3).unwrap();
    start(&mut chain.state).unwrap();
    chain
}

#[test]
fn nothing_is_kept_before_version_3() {
    let mut chain = Chain::mock();
    chain.set_free(BOB, 1_000_000_000_000);
    chain.order(BOB, &cid_n(1), 1 << 20, 0).unwrap();
    chain.run_blocks_to(2 * SLOT + 1, ROOT);
    assert_eq!(last_slot(&chain.state).unwrap(), None);
    assert_eq!(current(&chain.state).unwrap(), SlotRecord::default());
    assert!(recent(&chain.state, None, 10).unwrap().is_empty());
}

#[test]
fn each_slot_closes_with_its_orders_fees_pots_and_storage() {
    let mut chain = chain();
    chain.set_free(BOB, 1_000_000_000_000);
    chain.run_blocks_to(5, ROOT);
    chain.order(BOB, &cid_n(1), 1 << 20, 0).unwrap();
    chain.order(BOB, &cid_n(2), 3 << 20, 0).unwrap();
    assert_eq!(
        current(&chain.state).unwrap().orders,
        2,
        "counted as they come"
    );
    chain.run_blocks_to(SLOT, ROOT);
    let first = slot(&chain.state, 0).unwrap().expect("slot 0 closed");
    let params = market::params(&chain.state).unwrap();
    assert_eq!(
        (first.orders, first.ordered_bytes, first.closed),
        (2, 4 << 20, true)
    );
    assert_eq!(
        (first.base_fee, first.byte_fee, first.keys_fee),
        (params.base_fee, params.byte_fee, params.keys_fee)
    );
    assert_eq!(first.live_files, 2);
    assert_eq!(first.storage_pot, chain.pot(market::storage_pot()));
    assert!(
        first.storage_pot > 0,
        "the orders paid into the storage pot"
    );
    assert_eq!(first.staking_pot, chain.pot(market::staking_pot()));
    // No workers: the consolidation of slot 0 completes in the block that closed it.
    assert_eq!(
        first.storage,
        Some(StorageTotals {
            slot: 0,
            ..StorageTotals::default()
        })
    );
    assert_eq!(
        current(&chain.state).unwrap().slot,
        SLOT,
        "slot in progress"
    );
    chain.order(BOB, &cid_n(3), 1 << 20, 0).unwrap();
    chain.run_blocks_to(2 * SLOT, ROOT);
    assert_eq!(last_slot(&chain.state).unwrap(), Some(SLOT));
    let newest = recent(&chain.state, None, 10).unwrap();
    assert_eq!(
        newest
            .iter()
            .map(|r| (r.slot, r.orders))
            .collect::<Vec<_>>(),
        [(SLOT, 1), (0, 2)]
    );
    assert_eq!(newest[0].live_files, 3);
    // Pages: the slots that start before a height; limits hold.
    assert_eq!(recent(&chain.state, Some(SLOT), 10).unwrap(), [first]);
    assert_eq!(recent(&chain.state, Some(SLOT + 7), 10).unwrap().len(), 2);
    assert_eq!(recent(&chain.state, None, 1).unwrap().len(), 1);
    assert!(recent(&chain.state, Some(0), 10).unwrap().is_empty());
}

#[test]
fn old_slots_are_forgotten_after_history_slots() {
    let mut chain = chain();
    for k in 1..=HISTORY_SLOTS + 2 {
        on_initialize(&mut chain.state, k * SLOT, end).unwrap();
    }
    // Slots 0 and SLOT went when slots 720·SLOT and 721·SLOT closed.
    assert_eq!(slot(&chain.state, 0).unwrap(), None);
    assert_eq!(slot(&chain.state, SLOT).unwrap(), None);
    assert!(slot(&chain.state, 2 * SLOT).unwrap().is_some());
    let all = recent(&chain.state, None, usize::MAX).unwrap();
    assert_eq!(all.len() as u64, HISTORY_SLOTS);
    assert_eq!(all.last().map(|r| r.slot), Some(2 * SLOT));
    // Mid-slot heights close nothing.
    on_initialize(&mut chain.state, (HISTORY_SLOTS + 2) * SLOT + 1, end).unwrap();
    assert_eq!(
        last_slot(&chain.state).unwrap(),
        Some((HISTORY_SLOTS + 1) * SLOT)
    );
}

#[test]
fn a_refusal_reason_is_cut_at_a_character_boundary() {
    let mut chain = chain();
    let why = "é".repeat(REASON_BYTES); // two bytes each
    note_refused(&mut chain.state, &anchor(1), 2 * SLOT + 5, 1, &why).unwrap();
    let w = worker(&chain.state, &anchor(1)).unwrap();
    let kept = w.last_failure.clone().unwrap();
    assert_eq!((kept.slot, kept.challenge), (2 * SLOT, 1));
    assert_eq!(kept.why.len(), REASON_BYTES);
    assert!(std::str::from_utf8(&kept.why).is_ok());
    assert_eq!(w.failed_reports, 1);
    assert_eq!(current(&chain.state).unwrap().failed_reports, 1);
    // Shown as text.
    let json = serde_json::to_value(&w).unwrap();
    assert_eq!(
        json["last_failure"]["why"].as_str().unwrap().len(),
        REASON_BYTES
    );
}

#[test]
fn counters_saturate() {
    let mut chain = chain();
    let mut r = current(&chain.state).unwrap();
    r.orders = u32::MAX;
    r.ordered_bytes = u64::MAX - 1;
    r.slashed = Balance::MAX;
    chain.state.write(&current_key(), &r);
    note_order(&mut chain.state, 10).unwrap();
    note_slashed(&mut chain.state, 5).unwrap();
    let r = current(&chain.state).unwrap();
    assert_eq!(
        (r.orders, r.ordered_bytes, r.slashed),
        (u32::MAX, u64::MAX, Balance::MAX)
    );
}

#[test]
fn the_slot_an_upgrade_lands_in_is_not_recorded_in_part() {
    let mut chain = Chain::mock();
    chain.set_free(BOB, 1_000_000_000_000);
    chain.run_blocks_to(150, ROOT);
    // Version 3 from block 151 on: the rest of slot 0 is counted, but not recorded.
    system::set_genesis_version(&mut chain.state, 3).unwrap();
    chain.run_blocks_to(151, ROOT);
    chain.order(BOB, &cid_n(1), 1 << 20, 0).unwrap();
    chain.run_blocks_to(SLOT, ROOT);
    assert_eq!(last_slot(&chain.state).unwrap(), None);
    assert_eq!(current(&chain.state).unwrap().slot, SLOT);
    chain.order(BOB, &cid_n(2), 1 << 20, 0).unwrap();
    chain.run_blocks_to(2 * SLOT, ROOT);
    let kept = recent(&chain.state, None, 10).unwrap();
    assert_eq!(
        kept.iter().map(|r| (r.slot, r.orders)).collect::<Vec<_>>(),
        [(SLOT, 1)]
    );
}
