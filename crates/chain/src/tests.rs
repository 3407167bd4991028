//! Mempool and execution tests on a real runtime state.

use crate::block::{Block, Header};
use crate::execute::{BlockError, build_block, execute_block, unverified};
use crate::hash::Hash;
use crate::mempool::{Mempool, MempoolConfig, MempoolError};
use crate::tx::{Mortality, Transaction, TxError, UnsignedTransaction};
use crust_primitives::{AccountId, Balance, CRU, Keypair};
use crust_runtime::balances::{self, BalancesCall};
use crust_runtime::{Call, Genesis, MemoryState, system};

fn key(name: &str) -> Keypair {
    Keypair::from_suri(&format!("//{name}")).unwrap()
}

fn genesis_hash() -> Hash {
    Hash::of(&[b"test chain"])
}

fn state() -> MemoryState {
    let mut g = Genesis::reference(key("Root").public());
    for name in ["Alice", "Bob", "Charlie", "Dave"] {
        g = g.with_balance(key(name).public(), 100 * CRU);
    }
    g.build().unwrap()
}

fn min_fee(s: &MemoryState) -> Balance {
    system::required_fee(s, 400).unwrap()
}

fn transfer_tx(
    from: &Keypair,
    nonce: u64,
    tip: Balance,
    to: AccountId,
    amount: Balance,
    fee: Balance,
) -> Transaction {
    UnsignedTransaction {
        signer: from.public(),
        nonce,
        fee,
        tip,
        mortality: Mortality::from(0, 100),
        call: Call::Balances(BalancesCall::Transfer { dest: to, amount }),
    }
    .sign(from, &genesis_hash())
}

fn header(height: u64) -> Header {
    Header {
        parent: Hash::default(),
        height,
        timestamp_ms: 1_000 * height,
        era: 0,
        proposer: key("Dave").public(),
        state_root: Hash::default(),
        tx_root: Hash::default(),
        receipts_root: Hash::default(),
        evidence_root: Hash::default(),
    }
}

#[test]
fn mempool_admission_errors_are_specific() {
    let s = state();
    let fee = min_fee(&s);
    let mut pool = Mempool::new(MempoolConfig::default(), genesis_hash());
    let alice = key("Alice");
    let bob = key("Bob").public();

    let ok = transfer_tx(&alice, 0, 0, bob, CRU, fee);
    let hash = pool.submit(ok.clone(), &s, 0).unwrap();
    assert_eq!(
        pool.submit(ok, &s, 0),
        Err(MempoolError::AlreadyKnown(hash))
    );

    let other_chain = UnsignedTransaction {
        ..transfer_tx(&alice, 1, 0, bob, 1, fee).unsigned
    }
    .sign(&alice, &Hash::default());
    assert!(matches!(
        pool.submit(other_chain, &s, 0),
        Err(MempoolError::Invalid(TxError::BadSignature { .. }))
    ));

    let mut expired = transfer_tx(&alice, 1, 0, bob, 1, fee).unsigned;
    expired.mortality = Mortality::from(0, 5);
    assert!(matches!(
        pool.submit(expired.sign(&alice, &genesis_hash()), &s, 10),
        Err(MempoolError::Invalid(TxError::Expired { .. }))
    ));

    assert!(matches!(
        pool.submit(transfer_tx(&alice, 1, 0, bob, 1, 1), &s, 0),
        Err(MempoolError::FeeTooLow { .. })
    ));
    assert_eq!(
        pool.submit(transfer_tx(&alice, 900, 0, bob, 1, fee), &s, 0),
        Err(MempoolError::NonceTooFarAhead {
            nonce: 900,
            expected: 0,
            gap: 256
        })
    );
    let nobody = key("Nobody");
    assert!(matches!(
        pool.submit(transfer_tx(&nobody, 0, 0, bob, 1, fee), &s, 0),
        Err(MempoolError::CannotPay { .. })
    ));
    // Fees of queued transactions add up: the queued fee plus a 100 CRU tip exceed what Alice has.
    assert!(matches!(
        pool.submit(transfer_tx(&alice, 1, 100 * CRU - fee, bob, 1, fee), &s, 0),
        Err(MempoolError::CannotPay { .. })
    ));
    assert_eq!(pool.len(), 1);
}

#[test]
fn stale_nonce_after_inclusion() {
    let mut s = state();
    let fee = min_fee(&s);
    let alice = key("Alice");
    let tx = transfer_tx(&alice, 0, 0, key("Bob").public(), CRU, fee);
    execute_block(
        &mut s,
        &header(1),
        &[],
        std::slice::from_ref(&tx),
        &genesis_hash(),
        &unverified,
    )
    .unwrap();
    let mut pool = Mempool::new(MempoolConfig::default(), genesis_hash());
    assert_eq!(
        pool.submit(tx, &s, 1),
        Err(MempoolError::StaleNonce {
            nonce: 0,
            expected: 1
        })
    );
}

#[test]
fn replacement_needs_a_ten_percent_higher_tip() {
    let s = state();
    let fee = min_fee(&s);
    let alice = key("Alice");
    let bob = key("Bob").public();
    let mut pool = Mempool::new(MempoolConfig::default(), genesis_hash());
    pool.submit(transfer_tx(&alice, 0, 1000, bob, 1, fee), &s, 0)
        .unwrap();
    assert_eq!(
        pool.submit(transfer_tx(&alice, 0, 1099, bob, 2, fee), &s, 0),
        Err(MempoolError::ReplacementUnderpriced {
            queued_tip: 1000,
            min_tip: 1100
        })
    );
    let replacement = pool
        .submit(transfer_tx(&alice, 0, 1100, bob, 3, fee), &s, 0)
        .unwrap();
    assert_eq!(pool.len(), 1);
    assert!(pool.contains(&replacement));
}

#[test]
fn blocks_take_highest_tips_first_and_keep_nonces_contiguous() {
    let s = state();
    let fee = min_fee(&s);
    let (alice, bob, charlie) = (key("Alice"), key("Bob"), key("Charlie"));
    let dave = key("Dave").public();
    let mut pool = Mempool::new(MempoolConfig::default(), genesis_hash());
    pool.submit(transfer_tx(&alice, 0, 1, dave, 1, fee), &s, 0)
        .unwrap();
    pool.submit(transfer_tx(&alice, 1, 500, dave, 1, fee), &s, 0)
        .unwrap();
    pool.submit(transfer_tx(&bob, 0, 100, dave, 1, fee), &s, 0)
        .unwrap();
    pool.submit(transfer_tx(&charlie, 1, 1000, dave, 1, fee), &s, 0)
        .unwrap(); // gap: not ready
    let order: Vec<(AccountId, u64)> = pool
        .ready(&s, 10, usize::MAX)
        .iter()
        .map(|t| (t.signer(), t.nonce()))
        .collect();
    assert_eq!(
        order,
        vec![(bob.public(), 0), (alice.public(), 0), (alice.public(), 1)]
    );
    assert_eq!(pool.ready(&s, 2, usize::MAX).len(), 2);
    // The next nonce to sign with counts the queued run after the committed nonce, not a gap.
    assert_eq!(pool.next_nonce(&alice.public(), 0), 2);
    assert_eq!(pool.next_nonce(&bob.public(), 0), 1);
    assert_eq!(pool.next_nonce(&charlie.public(), 0), 0);
    assert_eq!(pool.next_nonce(&dave, 7), 7);
}

#[test]
fn a_full_pool_evicts_the_cheapest_tail_for_a_better_tip() {
    let s = state();
    let fee = min_fee(&s);
    let config = MempoolConfig {
        max_txs: 2,
        ..MempoolConfig::default()
    };
    let mut pool = Mempool::new(config, genesis_hash());
    let dave = key("Dave").public();
    let cheap = pool
        .submit(transfer_tx(&key("Alice"), 0, 10, dave, 1, fee), &s, 0)
        .unwrap();
    pool.submit(transfer_tx(&key("Bob"), 0, 20, dave, 1, fee), &s, 0)
        .unwrap();
    assert_eq!(
        pool.submit(transfer_tx(&key("Charlie"), 0, 10, dave, 1, fee), &s, 0),
        Err(MempoolError::PoolFull { min_tip: 10 })
    );
    pool.submit(transfer_tx(&key("Charlie"), 0, 11, dave, 1, fee), &s, 0)
        .unwrap();
    assert!(!pool.contains(&cheap));
    assert_eq!(pool.len(), 2);
}

#[test]
fn per_account_limit() {
    let s = state();
    let fee = min_fee(&s);
    let config = MempoolConfig {
        max_per_account: 2,
        ..MempoolConfig::default()
    };
    let mut pool = Mempool::new(config, genesis_hash());
    let alice = key("Alice");
    let dave = key("Dave").public();
    pool.submit(transfer_tx(&alice, 0, 0, dave, 1, fee), &s, 0)
        .unwrap();
    pool.submit(transfer_tx(&alice, 1, 0, dave, 1, fee), &s, 0)
        .unwrap();
    assert_eq!(
        pool.submit(transfer_tx(&alice, 2, 0, dave, 1, fee), &s, 0),
        Err(MempoolError::AccountFull { max: 2 })
    );
}

#[test]
fn prune_drops_included_and_expired() {
    let mut s = state();
    let fee = min_fee(&s);
    let alice = key("Alice");
    let dave = key("Dave").public();
    let mut pool = Mempool::new(MempoolConfig::default(), genesis_hash());
    let first = transfer_tx(&alice, 0, 0, dave, 1, fee);
    pool.submit(first.clone(), &s, 0).unwrap();
    let mut short = transfer_tx(&key("Bob"), 0, 0, dave, 1, fee).unsigned;
    short.mortality = Mortality::from(0, 3);
    pool.submit(short.sign(&key("Bob"), &genesis_hash()), &s, 0)
        .unwrap();
    execute_block(
        &mut s,
        &header(1),
        &[],
        &[first],
        &genesis_hash(),
        &unverified,
    )
    .unwrap();
    pool.prune(&s, 5);
    assert!(pool.is_empty());
    assert_eq!(pool.bytes(), 0);
}

#[test]
fn builder_skips_what_verifiers_would_reject_and_both_agree() {
    let s0 = state();
    let fee = min_fee(&s0);
    let alice = key("Alice");
    let bob = key("Bob").public();
    let good = transfer_tx(&alice, 0, 0, bob, CRU, fee);
    let gap = transfer_tx(&alice, 5, 0, bob, CRU, fee);
    let forged = Transaction {
        signature: good.signature,
        ..transfer_tx(&alice, 1, 0, bob, 2 * CRU, fee)
    };
    let failing_call = transfer_tx(&alice, 1, 0, AccountId([0x77; 32]), 1, fee); // below ED: call fails, fee paid

    let candidates = vec![
        good.clone(),
        gap.clone(),
        forged.clone(),
        failing_call.clone(),
    ];
    let mut built = s0.clone();
    let crate::execute::BuiltBlock {
        included,
        rejected,
        outcome,
    } = build_block(
        &mut built,
        &header(1),
        &[],
        candidates.clone(),
        &genesis_hash(),
        &unverified,
    )
    .unwrap();
    assert_eq!(included, vec![good.clone(), failing_call.clone()]);
    // Skipping the signature check of transactions this node already verified (matched by
    // hash, which covers the signature) changes nothing: the forged one is still checked.
    let mut again = state();
    let admitted = |tx: &Transaction| tx.hash() == good.hash() || tx.hash() == failing_call.hash();
    let rebuilt = build_block(
        &mut again,
        &header(1),
        &[],
        candidates,
        &genesis_hash(),
        &admitted,
    )
    .unwrap();
    assert_eq!(rebuilt.included, included);
    assert_eq!(rebuilt.rejected.len(), 2);
    assert_eq!(rejected.len(), 2);
    assert!(outcome.receipts[0].success && !outcome.receipts[1].success);

    let mut verified = s0.clone();
    let outcome2 = execute_block(
        &mut verified,
        &header(1),
        &[],
        &included,
        &genesis_hash(),
        &unverified,
    )
    .unwrap();
    assert_eq!(outcome, outcome2);
    assert_eq!(built, verified);
    assert_eq!(balances::free_balance(&verified, &bob).unwrap(), 101 * CRU);

    let mut bad = s0;
    assert!(matches!(
        execute_block(
            &mut bad,
            &header(1),
            &[],
            &[good, gap],
            &genesis_hash(),
            &unverified
        ),
        Err(BlockError::InvalidTransaction { index: 1, .. })
    ));
}

#[test]
fn block_codec_round_trips_and_hash_commits_to_the_header() {
    let s = state();
    let tx = transfer_tx(&key("Alice"), 0, 0, key("Bob").public(), 1, min_fee(&s));
    let mut h = header(3);
    h.tx_root = Block::compute_tx_root(std::slice::from_ref(&tx));
    let block = Block {
        header: h,
        transactions: vec![tx],
        evidence: Vec::new(),
    };
    assert_eq!(Block::decode(&block.encode()).unwrap(), block);
    let mut other = block.clone();
    other.header.timestamp_ms += 1;
    assert_ne!(other.hash(), block.hash());
    assert_eq!(Block::genesis(Hash::default(), 0).header.height, 0);
}

/// A data directory from another on-disk format is refused with a message that says what to
/// do; a new directory gets the current format recorded, and is accepted again after.
#[test]
fn data_directories_of_another_format_are_refused_clearly() {
    use crate::service::{DATA_FORMAT, NodeError, check_data_format};
    let root = std::env::temp_dir().join(format!("crust-format-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let fresh = root.join("fresh");
    check_data_format(&fresh).unwrap();
    assert_eq!(
        std::fs::read_to_string(fresh.join("format"))
            .unwrap()
            .trim(),
        DATA_FORMAT.to_string()
    );
    check_data_format(&fresh).unwrap();
    // Written before formats were recorded: partitions but no format file.
    let old = root.join("old");
    std::fs::create_dir_all(old.join("node-blocks-metadata")).unwrap();
    let err = check_data_format(&old).unwrap_err();
    assert!(matches!(err, NodeError::Format { found: 0, .. }));
    let text = err.to_string();
    assert!(
        text.contains("--fresh") && text.contains("receipts root"),
        "{text}"
    );
    assert!(
        !old.join("format").exists(),
        "an old directory is left as it was"
    );
    std::fs::write(fresh.join("format"), "1\n").unwrap();
    assert!(matches!(
        check_data_format(&fresh),
        Err(NodeError::Format { found: 1, .. })
    ));
    std::fs::remove_dir_all(&root).unwrap();
}
