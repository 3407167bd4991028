//! Proven queries. Any read-only runtime query (an account, a file with its replicas, a work
//! report, a computed stake limit, a committee, the prices) runs on a [`Recording`] view that
//! notes every state key it reads; the node then proves each of those keys (value or absence)
//! under the finalized state root. A light client verifies the entries against the root in the
//! finalized header and re-runs the same pure query on a [`ProvenState`] made of them: the same
//! answer, without trusting the node, even for values computed from several records.

use crate::hash::Hash;
use crate::state_proof::StateProof;
use crust_runtime::{Event, State};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

/// Most keys one proven query may read.
pub const MAX_PROVEN_KEYS: usize = 256;

/// A read-only view of `inner` that remembers which keys were read. Writes are ignored (queries
/// do not write); a scan is remembered as unprovable.
pub struct Recording<'a, S: State + ?Sized> {
    inner: &'a S,
    keys: RefCell<BTreeSet<Vec<u8>>>,
    scanned: Cell<bool>,
}

impl<'a, S: State + ?Sized> Recording<'a, S> {
    /// A recording view of `inner`.
    pub fn new(inner: &'a S) -> Self {
        Self {
            inner,
            keys: RefCell::new(BTreeSet::new()),
            scanned: Cell::new(false),
        }
    }

    /// The keys read, in order; `None` if the query scanned a range (not provable key by key).
    pub fn into_keys(self) -> Option<Vec<Vec<u8>>> {
        (!self.scanned.get()).then(|| self.keys.into_inner().into_iter().collect())
    }
}

impl<S: State + ?Sized> State for Recording<'_, S> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.keys.borrow_mut().insert(key.to_vec());
        self.inner.get(key)
    }
    fn put(&mut self, _key: &[u8], _value: Vec<u8>) {}
    fn delete(&mut self, _key: &[u8]) {}
    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.scanned.set(true);
        self.inner.scan(prefix, after, limit)
    }
    fn emit(&mut self, _event: Event) {}
}

/// Why proven reads are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// An entry's proof does not verify under the root.
    #[error("the proof of key 0x{0} does not verify under the root")]
    Invalid(String),
    /// The same key is proven twice with different values.
    #[error("key 0x{0} is proven twice")]
    Duplicate(String),
    /// The query read a key no entry proves, or scanned a range.
    #[error("the query read state the proof does not cover")]
    Incomplete,
    /// The query reads too much or scans, so it cannot be proven key by key.
    #[error("this query cannot be proven key by key")]
    Unprovable,
}

/// State made only of verified entries, for re-running a query on the client side. Reading a key
/// no entry covers (or scanning) marks the run incomplete.
pub struct ProvenState {
    values: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    missed: Cell<bool>,
}

impl ProvenState {
    /// Verifies every entry against `root` (the `state_root` of a finalized header).
    pub fn verify(root: &Hash, entries: &[StateProof]) -> Result<Self, ProofError> {
        let mut values = BTreeMap::new();
        for e in entries {
            let hex = crust_primitives::account::to_hex(&e.key);
            if !e.verify(root) {
                return Err(ProofError::Invalid(hex));
            }
            if values.insert(e.key.clone(), e.value.clone()).is_some() {
                return Err(ProofError::Duplicate(hex));
            }
        }
        Ok(Self {
            values,
            missed: Cell::new(false),
        })
    }

    /// Runs `query` on the proven entries; its answer is trustworthy only if it read nothing
    /// else, which this checks.
    pub fn run<T>(&self, query: impl FnOnce(&Self) -> T) -> Result<T, ProofError> {
        self.missed.set(false);
        let out = query(self);
        if self.missed.get() {
            return Err(ProofError::Incomplete);
        }
        Ok(out)
    }
}

impl State for ProvenState {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.values.get(key) {
            Some(v) => v.clone(),
            None => {
                self.missed.set(true);
                None
            }
        }
    }
    fn put(&mut self, _key: &[u8], _value: Vec<u8>) {}
    fn delete(&mut self, _key: &[u8]) {}
    fn scan(
        &self,
        _prefix: &[u8],
        _after: Option<&[u8]>,
        _limit: usize,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.missed.set(true);
        Vec::new()
    }
    fn emit(&mut self, _event: Event) {}
}

/// A query's answer with the proofs of everything it read, under the state root of the
/// finalized block at `height`.
#[derive(Clone, Debug)]
pub struct Proven<T> {
    /// The answer.
    pub value: T,
    /// The finalized height whose state root the proofs are under.
    pub height: u64,
    /// That state root.
    pub state_root: Hash,
    /// One proof (of value or of absence) per key the query read.
    pub entries: Vec<StateProof>,
}

impl<T> Proven<T> {
    /// The proof part, as an RPC answer carries it.
    pub fn proof(&self) -> QueryProof {
        QueryProof {
            height: self.height,
            state_root: self.state_root,
            entries: self.entries.clone(),
        }
    }
}

/// The proof beside a proven RPC answer: every state entry the query read, proven under the
/// state root of the finalized block at `height`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueryProof {
    /// The finalized height whose state root the proofs are under.
    pub height: u64,
    /// That state root (compare it with a certified header's).
    pub state_root: Hash,
    /// One proof (of value or of absence) per key the query read.
    pub entries: Vec<StateProof>,
}

impl QueryProof {
    /// Verifies every entry under `root` (which must be this proof's `state_root` as read from
    /// a header the caller trusts) and returns the state to re-run the query on.
    pub fn verify(&self, root: &Hash) -> Result<ProvenState, ProofError> {
        ProvenState::verify(root, &self.entries)
    }
}
