//! The byte counts that memory budgets rest on, checked against what the allocator hands out.
//!
//! A validator's `--memory` budget is divided among the recent-block cache, the transaction
//! index and the mempool (`crust_chain::memory`); each counts its own bytes and evicts past its
//! share. Those counts are estimates. This test runs the real structures on blocks built by the
//! real runtime and measures the heap they take with a counting global allocator (this file is
//! its own test binary with one test, so nothing else allocates while it measures).

use commonware_runtime::{Runner as _, Supervisor as _, deterministic};
use crust_chain::block::{Block, Header};
use crust_chain::consensus::core::Finalized;
use crust_chain::execute::{build_block, unverified};
use crust_chain::history::{History, HistoryConfig, cached_bytes};
use crust_chain::mempool::{Mempool, MempoolConfig};
use crust_chain::{Hash, Mortality, Transaction, UnsignedTransaction};
use crust_primitives::{CRU, Keypair};
use crust_runtime::balances::BalancesCall;
use crust_runtime::swork::Attestation;
use crust_runtime::swork::SworkCall;
use crust_runtime::{Call, Genesis, MemoryState, system};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use std::alloc::System;
use std::sync::Arc;

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap bytes in use now.
fn live() -> isize {
    let s = ALLOCATOR.stats();
    s.bytes_allocated as isize - s.bytes_deallocated as isize + s.bytes_reallocated
}

fn key(i: usize) -> Keypair {
    Keypair::from_suri(&format!("//cache-bytes-{i}")).expect("dev uri")
}

const ACCOUNTS: usize = 64;

fn genesis_hash() -> Hash {
    Hash::of(&[b"cache bytes"])
}

fn state(keys: &[Keypair]) -> MemoryState {
    let mut g = Genesis::reference(key(9_999).public());
    for k in keys {
        g = g.with_balance(k.public(), 1_000_000 * CRU);
    }
    g.build().expect("genesis")
}

fn signed(from: &Keypair, nonce: u64, fee: u128, call: Call) -> Transaction {
    UnsignedTransaction {
        signer: from.public(),
        nonce,
        fee,
        tip: 0,
        mortality: Mortality::from(0, 1_000),
        call,
    }
    .sign(from, &genesis_hash())
}

fn transfer(from: &Keypair, nonce: u64, fee: u128, to: &Keypair, amount: u128) -> Transaction {
    let call = Call::Balances(BalancesCall::Transfer {
        dest: to.public(),
        amount,
    });
    signed(from, nonce, fee, call)
}

/// A registration carrying a 6 KiB DCAP quote and collateral: a call that owns heap data (it
/// fails, the code is not allowed, so it also leaves an error in its receipt and event).
fn registration(from: &Keypair, nonce: u64, fee: u128) -> Transaction {
    let call = Call::Swork(SworkCall::Register {
        code: [7; 32],
        enclave_key: [8; 32],
        enclave_sig: crust_primitives::account::Signature([9; 64]),
        attestation: Attestation::SgxDcap {
            quote: vec![1; 4096],
            collateral: vec![2; 2048],
        },
    });
    signed(from, nonce, fee, call)
}

/// Builds and executes block `height` from `txs` on `state`, as a node finalizes it.
fn finalize(state: &mut MemoryState, height: u64, txs: Vec<Transaction>) -> Finalized {
    let header = Header {
        parent: Hash::default(),
        height,
        timestamp_ms: 1_000 * height,
        era: 0,
        proposer: key(0).public(),
        state_root: Hash::default(),
        tx_root: Hash::default(),
        receipts_root: Hash::default(),
        evidence_root: Hash::default(),
    };
    let built =
        build_block(state, &header, &[], txs, &genesis_hash(), &unverified).expect("block builds");
    Finalized {
        block: Block {
            header,
            transactions: built.included,
            evidence: Vec::new(),
        },
        outcome: built.outcome,
    }
}

#[test]
fn budgeted_caches_count_what_the_allocator_hands_out() {
    let keys: Vec<Keypair> = (0..ACCOUNTS).map(key).collect();
    let mut s = state(&keys);
    let fee = system::required_fee(&s, 7_000).expect("fee");
    let mut nonces = vec![0u64; ACCOUNTS];
    let mut next = |i: usize| {
        let n = nonces[i];
        nonces[i] += 1;
        n
    };

    // Three shapes of block, from the real runtime.
    let idle = finalize(&mut s, 1, Vec::new());
    let transfers: Vec<Transaction> = (0..500)
        .map(|i| {
            let a = i % ACCOUNTS;
            transfer(&keys[a], next(a), fee, &keys[(a + 1) % ACCOUNTS], CRU)
        })
        .collect();
    let busy = finalize(&mut s, 2, transfers);
    assert_eq!(busy.block.transactions.len(), 500);
    // Transfers of more than the sender has fail: receipts and events carry error text.
    let failing: Vec<Transaction> = (0..200)
        .map(|i| {
            let a = i % ACCOUNTS;
            transfer(
                &keys[a],
                next(a),
                fee,
                &keys[(a + 1) % ACCOUNTS],
                10_000_000 * CRU,
            )
        })
        .collect();
    let failed = finalize(&mut s, 3, failing);
    assert!(failed.outcome.receipts.iter().all(|r| r.error.is_some()));
    let regs: Vec<Transaction> = (0..50)
        .map(|i| registration(&keys[i], next(i), fee))
        .collect();
    let heavy = finalize(&mut s, 4, regs);
    assert_eq!(heavy.block.transactions.len(), 50);

    // Many accounts with one transaction each, for the mempool's per-account cost.
    let many: Vec<Keypair> = (100..2_100).map(key).collect();
    let pool_state = state(&[keys.clone(), many.clone()].concat());

    deterministic::Runner::default().start(|ctx| async move {
        // The recent-block cache: what it counts against what a thousand blocks of each shape
        // take once cached (clone, `Arc`, map entry). Eviction is off; the index is small and
        // allocated at open, so it adds nothing here.
        let config = HistoryConfig {
            cache_bytes: usize::MAX,
            indexed_txs: 1_000_000,
        };
        let mut h = History::open(ctx.child("blocks"), "cache", config)
            .await
            .expect("history");
        let mut height = 10u64;
        for (name, f, low, high) in [
            // Counted on its own, an idle block is its header and empty lists.
            ("idle", &idle, 0.8, 1.25),
            ("500 transfers", &busy, 0.8, 1.25),
            ("200 failed transfers", &failed, 0.8, 1.25),
            // Byte strings take 1× their encoding once decoded; the estimate assumes up to 2×
            // (what a CID takes), so it may count up to twice what such calls hold, never less.
            ("50 registrations with 6 KiB attestations", &heavy, 1.0, 2.2),
        ] {
            let copies = if f.block.transactions.is_empty() { 2_000 } else { 40 };
            let (_, counted_before) = h.cache_usage();
            let before = live();
            for _ in 0..copies {
                let mut copy = f.clone();
                copy.block.header.height = height;
                height += 1;
                h.remember(Arc::new(copy));
            }
            let measured = (live() - before) as f64 / copies as f64;
            let (_, counted_after) = h.cache_usage();
            assert!(cached_bytes(f) > 0);
            let counted = (counted_after - counted_before) as f64 / copies as f64;
            let ratio = counted / measured;
            println!("{name}: counted {counted:.0} B, measured {measured:.0} B a block ({ratio:.2}×)");
            assert!(
                (low..=high).contains(&ratio),
                "{name}: the cache counts {counted:.0} bytes a block but it takes {measured:.0}"
            );
        }
        drop(h);

        // The transaction index: allocated once at open, exactly as `index_bytes` says, and it
        // never grows past that however many transactions pass through it.
        for (k, indexed_txs) in [1_000usize, 10_000, 100_000].into_iter().enumerate() {
            let config = HistoryConfig {
                cache_bytes: 0,
                indexed_txs,
            };
            let none = HistoryConfig {
                cache_bytes: 0,
                indexed_txs: 0,
            };
            // What opening takes without an index (after a first open, so one-time
            // allocations of the runtime's storage are not counted).
            let warm = History::open(ctx.child("w"), &format!("w{k}"), none)
                .await
                .expect("history");
            let before = live();
            let empty = History::open(ctx.child("a"), &format!("a{k}"), none)
                .await
                .expect("history");
            let base = live() - before;
            drop((warm, empty));
            let before = live();
            let mut h = History::open(ctx.child("b"), &format!("b{k}"), config)
                .await
                .expect("history");
            let index = live() - before - base;
            // Opening also runs the runtime's other tasks, which allocate or free a little.
            assert!(
                (index - config.index_bytes() as isize).abs() <= 4096,
                "index of {indexed_txs}: allocated {index}, counted {}",
                config.index_bytes()
            );
            // Fill it three times over with blocks of 500 transactions; one block stays cached.
            let filled_before = live();
            for n in 0..(3 * indexed_txs / 500 + 2) {
                let mut copy = busy.clone();
                copy.block.header.height = n as u64 + 1;
                for (i, r) in copy.outcome.receipts.iter_mut().enumerate() {
                    r.tx_hash = Hash::of(&[&(n as u64).to_be_bytes(), &(i as u64).to_be_bytes()]);
                }
                h.remember(Arc::new(copy));
            }
            assert_eq!(h.indexed(), indexed_txs.min((3 * indexed_txs / 500 + 2) * 500));
            let (blocks, counted) = h.cache_usage();
            assert_eq!(blocks, 1);
            let grown = live() - filled_before;
            assert!(
                grown <= (counted as f64 * 1.25) as isize,
                "index of {indexed_txs}: memory grew by {grown} bytes holding one block of {counted}"
            );
        }

        // The mempool: what it counts (queued transactions and accounts, and its key cache)
        // against what it takes: 3 840 transfers from 64 accounts (long nonce queues), then
        // 2 000 accounts with one transfer each (an account's queue is most of its cost).
        for (name, senders, rounds) in [("64 accounts × 60", &keys, 60u64), ("2 000 accounts × 1", &many, 1)] {
            let to = &keys[0];
            let txs: Vec<Transaction> = (0..rounds)
                .flat_map(|round| {
                    senders
                        .iter()
                        .map(move |k| transfer(k, round, fee, to, CRU))
                })
                .collect();
            let mut queued = Vec::with_capacity(txs.len());
            let before = live();
            let mut pool = Mempool::new(MempoolConfig::default(), genesis_hash());
            for tx in txs.iter().cloned() {
                queued.push(pool.submit(tx, &pool_state, 0).expect("admitted"));
            }
            let measured = live() - before;
            let counted = (pool.bytes() + pool.key_cache_bytes()) as isize;
            let ratio = counted as f64 / measured as f64;
            println!("mempool, {name}: counted {counted} B, measured {measured} B ({ratio:.2}×)");
            assert!(
                (0.8..=1.25).contains(&ratio),
                "mempool, {name}: counts {counted} bytes but takes {measured}"
            );
            for h in &queued {
                pool.remove(h);
            }
            assert_eq!(pool.bytes(), 0);
        }
    });
}
