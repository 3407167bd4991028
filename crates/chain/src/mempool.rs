//! The mempool: transactions waiting for a block.
//!
//! Admission checks everything that can be checked without executing: size, signature, chain,
//! mortality, nonce (not stale, not too far ahead), fee at least the runtime minimum, and that
//! the signer can pay the fees and tips of all its queued transactions. Each account's
//! transactions queue by nonce; a block takes, across accounts, the highest tips first while
//! keeping every account's nonces contiguous. A transaction with the same signer and nonce
//! replaces a queued one only with a tip at least 10% higher. When the pool is full, a new
//! transaction evicts the lowest-tipped tail transaction if it pays more, and is refused
//! otherwise.

use crate::hash::Hash;
use crate::tx::{MAX_TX_BYTES, Transaction, TxError};
use crust_primitives::{AccountId, Balance, BlockHeight};
use crust_runtime::State;
use crust_runtime::{balances, system};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// Mempool limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Most transactions held.
    pub max_txs: usize,
    /// Most memory the queued transactions may take, in bytes ([`Mempool::bytes`]).
    pub max_bytes: usize,
    /// Most transactions held per account.
    pub max_per_account: usize,
    /// How far ahead of the account's nonce a transaction may be queued.
    pub max_nonce_gap: u64,
    /// Minimum tip increase, in percent, for a replacement.
    pub replacement_bump_percent: u32,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        Self {
            max_txs: 50_000,
            max_bytes: 64 * 1024 * 1024,
            max_per_account: 256,
            max_nonce_gap: 256,
            replacement_bump_percent: 10,
        }
    }
}

/// Why a transaction was refused at the door.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// Malformed, badly signed, or outside its mortality window.
    #[error(transparent)]
    Invalid(#[from] TxError),
    /// Already in the pool.
    #[error("transaction {0} is already queued")]
    AlreadyKnown(Hash),
    /// The nonce was already used.
    #[error("nonce {nonce} is stale; the account's next nonce is {expected}")]
    StaleNonce {
        /// Nonce given.
        nonce: u64,
        /// Account's next nonce.
        expected: u64,
    },
    /// The nonce is too far ahead of the account's.
    #[error("nonce {nonce} is more than {gap} ahead of the account's next nonce {expected}")]
    NonceTooFarAhead {
        /// Nonce given.
        nonce: u64,
        /// Account's next nonce.
        expected: u64,
        /// Allowed gap.
        gap: u64,
    },
    /// The fee is below the runtime's minimum for this size.
    #[error("fee {fee} is below the minimum {min} for a {len}-byte transaction")]
    FeeTooLow {
        /// Fee given.
        fee: Balance,
        /// Minimum.
        min: Balance,
        /// Encoded length.
        len: usize,
    },
    /// The signer cannot pay for this and its queued transactions.
    #[error("account can spend {usable} but its queued transactions need {needed}")]
    CannotPay {
        /// Fees and tips of all queued transactions, including this one.
        needed: Balance,
        /// What the account can spend while keeping the existential deposit.
        usable: Balance,
    },
    /// A transaction with the same nonce is queued with a tip this one does not beat by enough.
    #[error(
        "a transaction with this nonce is queued with tip {queued_tip}; a replacement needs at least {min_tip}"
    )]
    ReplacementUnderpriced {
        /// The queued transaction's tip.
        queued_tip: Balance,
        /// Minimum tip for a replacement.
        min_tip: Balance,
    },
    /// The account already has the maximum number of queued transactions.
    #[error("account already has {max} queued transactions")]
    AccountFull {
        /// Per-account limit.
        max: usize,
    },
    /// The pool is full and this transaction does not pay more than the cheapest queued one.
    #[error("mempool is full; raise the tip above {min_tip} to get in")]
    PoolFull {
        /// The tip to beat.
        min_tip: Balance,
    },
    /// The runtime state could not be read.
    #[error("state error: {0}")]
    State(String),
}

struct Entry {
    tx: Transaction,
    len: usize,
    arrival: u64,
}

/// Bytes a queued transaction takes beyond the transaction itself: the rest of its boxed entry
/// and the allocator's header, its hash-table slot (up to ~2.3 slots with the table's rounding),
/// its place in its account's nonce queue.
const ENTRY_OVERHEAD: usize = 160;

/// Bytes an account with queued transactions takes: its nonce queue's first B-tree node and its
/// entry in the map of accounts.
const ACCOUNT_BYTES: usize = 576;

/// Memory a queued transaction of `len` encoded bytes takes.
fn entry_bytes(len: usize) -> usize {
    crate::sizes::tx_bytes(len).saturating_add(ENTRY_OVERHEAD)
}

/// Transactions waiting for inclusion.
pub struct Mempool {
    config: MempoolConfig,
    genesis: Hash,
    entries: HashMap<Hash, Box<Entry>>,
    accounts: BTreeMap<AccountId, BTreeMap<u64, Hash>>,
    bytes: usize,
    arrivals: u64,
    /// Signers' decompressed keys, for admission's signature checks.
    keys: crust_primitives::account::KeyCache,
}

impl Mempool {
    /// An empty pool for the chain with `genesis` hash.
    pub fn new(config: MempoolConfig, genesis: Hash) -> Self {
        Self {
            config,
            genesis,
            entries: HashMap::new(),
            accounts: BTreeMap::new(),
            bytes: 0,
            arrivals: 0,
            keys: Default::default(),
        }
    }

    /// Number of queued transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Memory the queued transactions take, in bytes: each at its in-memory size with its
    /// share of the pool's maps, and each account's queue (estimated, see
    /// `tests/cache_bytes.rs`; the key cache is bounded apart, [`Mempool::key_cache_bytes`]).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Memory the cache of signers' decompressed keys takes (at most
    /// [`crust_primitives::account::KeyCache::MAX_BYTES`]).
    pub fn key_cache_bytes(&self) -> usize {
        self.keys.bytes()
    }

    /// The limits in force.
    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }

    /// Whether `hash` is queued.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.entries.contains_key(hash)
    }

    /// The nonce `who`'s next transaction should take: past `committed` (the state's nonce) and
    /// every transaction of theirs queued here with consecutive nonces after it, so two
    /// transactions signed one after the other through this node do not collide.
    pub fn next_nonce(&self, who: &AccountId, committed: u64) -> u64 {
        let mut next = committed;
        if let Some(queued) = self.accounts.get(who) {
            for nonce in queued.range(committed..).map(|(n, _)| *n) {
                if nonce != next {
                    break;
                }
                next = next.saturating_add(1);
            }
        }
        next
    }

    /// Admits `tx` if it could be included in the block after `height` given `state`.
    pub fn submit(
        &mut self,
        tx: Transaction,
        state: &impl State,
        height: BlockHeight,
    ) -> Result<Hash, MempoolError> {
        let encoded = tx.encode();
        let len = encoded.len();
        if len > MAX_TX_BYTES {
            return Err(TxError::TooLarge {
                len,
                max: MAX_TX_BYTES,
            }
            .into());
        }
        let hash = Hash::of(&[&encoded]);
        if self.entries.contains_key(&hash) {
            return Err(MempoolError::AlreadyKnown(hash));
        }
        tx.verify_signature_cached(&self.genesis, &mut self.keys)?;
        tx.check_mortality(height.saturating_add(1))?;

        let signer = tx.signer();
        let nonce = tx.nonce();
        let account =
            balances::account(state, &signer).map_err(|e| MempoolError::State(e.to_string()))?;
        if nonce < account.nonce {
            return Err(MempoolError::StaleNonce {
                nonce,
                expected: account.nonce,
            });
        }
        let gap = self.config.max_nonce_gap;
        if nonce > account.nonce.saturating_add(gap) {
            return Err(MempoolError::NonceTooFarAhead {
                nonce,
                expected: account.nonce,
                gap,
            });
        }
        let min =
            system::required_fee(state, len).map_err(|e| MempoolError::State(e.to_string()))?;
        if tx.unsigned.fee < min {
            return Err(MempoolError::FeeTooLow {
                fee: tx.unsigned.fee,
                min,
                len,
            });
        }

        // Replacement of the same nonce.
        let replaced = self
            .accounts
            .get(&signer)
            .and_then(|q| q.get(&nonce))
            .copied();
        if let Some(old_hash) = replaced {
            let queued_tip = self.entries.get(&old_hash).map_or(0, |e| e.tx.unsigned.tip);
            let bump = u128::from(self.config.replacement_bump_percent);
            let min_tip = queued_tip.saturating_add((queued_tip.saturating_mul(bump) / 100).max(1));
            if tx.unsigned.tip < min_tip {
                return Err(MempoolError::ReplacementUnderpriced {
                    queued_tip,
                    min_tip,
                });
            }
        } else if self.accounts.get(&signer).map_or(0, BTreeMap::len) >= self.config.max_per_account
        {
            return Err(MempoolError::AccountFull {
                max: self.config.max_per_account,
            });
        }

        // The account must afford every queued fee and tip, keeping the existential deposit.
        let ed = system::config(state)
            .map_err(|e| MempoolError::State(e.to_string()))?
            .existential_deposit;
        let queued: Balance = self
            .accounts
            .get(&signer)
            .into_iter()
            .flat_map(|q| q.iter())
            .filter(|(n, _)| **n != nonce)
            .filter_map(|(_, h)| self.entries.get(h))
            .map(|e| e.tx.unsigned.fee.saturating_add(e.tx.unsigned.tip))
            .sum();
        let needed = queued
            .saturating_add(tx.unsigned.fee)
            .saturating_add(tx.unsigned.tip);
        let usable = account.usable().min(
            account
                .free
                .saturating_add(account.reserved)
                .saturating_sub(ed),
        );
        if needed > usable {
            return Err(MempoolError::CannotPay { needed, usable });
        }

        // Room: evict the cheapest tail transaction if this one pays more.
        if replaced.is_none() {
            let new_account = !self.accounts.contains_key(&signer);
            let cost = entry_bytes(len) + if new_account { ACCOUNT_BYTES } else { 0 };
            while self.entries.len() >= self.config.max_txs
                || self.bytes.saturating_add(cost) > self.config.max_bytes
            {
                let Some((victim, victim_tip)) = self.cheapest_tail() else {
                    break;
                };
                if victim_tip >= tx.unsigned.tip {
                    return Err(MempoolError::PoolFull {
                        min_tip: victim_tip,
                    });
                }
                self.remove(&victim);
            }
        }
        if let Some(old) = replaced {
            self.remove(&old);
        }
        self.arrivals += 1;
        if !self.accounts.contains_key(&signer) {
            self.bytes += ACCOUNT_BYTES;
        }
        self.bytes += entry_bytes(len);
        self.accounts.entry(signer).or_default().insert(nonce, hash);
        self.entries.insert(
            hash,
            Box::new(Entry {
                tx,
                len,
                arrival: self.arrivals,
            }),
        );
        Ok(hash)
    }

    /// The last queued transaction (highest nonce) of the account whose tail tips least.
    fn cheapest_tail(&self) -> Option<(Hash, Balance)> {
        self.accounts
            .values()
            .filter_map(|q| q.values().next_back())
            .filter_map(|h| {
                self.entries
                    .get(h)
                    .map(|e| (*h, e.tx.unsigned.tip, e.arrival))
            })
            .min_by_key(|(_, tip, arrival)| (*tip, Reverse(*arrival)))
            .map(|(h, tip, _)| (h, tip))
    }

    /// Removes a transaction.
    pub fn remove(&mut self, hash: &Hash) -> Option<Transaction> {
        let entry = *self.entries.remove(hash)?;
        self.bytes = self.bytes.saturating_sub(entry_bytes(entry.len));
        let signer = entry.tx.signer();
        if let Some(queue) = self.accounts.get_mut(&signer) {
            queue.remove(&entry.tx.nonce());
            if queue.is_empty() {
                self.accounts.remove(&signer);
                self.bytes = self.bytes.saturating_sub(ACCOUNT_BYTES);
            }
        }
        Some(entry.tx)
    }

    /// Up to `max_txs` transactions (and `max_bytes`) for the next block: highest tip first
    /// across accounts, each account's nonces contiguous from its current nonce in `state`.
    pub fn ready(&self, state: &impl State, max_txs: usize, max_bytes: usize) -> Vec<Transaction> {
        // Each account offers its run of contiguous nonces; a heap picks among the heads.
        let mut runs: Vec<Vec<&Entry>> = Vec::new();
        for (signer, queue) in &self.accounts {
            let Ok(account) = balances::account(state, signer) else {
                continue;
            };
            let mut run = Vec::new();
            for (expected, (nonce, hash)) in (account.nonce..).zip(queue.range(account.nonce..)) {
                if *nonce != expected {
                    break;
                }
                if let Some(e) = self.entries.get(hash) {
                    run.push(&**e);
                }
            }
            if !run.is_empty() {
                runs.push(run);
            }
        }
        let mut heap: BinaryHeap<(Balance, Reverse<u64>, usize, usize)> = runs
            .iter()
            .enumerate()
            .map(|(i, run)| (run[0].tx.unsigned.tip, Reverse(run[0].arrival), i, 0))
            .collect();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while let Some((_, _, run, pos)) = heap.pop() {
            if out.len() >= max_txs {
                break;
            }
            let entry = runs[run][pos];
            if bytes + entry.len > max_bytes {
                continue; // this account's later nonces cannot come before this one
            }
            bytes += entry.len;
            out.push(entry.tx.clone());
            if let Some(next) = runs[run].get(pos + 1) {
                heap.push((next.tx.unsigned.tip, Reverse(next.arrival), run, pos + 1));
            }
        }
        out
    }

    /// Drops transactions whose nonce is used or whose mortality has passed by `height`.
    pub fn prune(&mut self, state: &impl State, height: BlockHeight) {
        let mut stale = Vec::new();
        for (signer, queue) in &self.accounts {
            let nonce = balances::account(state, signer)
                .map(|a| a.nonce)
                .unwrap_or(0);
            for (n, h) in queue {
                let expired = self
                    .entries
                    .get(h)
                    .is_some_and(|e| e.tx.check_mortality(height.saturating_add(1)).is_err());
                if *n < nonce || expired {
                    stale.push(*h);
                }
            }
        }
        for h in stale {
            self.remove(&h);
        }
    }
}
