//! Balances tests, with the reference's existential deposit of 10^8 units.

use super::*;
use crate::Genesis;
use crate::state::{MemoryState, atomically};
use crate::testing::{ALICE, BOB, CHARLIE, ROOT};
use crust_primitives::CRU;

const ED: Balance = 100_000_000;

fn state() -> MemoryState {
    Genesis::reference(ROOT)
        .with_balance(ALICE, 10 * CRU)
        .build()
        .unwrap()
}

fn send(
    state: &mut MemoryState,
    from: AccountId,
    to: AccountId,
    amount: Balance,
    e: Existence,
) -> Result<(), BalancesError> {
    atomically(state, |s| transfer(s, &from, &to, amount, e))
}

#[test]
fn transfer_moves_funds_and_keeps_issuance() {
    let mut s = state();
    send(&mut s, ALICE, BOB, CRU, Existence::AllowDeath).unwrap();
    assert_eq!(free_balance(&s, &ALICE), Ok(9 * CRU));
    assert_eq!(free_balance(&s, &BOB), Ok(CRU));
    assert_eq!(total_issuance(&s), Ok(10 * CRU));
    assert!(
        s.events()
            .contains(&Event::Balances(BalancesEvent::Transfer {
                from: ALICE,
                to: BOB,
                amount: CRU
            }))
    );
}

#[test]
fn error_existential_deposit_for_a_new_account() {
    let mut s = state();
    assert_eq!(
        send(&mut s, ALICE, BOB, ED - 1, Existence::AllowDeath),
        Err(BalancesError::ExistentialDeposit {
            amount: ED - 1,
            existential_deposit: ED
        })
    );
    send(&mut s, ALICE, BOB, ED, Existence::AllowDeath).unwrap();
}

#[test]
fn error_keep_alive() {
    let mut s = state();
    assert_eq!(
        send(&mut s, ALICE, BOB, 10 * CRU - 1, Existence::KeepAlive),
        Err(BalancesError::KeepAlive {
            remaining: 1,
            existential_deposit: ED
        })
    );
}

#[test]
fn allow_death_removes_the_account_and_burns_dust() {
    let mut s = state();
    send(&mut s, ALICE, BOB, 10 * CRU - 5, Existence::AllowDeath).unwrap();
    assert_eq!(account(&s, &ALICE), Ok(AccountInfo::default()));
    assert!(s.get(&account_key(&ALICE)).is_none());
    assert_eq!(total_issuance(&s), Ok(10 * CRU - 5));
    assert!(
        s.events()
            .contains(&Event::Balances(BalancesEvent::DustLost {
                account: ALICE,
                amount: 5
            }))
    );
}

#[test]
fn error_insufficient_balance_counts_locks() {
    let mut s = state();
    set_lock(&mut s, &ALICE, *b"staking ", 6 * CRU).unwrap();
    set_lock(&mut s, &ALICE, *b"vesting ", 2 * CRU).unwrap();
    assert_eq!(
        usable_balance(&s, &ALICE),
        Ok(4 * CRU),
        "locks overlap; the largest counts"
    );
    assert_eq!(
        send(&mut s, ALICE, BOB, 5 * CRU, Existence::AllowDeath),
        Err(BalancesError::InsufficientBalance {
            needed: 5 * CRU,
            usable: 4 * CRU
        })
    );
    remove_lock(&mut s, &ALICE, *b"staking ").unwrap();
    assert_eq!(usable_balance(&s, &ALICE), Ok(8 * CRU));
}

#[test]
fn error_too_many_locks() {
    let mut s = state();
    for i in 0..types::MAX_LOCKS as u8 {
        set_lock(&mut s, &ALICE, [i; 8], 1).unwrap();
    }
    assert_eq!(
        set_lock(&mut s, &ALICE, [99; 8], 1),
        Err(BalancesError::TooManyLocks {
            max: types::MAX_LOCKS
        })
    );
}

#[test]
fn error_overflow() {
    // Issuance past u128::MAX is refused, at genesis and when minting.
    let genesis = Genesis::reference(ROOT)
        .with_balance(ALICE, u128::MAX - 10)
        .with_balance(BOB, CRU);
    assert_eq!(
        genesis.build(),
        Err(crate::RuntimeError::Balances(BalancesError::Overflow))
    );
    let mut s = Genesis::reference(ROOT)
        .with_balance(ALICE, u128::MAX / 2 + 1)
        .build()
        .unwrap();
    assert_eq!(
        mint(&mut s, &BOB, u128::MAX / 2 + 1),
        Err(BalancesError::Overflow)
    );
}

#[test]
fn reserve_and_unreserve() {
    let mut s = state();
    reserve(&mut s, &ALICE, 3 * CRU).unwrap();
    assert_eq!(
        account(&s, &ALICE).map(|a| (a.free, a.reserved)),
        Ok((7 * CRU, 3 * CRU))
    );
    assert_eq!(unreserve(&mut s, &ALICE, 5 * CRU), Ok(3 * CRU));
    assert_eq!(
        account(&s, &ALICE).map(|a| (a.free, a.reserved)),
        Ok((10 * CRU, 0))
    );
    assert!(matches!(
        reserve(&mut s, &ALICE, 11 * CRU),
        Err(BalancesError::InsufficientBalance { .. })
    ));
}

#[test]
fn module_accounts_may_hold_less_than_the_existential_deposit() {
    let mut s = state();
    let pot = crate::market::storage_pot();
    send(&mut s, ALICE, pot, 1, Existence::AllowDeath).unwrap();
    assert_eq!(free_balance(&s, &pot), Ok(1));
    send(&mut s, pot, CHARLIE, 1, Existence::KeepAlive).unwrap_err(); // CHARLIE would be dust
    assert_eq!(free_balance(&s, &pot), Ok(1));
}

#[test]
fn transfer_call_round_trips_through_the_codec() {
    use crust_primitives::codec::{decode, encode};
    let call = BalancesCall::TransferKeepAlive {
        dest: BOB,
        amount: 5,
    };
    assert_eq!(decode::<BalancesCall>(&encode(&call)).ok(), Some(call));
}
