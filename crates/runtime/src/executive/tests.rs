//! Transaction application: nonces, fees, atomic calls, block hooks.

use super::*;
use crate::benefits::{BenefitsCall, FundsType};
use crate::system::*;
use crate::testing::*;
use crate::{BlockContext, Call, Genesis, MemoryState};
use crust_primitives::CRU;

fn chain() -> MemoryState {
    Genesis::reference(ROOT)
        .with_balance(ALICE, 10 * CRU)
        .build()
        .unwrap()
}

fn block(height: u64) -> BlockContext {
    BlockContext {
        height,
        era: 0,
        author: BOB,
        parent_hash: [0; 32],
        timestamp_ms: 0,
    }
}

fn tx(nonce: u64, fee: Balance, call: Call) -> CheckedTransaction {
    CheckedTransaction {
        signer: ALICE,
        nonce,
        fee,
        tip: 0,
        call,
        encoded_len: 100,
    }
}

fn transfer(dest: AccountId, amount: Balance) -> Call {
    Call::Balances(balances::BalancesCall::Transfer { dest, amount })
}

#[test]
fn fee_is_split_80_treasury_20_author_and_nonce_bumped() {
    let mut s = Genesis::reference(ROOT)
        .with_balance(ALICE, 10 * CRU)
        .with_balance(BOB, CRU)
        .build()
        .unwrap();
    let fee = required_fee(&s, 100).unwrap();
    assert_eq!(fee, 100_000_000 + 100 * 100_000);
    let outcome =
        apply_transaction(&mut s, &block(1), &tx(0, fee, transfer(CHARLIE, CRU))).unwrap();
    assert_eq!(
        outcome,
        ApplyOutcome {
            error: None,
            paid: fee
        }
    );
    assert_eq!(balances::free_balance(&s, &ALICE).unwrap(), 9 * CRU - fee);
    assert_eq!(balances::free_balance(&s, &BOB).unwrap(), CRU + fee / 5);
    assert_eq!(
        balances::free_balance(&s, &treasury_account()).unwrap(),
        fee - fee / 5
    );
    assert_eq!(balances::account(&s, &ALICE).unwrap().nonce, 1);
    assert!(
        s.events()
            .contains(&Event::System(SystemEvent::ExtrinsicSuccess {
                signer: ALICE
            }))
    );
}

#[test]
fn author_share_too_small_to_open_an_account_stays_in_the_treasury() {
    let mut s = chain();
    let fee = required_fee(&s, 100).unwrap();
    apply_transaction(&mut s, &block(1), &tx(0, fee, transfer(CHARLIE, CRU))).unwrap();
    assert_eq!(balances::free_balance(&s, &BOB).unwrap(), 0);
    assert_eq!(
        balances::free_balance(&s, &treasury_account()).unwrap(),
        fee
    );
}

#[test]
fn invalid_transactions_change_nothing() {
    let mut s = chain();
    let before = s.clone();
    let fee = required_fee(&s, 100).unwrap();
    assert_eq!(
        apply_transaction(&mut s, &block(1), &tx(1, fee, transfer(BOB, CRU))),
        Err(InvalidTransaction::BadNonce {
            got: 1,
            expected: 0
        })
    );
    assert_eq!(
        apply_transaction(&mut s, &block(1), &tx(0, fee - 1, transfer(BOB, CRU))),
        Err(InvalidTransaction::FeeTooLow {
            got: fee - 1,
            min: fee
        })
    );
    let mut broke = tx(0, fee, transfer(BOB, CRU));
    broke.signer = CHARLIE;
    assert!(matches!(
        apply_transaction(&mut s, &block(1), &broke),
        Err(InvalidTransaction::CannotPay(_))
    ));
    assert_eq!(s, before);
}

#[test]
fn a_failing_call_pays_the_fee_and_leaves_no_other_trace() {
    // D1 + D2: the same fee-paying transaction with a failing call and with a no-op call end in
    // identical state.
    let fee = required_fee(&chain(), 100).unwrap();
    let mut failing = chain();
    let cut = Call::Benefits(BenefitsCall::CutBenefitFunds {
        value: 5,
        funds_type: FundsType::Market,
    });
    let outcome = apply_transaction(&mut failing, &block(1), &tx(0, fee, cut)).unwrap();
    assert_eq!(
        outcome.error,
        Some(crate::RuntimeError::Benefits(
            crate::benefits::BenefitsError::InvalidTarget
        ))
    );
    let mut noop = chain();
    let settle_nothing =
        Call::Market(crate::market::MarketCall::CalculateReward { cid: small_cid() });
    assert_eq!(
        apply_transaction(&mut noop, &block(1), &tx(0, fee, settle_nothing))
            .unwrap()
            .error,
        None
    );
    assert_eq!(failing.entries(), noop.entries());
    assert!(
        failing
            .events()
            .iter()
            .any(|e| matches!(e, Event::System(SystemEvent::ExtrinsicFailed { .. })))
    );
}

#[test]
fn governance_calls_need_the_governance_key() {
    let mut s = Genesis::reference(ROOT)
        .with_balance(ALICE, 10 * CRU)
        .with_balance(ROOT, 10 * CRU)
        .build()
        .unwrap();
    let fee = required_fee(&s, 100).unwrap();
    let param = crate::market::MarketParameter::BaseFee { fee: 7 };
    let call = Call::Market(crate::market::MarketCall::SetParameter { param });
    let outcome = apply_transaction(&mut s, &block(1), &tx(0, fee, call.clone())).unwrap();
    assert_eq!(
        outcome.error,
        Some(crate::RuntimeError::Market(
            crate::market::MarketError::System(SystemError::NotGovernance { caller: ALICE })
        ))
    );
    let mut root_tx = tx(0, fee, call);
    root_tx.signer = ROOT;
    assert_eq!(
        apply_transaction(&mut s, &block(1), &root_tx)
            .unwrap()
            .error,
        None
    );
    assert_eq!(crate::market::params(&s).unwrap().base_fee, 7);
}

#[test]
fn begin_block_rolls_eras_and_the_benefits_quota() {
    let mut s = chain();
    let era_blocks = config(&s).unwrap().era_blocks();
    assert_eq!(era_blocks, 3600);
    for height in 1..=era_blocks {
        let block = BlockContext {
            height,
            era: 0,
            author: BOB,
            parent_hash: [0; 32],
            timestamp_ms: 0,
        };
        begin_block(&mut s, &block).unwrap();
    }
    assert_eq!(crate::staking::active_era(&s).unwrap(), 1);
    assert_eq!(crate::benefits::era_benefits(&s).unwrap().active_era, 1);
    assert_eq!(block_hash(&s, 3000).unwrap(), Some([0; 32]));
    assert_eq!(
        block_hash(&s, 10).unwrap(),
        None,
        "older than BLOCK_HASH_COUNT"
    );
}

#[test]
fn missing_genesis_is_an_error_not_a_panic() {
    let mut s = MemoryState::new();
    assert_eq!(config(&s), Err(SystemError::NoConfig));
    assert!(apply_transaction(&mut s, &block(1), &tx(0, 1, transfer(BOB, 1))).is_err());
}
