//! The state the runtime reads and writes, and the overlay that makes every call atomic.
//!
//! [`State`] is a flat ordered key-value store plus an event sink. The chain backs it with the
//! authenticated store; tests and simulations use [`MemoryState`]. Every call runs inside an
//! [`Overlay`]: its writes and events reach the parent only on [`Overlay::commit`], so a call
//! that fails leaves no partial state behind (decision D1).
//!
//! Values are encoded with the project's one codec. A value that fails to decode means the
//! state was written by something other than this runtime; it surfaces as
//! [`StateError::Corrupt`] rather than a panic (decision D2).

use crate::Event;
use crust_primitives::codec::{self, Decode, Encode};
use std::collections::BTreeMap;

/// A flat, ordered key-value store with an event sink.
pub trait State {
    /// The value at `key`, if any.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// Sets `key` to `value`.
    fn put(&mut self, key: &[u8], value: Vec<u8>);
    /// Removes `key`.
    fn delete(&mut self, key: &[u8]);
    /// Up to `limit` entries whose key starts with `prefix` and is strictly greater than
    /// `after` (when given), in ascending key order. Bounded so hooks can walk large sets in
    /// cursors over several blocks (decision D5).
    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)>;
    /// Records an event for the current block.
    fn emit(&mut self, event: Event);
}

/// A state value that does not decode: the store holds bytes this runtime did not write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The value under `key` (hex) does not decode as the expected type.
    #[error("state value under key {key} is corrupt")]
    Corrupt {
        /// The key, hex-encoded.
        key: String,
    },
}

/// Typed access on top of [`State`].
pub trait StateExt: State {
    /// Decodes the value at `key`.
    fn read<T: Decode<Cfg = ()>>(&self, key: &[u8]) -> Result<Option<T>, StateError> {
        match self.get(key) {
            None => Ok(None),
            Some(bytes) => codec::decode(&bytes)
                .map(Some)
                .map_err(|_| StateError::Corrupt {
                    key: crust_primitives::account::to_hex(key),
                }),
        }
    }

    /// Decodes the value at `key` with an explicit decoding bound (e.g. a list's length).
    fn read_with<T: Decode>(&self, key: &[u8], cfg: &T::Cfg) -> Result<Option<T>, StateError> {
        match self.get(key) {
            None => Ok(None),
            Some(bytes) => {
                codec::decode_with(&bytes, cfg)
                    .map(Some)
                    .map_err(|_| StateError::Corrupt {
                        key: crust_primitives::account::to_hex(key),
                    })
            }
        }
    }

    /// Up to `limit` entries under `prefix` after the key `after`, each decoded as the key's
    /// tail past `prefix` and its value. An entry that does not decode is corruption, never
    /// skipped.
    fn scan_decoded<K: Decode<Cfg = ()>, V: Decode<Cfg = ()>>(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(K, V)>, StateError> {
        self.scan(prefix, after, limit)
            .into_iter()
            .map(|(k, v)| {
                let corrupt = || StateError::Corrupt {
                    key: crust_primitives::account::to_hex(&k),
                };
                let key = k.get(prefix.len()..).ok_or_else(corrupt)?;
                Ok((
                    codec::decode(key).map_err(|_| corrupt())?,
                    codec::decode(&v).map_err(|_| corrupt())?,
                ))
            })
            .collect()
    }

    /// Decodes the value at `key`, or the type's default when absent.
    fn read_or_default<T: Decode<Cfg = ()> + Default>(&self, key: &[u8]) -> Result<T, StateError> {
        Ok(self.read(key)?.unwrap_or_default())
    }

    /// Encodes and stores `value` at `key`.
    fn write<T: Encode>(&mut self, key: &[u8], value: &T) {
        self.put(key, codec::encode(value));
    }
}

impl<S: State + ?Sized> StateExt for S {}

/// Builds a state key: a 4-byte tag naming `module/item` (the first bytes of its SHA-256),
/// followed by the key parts. The short tag keeps keys compact and puts the parts' entropy near
/// the front, which the authenticated store's index needs to stay fast (it indexes a key's
/// leading bytes); keys of one item still sort by their parts, so prefix scans work. Parts of
/// variable length must be length-prefixed by the caller (see [`var`]) so keys never collide.
pub fn key(module: &str, item: &str, parts: &[&[u8]]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let tag = Sha256::new()
        .chain_update(module.as_bytes())
        .chain_update(b"/")
        .chain_update(item.as_bytes())
        .finalize();
    let len = parts.iter().map(|p| p.len()).sum::<usize>();
    let mut k = Vec::with_capacity(4 + len);
    k.extend_from_slice(&tag[..4]);
    for part in parts {
        k.extend_from_slice(part);
    }
    k
}

/// A variable-length key part, prefixed by its one-byte length (parts are at most 255 bytes).
pub fn var(bytes: &[u8]) -> Vec<u8> {
    let len = u8::try_from(bytes.len()).unwrap_or(u8::MAX);
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.push(len);
    v.extend_from_slice(&bytes[..usize::from(len)]);
    v
}

/// An in-memory [`State`]: the twin of the chain's store, used by tests and simulations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemoryState {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    events: Vec<Event>,
}

impl MemoryState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the events recorded since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The events recorded since the last [`Self::take_events`].
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Every entry, in key order (for comparisons in tests).
    pub fn entries(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.entries
    }
}

impl State for MemoryState {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.entries.get(key).cloned()
    }

    fn put(&mut self, key: &[u8], value: Vec<u8>) {
        self.entries.insert(key.to_vec(), value);
    }

    fn delete(&mut self, key: &[u8]) {
        self.entries.remove(key);
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        use std::ops::Bound;
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded(a.to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        };
        self.entries
            .range((start, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }
}

/// Buffered writes and events over a parent state; nothing reaches the parent until
/// [`Overlay::commit`]. Dropping an overlay discards everything it buffered.
pub struct Overlay<'a, S: State + ?Sized> {
    parent: &'a mut S,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    events: Vec<Event>,
}

impl<'a, S: State + ?Sized> Overlay<'a, S> {
    /// A new, empty overlay over `parent`.
    pub fn new(parent: &'a mut S) -> Self {
        Self {
            parent,
            writes: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    /// Applies the buffered writes and events to the parent.
    pub fn commit(self) {
        for (key, value) in self.writes {
            match value {
                Some(v) => self.parent.put(&key, v),
                None => self.parent.delete(&key),
            }
        }
        for event in self.events {
            self.parent.emit(event);
        }
    }
}

impl<S: State + ?Sized> State for Overlay<'_, S> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.writes.get(key) {
            Some(v) => v.clone(),
            None => self.parent.get(key),
        }
    }

    fn put(&mut self, key: &[u8], value: Vec<u8>) {
        self.writes.insert(key.to_vec(), Some(value));
    }

    fn delete(&mut self, key: &[u8]) {
        self.writes.insert(key.to_vec(), None);
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        use std::ops::Bound;
        // Merge the parent's entries with the buffered ones, page by page, so that buffered
        // deletions never make the result shorter than `limit` while entries remain.
        let mut out = Vec::new();
        let mut cursor: Option<Vec<u8>> = after.map(|a| a.to_vec());
        while out.len() < limit {
            let page = self
                .parent
                .scan(prefix, cursor.as_deref(), limit - out.len());
            let page_end = if page.len() < limit - out.len() {
                None // the parent has nothing beyond this page
            } else {
                page.last().map(|(k, _)| k.clone())
            };
            // Buffered keys in (cursor, page_end] take part in this round.
            let lower = match &cursor {
                Some(c) if c.as_slice() >= prefix => Bound::Excluded(c.clone()),
                _ => Bound::Included(prefix.to_vec()),
            };
            let upper = match &page_end {
                Some(e) => Bound::Included(e.clone()),
                None => Bound::Unbounded,
            };
            let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> =
                page.into_iter().map(|(k, v)| (k, Some(v))).collect();
            for (k, v) in self
                .writes
                .range((lower, upper))
                .take_while(|(k, _)| k.starts_with(prefix))
            {
                merged.insert(k.clone(), v.clone());
            }
            for (k, v) in merged {
                if let Some(v) = v {
                    if out.len() == limit {
                        break;
                    }
                    out.push((k, v));
                }
            }
            match page_end {
                Some(end) => cursor = Some(end),
                None => break,
            }
        }
        out
    }

    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }
}

/// Runs `f` atomically: its writes and events are committed only if it returns `Ok`.
pub fn atomically<S, T, E>(
    state: &mut S,
    f: impl FnOnce(&mut Overlay<'_, S>) -> Result<T, E>,
) -> Result<T, E>
where
    S: State + ?Sized,
{
    let mut overlay = Overlay::new(state);
    let result = f(&mut overlay)?;
    overlay.commit();
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn failed_closure_leaves_no_trace() {
        let mut state = MemoryState::new();
        state.put(b"a", vec![1]);
        let result: Result<(), ()> = atomically(&mut state, |s| {
            s.put(b"a", vec![2]);
            s.put(b"b", vec![3]);
            Err(())
        });
        assert!(result.is_err());
        assert_eq!(state.get(b"a"), Some(vec![1]));
        assert_eq!(state.get(b"b"), None);
    }

    #[test]
    fn nested_overlays_commit_in_order() {
        let mut state = MemoryState::new();
        let _ = atomically(&mut state, |outer| -> Result<(), ()> {
            outer.put(b"x", vec![1]);
            let _ = atomically(outer, |inner| -> Result<(), ()> {
                inner.delete(b"x");
                inner.put(b"y", vec![2]);
                Ok(())
            });
            Ok(())
        });
        assert_eq!(state.get(b"x"), None);
        assert_eq!(state.get(b"y"), Some(vec![2]));
    }

    #[test]
    fn item_tags_are_distinct() {
        // Every (module, item) the runtime uses, so a new one that collided would fail here.
        let items = [
            ("balances", &["account", "issuance", "permanent"][..]),
            ("system", &["config", "block_hash"]),
            (
                "market",
                &[
                    "file",
                    "params",
                    "counters",
                    "anchor_spower",
                    "anchor_file",
                    "supply",
                    "spower_due",
                ],
            ),
            ("benefits", &["market", "swork", "era"]),
            (
                "swork",
                &[
                    "code",
                    "pubkey",
                    "identity",
                    "report",
                    "reported",
                    "group",
                    "authority",
                    "params",
                    "queue",
                    "queue_tail",
                    "purge",
                    "consolidation",
                    "workload",
                ],
            ),
            (
                "staking",
                &[
                    "bonded",
                    "ledger",
                    "validator",
                    "guarantor",
                    "backing",
                    "params",
                    "era",
                    "committee",
                    "exposure",
                    "era_prefs",
                    "era_rewards",
                    "points",
                    "market_payout",
                    "slashes",
                    "slash_in_era",
                ],
            ),
            ("history", &["slot", "current", "last", "worker"]),
        ];
        let mut tags = std::collections::BTreeSet::new();
        for (module, list) in items {
            for item in list {
                assert!(
                    tags.insert(key(module, item, &[])),
                    "{module}/{item} collides"
                );
            }
        }
    }

    #[test]
    fn key_parts_do_not_collide() {
        assert_ne!(
            key("m", "i", &[&var(b"ab"), b"c"]),
            key("m", "i", &[&var(b"a"), b"bc"])
        );
    }

    proptest! {
        /// The overlay's scan equals a scan of the state it would commit to.
        #[test]
        fn overlay_scan_matches_committed_scan(
            base in proptest::collection::btree_map(proptest::collection::vec(0u8..4, 1..4), any::<u8>(), 0..30),
            ops in proptest::collection::vec((proptest::collection::vec(0u8..4, 1..4), proptest::option::of(any::<u8>())), 0..30),
            prefix in proptest::collection::vec(0u8..4, 0..2),
            after in proptest::option::of(proptest::collection::vec(0u8..4, 0..3)),
            limit in 0usize..12,
        ) {
            let mut state = MemoryState::new();
            for (k, v) in &base {
                state.put(k, vec![*v]);
            }
            let mut expected_state = state.clone();
            for (k, v) in &ops {
                match v {
                    Some(v) => expected_state.put(k, vec![*v]),
                    None => expected_state.delete(k),
                }
            }
            let expected = expected_state.scan(&prefix, after.as_deref(), limit);
            let mut overlay = Overlay::new(&mut state);
            for (k, v) in &ops {
                match v {
                    Some(v) => overlay.put(k, vec![*v]),
                    None => overlay.delete(k),
                }
            }
            prop_assert_eq!(overlay.scan(&prefix, after.as_deref(), limit), expected);
        }
    }
}
