//! Execution views over the committed state: the state a block executes on is the committed
//! key-value map, plus the changes of its not-yet-finalized ancestors, plus its own writes.
//! The runtime reads and writes through [`Layer`]; the block's own writes become its
//! [`Diff`], which the authenticated store turns into the block's state root.

use crust_runtime::{Event, State};
use std::collections::BTreeMap;
use std::ops::Bound;

/// A block's state changes: `None` deletes a key.
pub type Diff = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Applies `upper` on top of `lower` (later writes win).
pub fn stack(lower: &mut Diff, upper: &Diff) {
    for (k, v) in upper {
        lower.insert(k.clone(), v.clone());
    }
}

/// A writable view: committed `base`, the ancestors' combined changes `below`, and this
/// block's `writes`.
pub struct Layer<'a> {
    base: &'a BTreeMap<Vec<u8>, Vec<u8>>,
    below: Diff,
    writes: Diff,
    events: Vec<Event>,
}

impl<'a> Layer<'a> {
    /// A view over `base` with the ancestors' changes `below`.
    pub fn new(base: &'a BTreeMap<Vec<u8>, Vec<u8>>, below: Diff) -> Self {
        Self {
            base,
            below,
            writes: Diff::new(),
            events: Vec::new(),
        }
    }

    /// This block's changes and events.
    pub fn into_parts(self) -> (Diff, Vec<Event>) {
        (self.writes, self.events)
    }

    fn upper(&self, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.writes.get(key).or_else(|| self.below.get(key))
    }
}

impl State for Layer<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.upper(key) {
            Some(v) => v.clone(),
            None => self.base.get(key).cloned(),
        }
    }

    fn put(&mut self, key: &[u8], value: Vec<u8>) {
        self.writes.insert(key.to_vec(), Some(value));
    }

    fn delete(&mut self, key: &[u8]) {
        self.writes.insert(key.to_vec(), None);
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let lower = match after {
            Some(a) if a >= prefix => Bound::Excluded(a.to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        };
        // The changes in range, newest layer winning, merged with the base in key order.
        let mut upper: BTreeMap<&[u8], &Option<Vec<u8>>> = BTreeMap::new();
        for layer in [&self.below, &self.writes] {
            for (k, v) in layer
                .range((lower.clone(), Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(prefix))
            {
                upper.insert(k.as_slice(), v);
            }
        }
        let mut base = self
            .base
            .range((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .peekable();
        let mut upper = upper.into_iter().peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            let next_base = base.peek().map(|(k, _)| k.as_slice());
            let next_upper = upper.peek().map(|(k, _)| *k);
            match (next_base, next_upper) {
                (None, None) => break,
                (Some(b), Some(u)) if u <= b => {
                    if u == b {
                        base.next();
                    }
                    if let Some((k, Some(v))) = upper.next() {
                        out.push((k.to_vec(), v.clone()));
                    }
                }
                (Some(_), _) => {
                    if let Some((k, v)) = base.next() {
                        out.push((k.clone(), v.clone()));
                    }
                }
                (None, Some(_)) => {
                    if let Some((k, Some(v))) = upper.next() {
                        out.push((k.to_vec(), v.clone()));
                    }
                }
            }
        }
        out
    }

    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crust_runtime::MemoryState;
    use proptest::prelude::*;

    proptest! {
        /// A layer reads and scans exactly like the state it would produce.
        #[test]
        fn layer_matches_the_materialized_state(
            base in prop::collection::btree_map(prop::collection::vec(0u8..4, 1..4), any::<u8>(), 0..30),
            below in prop::collection::btree_map(prop::collection::vec(0u8..4, 1..4), prop::option::of(any::<u8>()), 0..15),
            ops in prop::collection::vec((prop::collection::vec(0u8..4, 1..4), prop::option::of(any::<u8>())), 0..15),
            prefix in prop::collection::vec(0u8..4, 0..2),
            after in prop::option::of(prop::collection::vec(0u8..4, 0..3)),
            limit in 0usize..12,
        ) {
            let base: BTreeMap<Vec<u8>, Vec<u8>> = base.into_iter().map(|(k, v)| (k, vec![v])).collect();
            let below: Diff = below.into_iter().map(|(k, v)| (k, v.map(|b| vec![b]))).collect();
            let mut expected = MemoryState::new();
            for (k, v) in &base {
                expected.put(k, v.clone());
            }
            let mut layer = Layer::new(&base, below.clone());
            for (k, v) in &below {
                match v {
                    Some(v) => expected.put(k, v.clone()),
                    None => expected.delete(k),
                }
            }
            for (k, v) in &ops {
                match v {
                    Some(v) => { expected.put(k, vec![*v]); layer.put(k, vec![*v]); }
                    None => { expected.delete(k); layer.delete(k); }
                }
            }
            prop_assert_eq!(layer.scan(&prefix, after.as_deref(), limit), expected.scan(&prefix, after.as_deref(), limit));
            for (k, _) in &ops {
                prop_assert_eq!(layer.get(k), expected.get(k));
            }
        }
    }
}
