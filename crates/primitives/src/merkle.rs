//! Binary SHA-256 Merkle trees: the files and SRD roots of work reports (D13) and the
//! inclusion proofs that answer storage challenges (D18).
//!
//! Leaves and inner nodes are hashed under different one-byte prefixes, so a leaf can never
//! pass for an inner node. A level with an odd number of nodes promotes its last node
//! unchanged rather than pairing it with itself, so two different leaf lists never share a
//! root by duplication. The empty tree's root is all zeros.

use sha2::{Digest, Sha256};

/// A node or root hash.
pub type Hash = [u8; 32];

/// Deepest tree a proof may describe (2^64 leaves).
pub const MAX_DEPTH: usize = 64;

/// The leaf hash of `data`.
pub fn leaf(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => node(l, r),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two"),
        })
        .collect()
}

/// The root over `leaves` (already leaf-hashed), in order.
pub fn root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return [0; 32];
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

/// Builds [`root`] over leaves that arrive one at a time, in O(log n) memory.
///
/// A tree whose odd last node is promoted equals the complete subtrees of the leaf count's
/// binary decomposition, largest first, folded from the right; the builder keeps one pending
/// subtree per set bit. It can also record every node at one height ([`Builder::with_cap`]),
/// so a prover can keep a small top of a large tree and rebuild any one subtree below it.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    /// Complete subtrees not yet paired: (height, hash), heights strictly decreasing.
    stack: Vec<(u32, Hash)>,
    count: u64,
    cap: Option<(u32, Vec<Hash>)>,
}

impl Builder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder that also records every complete node at `height` (each covers 2^height
    /// leaves), and the trailing partial one at [`Builder::finish_with_cap`].
    pub fn with_cap(height: u32) -> Self {
        Self {
            cap: Some((height.min(63), Vec::new())),
            ..Self::default()
        }
    }

    /// Leaves pushed so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.count = self.count.saturating_add(1);
        let mut item = (0u32, leaf);
        loop {
            if let Some((h, _)) = self.cap
                && item.0 == h
                && let Some((_, caps)) = self.cap.as_mut()
            {
                caps.push(item.1);
            }
            match self.stack.last() {
                Some(&(h, left)) if h == item.0 => {
                    self.stack.pop();
                    item = (h + 1, node(&left, &item.1));
                }
                _ => break,
            }
        }
        self.stack.push(item);
    }

    /// The root over every leaf pushed (all zeros when none were).
    pub fn finish(self) -> Hash {
        fold(&self.stack)
    }

    /// The root and the nodes at the cap height: the complete ones, then the root over the
    /// trailing leaves that do not fill one (so the nodes are exactly the tree's level at that
    /// height, and [`root`] over them is the tree's root).
    pub fn finish_with_cap(self) -> (Hash, Vec<Hash>) {
        let root = fold(&self.stack);
        let Some((height, mut caps)) = self.cap else {
            return (root, Vec::new());
        };
        let partial: Vec<(u32, Hash)> = self
            .stack
            .iter()
            .copied()
            .filter(|(h, _)| *h < height)
            .collect();
        if !partial.is_empty() {
            caps.push(fold(&partial));
        }
        (root, caps)
    }
}

fn fold(stack: &[(u32, Hash)]) -> Hash {
    let mut iter = stack.iter().rev();
    let Some(&(_, mut acc)) = iter.next() else {
        return [0; 32];
    };
    for (_, left) in iter {
        acc = node(left, &acc);
    }
    acc
}

/// Evidence that one leaf sits at `index` in a tree of `count` leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// The leaf's position.
    pub index: u64,
    /// How many leaves the tree has.
    pub count: u64,
    /// Sibling hashes from the leaf's level upwards (levels where the node was promoted
    /// have none).
    pub siblings: Vec<Hash>,
}

crate::impl_codec_struct!(Proof {
    index,
    count,
    siblings: crate::codec::max_items(MAX_DEPTH),
});

/// Bytes per piece of a sealed block: what a storage challenge reveals (D18), small enough
/// for a transaction whatever the block size.
pub const PIECE_BYTES: usize = 4096;

/// The leaf hashes of a sealed block's [`PIECE_BYTES`] pieces.
pub fn piece_leaves(sealed: &[u8]) -> Vec<Hash> {
    sealed.chunks(PIECE_BYTES).map(leaf).collect()
}

/// A sealed block's leaf in its file's tree: the root over its pieces bound to their count,
/// so a challenge can reveal one piece instead of the whole block.
pub fn block_leaf(sealed: &[u8]) -> Hash {
    let pieces = piece_leaves(sealed);
    block_leaf_from(pieces.len() as u64, &root(&pieces))
}

/// [`block_leaf`] from a piece count and the root over the pieces.
pub fn block_leaf_from(piece_count: u64, piece_root: &Hash) -> Hash {
    let mut data = [0u8; 40];
    data[..8].copy_from_slice(&piece_count.to_be_bytes());
    data[8..].copy_from_slice(piece_root);
    leaf(&data)
}

/// The proof for leaf `index`, or `None` when out of range.
pub fn prove(leaves: &[Hash], index: usize) -> Option<Proof> {
    if index >= leaves.len() {
        return None;
    }
    let mut siblings = Vec::new();
    let mut level = leaves.to_vec();
    let mut i = index;
    while level.len() > 1 {
        let sibling = i ^ 1;
        if sibling < level.len() {
            siblings.push(level[sibling]);
        }
        level = next_level(&level);
        i /= 2;
    }
    Some(Proof {
        index: index as u64,
        count: leaves.len() as u64,
        siblings,
    })
}

/// Whether `proof` shows `leaf` under `root` in a tree of `count` leaves. The count must come
/// from the verifier's own records (the chain), never from the prover: a proof for the first
/// leaf of a 3-leaf tree also fits a 4-leaf tree whose last two leaves hash to the third.
/// Never panics on any input.
pub fn verify(root: &Hash, count: u64, leaf: &Hash, proof: &Proof) -> bool {
    if proof.count != count || proof.index >= proof.count || proof.siblings.len() > MAX_DEPTH {
        return false;
    }
    let (mut hash, mut i, mut n) = (*leaf, proof.index, proof.count);
    let mut siblings = proof.siblings.iter();
    while n > 1 {
        let sibling = i ^ 1;
        if sibling < n {
            let Some(s) = siblings.next() else {
                return false;
            };
            hash = if i % 2 == 0 {
                node(&hash, s)
            } else {
                node(s, &hash)
            };
        }
        i /= 2;
        n = n.div_ceil(2);
    }
    siblings.next().is_none() && hash == *root
}

/// A proof for leaf `index` of a tree of `count` leaves, joined from two halves: the proof of
/// the leaf within its subtree at the cap height (`lower`, over that subtree's leaves) and the
/// proof of that subtree's node within the cap level (`upper`, over the caps from
/// [`Builder::finish_with_cap`]). `None` when the halves do not fit together.
pub fn join(index: u64, count: u64, height: u32, lower: &Proof, upper: &Proof) -> Option<Proof> {
    let span = 1u64.checked_shl(height)?;
    if index >= count || lower.index != index % span || upper.index != index / span {
        return None;
    }
    let mut siblings = lower.siblings.clone();
    siblings.extend_from_slice(&upper.siblings);
    (siblings.len() <= MAX_DEPTH).then_some(Proof {
        index,
        count,
        siblings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_matches_the_tree_and_its_caps_join_proofs() {
        for n in 0..=70usize {
            let l = leaves(n);
            let mut b = Builder::new();
            for x in &l {
                b.push(*x);
            }
            assert_eq!(b.count(), n as u64);
            assert_eq!(b.finish(), root(&l), "n={n}");
            for height in [0u32, 1, 2, 3] {
                let mut b = Builder::with_cap(height);
                for x in &l {
                    b.push(*x);
                }
                let (r, caps) = b.finish_with_cap();
                assert_eq!(r, root(&l));
                let span = 1usize << height;
                assert_eq!(caps.len(), n.div_ceil(span), "n={n} h={height}");
                if n > 0 {
                    assert_eq!(root(&caps), r, "n={n} h={height}");
                }
                for i in 0..n {
                    let start = i / span * span;
                    let chunk = &l[start..(start + span).min(n)];
                    let lower = prove(chunk, i - start).unwrap();
                    let lower = Proof {
                        index: i as u64 % span as u64,
                        ..lower
                    };
                    let upper = prove(&caps, i / span).unwrap();
                    let p = join(i as u64, n as u64, height, &lower, &upper).unwrap();
                    assert_eq!(p, prove(&l, i).unwrap(), "n={n} h={height} i={i}");
                    assert!(verify(&r, n as u64, &l[i], &p));
                }
            }
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf(&(i as u64).to_le_bytes())).collect()
    }

    #[test]
    fn every_leaf_of_every_small_tree_proves() {
        for n in 1..=33 {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let p = prove(&l, i).expect("in range");
                let n64 = n as u64;
                assert!(verify(&r, n64, &l[i], &p), "n={n} i={i}");
                // The wrong leaf, index or count fails.
                assert!(!verify(&r, n64, &leaf(b"other"), &p));
                assert!(!verify(&r, n64 + 1, &l[i], &p));
                if n > 1 {
                    let moved = Proof {
                        index: (p.index + 1) % n as u64,
                        ..p.clone()
                    };
                    assert!(!verify(&r, n64, &l[i], &moved), "n={n} i={i}");
                }
            }
            assert!(prove(&l, n).is_none());
        }
    }

    #[test]
    fn structure_is_fixed() {
        assert_eq!(root(&[]), [0; 32]);
        let l = leaves(3);
        assert_eq!(root(&l[..1]), l[0]);
        // Three leaves: the third is promoted, not paired with itself.
        assert_eq!(root(&l), node(&node(&l[0], &l[1]), &l[2]));
        let mut dup = l.clone();
        dup.push(l[2]);
        assert_ne!(root(&l), root(&dup));
        // A leaf is not an inner node.
        assert_ne!(leaf(&[l[0], l[1]].concat()), node(&l[0], &l[1]));
    }

    #[test]
    fn hostile_proofs_are_rejected_without_panic() {
        let l = leaves(5);
        let r = root(&l);
        let bad = [
            Proof {
                index: u64::MAX,
                count: u64::MAX,
                siblings: vec![[0; 32]; 64],
            },
            Proof {
                index: 0,
                count: 0,
                siblings: vec![],
            },
            Proof {
                index: 0,
                count: 5,
                siblings: vec![[7; 32]; 65],
            },
            Proof {
                index: 0,
                count: 5,
                siblings: vec![],
            },
        ];
        for p in bad {
            assert!(!verify(&r, p.count, &l[0], &p));
            assert!(!verify(&r, 5, &l[0], &p));
        }
    }
}
