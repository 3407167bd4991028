//! SHA-256 hashes and the binary Merkle root used for transaction roots.

use crust_primitives::codec::{Buf, BufMut, Error, FixedSize, Read, Write};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;

/// A 32-byte SHA-256 hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// SHA-256 of the concatenation of `parts`.
    pub fn of(parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        Self(hasher.finalize().into())
    }

    /// The hex form with a `0x` prefix.
    pub fn to_hex(&self) -> String {
        format!("0x{}", crust_primitives::account::to_hex(&self.0))
    }

    /// Parses `0x` + 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        let hex = s.strip_prefix("0x")?;
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", &self.to_hex()[..10])
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("'{text}' is not a 32-byte hex hash")))
    }
}

impl Write for Hash {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl FixedSize for Hash {
    const SIZE: usize = 32;
}

impl Read for Hash {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self(<[u8; 32]>::read_cfg(buf, &())?))
    }
}

/// The binary Merkle root of `leaves` (domain-separated leaf and node hashes; an odd node is
/// promoted unchanged; the empty list has the all-zero root).
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::default();
    }
    let mut level = leaf_level(leaves);
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

/// The tree's bottom level: each leaf hashed with a 0 prefix.
fn leaf_level(leaves: &[Hash]) -> Vec<Hash> {
    leaves.iter().map(|l| Hash::of(&[&[0u8], &l.0])).collect()
}

/// The level above `level`: pairs hashed with a 1 prefix, an odd last node promoted unchanged.
fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [a, b] => Hash::of(&[&[1u8], &a.0, &b.0]),
            [a] => *a,
            _ => Hash::default(),
        })
        .collect()
}

/// The sibling hashes from leaf `index` up to the root of `leaves` in [`merkle_root`]'s tree
/// (a promoted odd node has no sibling at its level); `None` when `index` is out of range.
pub fn merkle_path(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut level = leaf_level(leaves);
    let mut at = index;
    let mut path = Vec::new();
    while level.len() > 1 {
        if let Some(s) = level.get(at ^ 1) {
            path.push(*s);
        }
        level = next_level(&level);
        at /= 2;
    }
    Some(path)
}

/// Whether `leaf`, at `index` of `count` leaves, is under `root` by `path` ([`merkle_path`]).
/// The root does not bind `count` on its own (a promoted node hashes like a pair one level up),
/// so a leaf must name what it stands for itself, as a receipt names its transaction.
pub fn verify_merkle_path(root: &Hash, leaf: &Hash, index: u64, count: u64, path: &[Hash]) -> bool {
    if index >= count || path.len() > 64 {
        return false;
    }
    let mut node = Hash::of(&[&[0u8], &leaf.0]);
    let (mut at, mut width) = (index, count);
    let mut siblings = path.iter();
    while width > 1 {
        let promoted = at == width - 1 && width % 2 == 1;
        if !promoted {
            let Some(s) = siblings.next() else {
                return false;
            };
            node = if at % 2 == 0 {
                Hash::of(&[&[1u8], &node.0, &s.0])
            } else {
                Hash::of(&[&[1u8], &s.0, &node.0])
            };
        }
        at /= 2;
        width = width.div_ceil(2);
    }
    siblings.next().is_none() && node == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_has_a_path_to_the_root_and_nothing_else_does() {
        for n in 1..=17usize {
            let leaves: Vec<Hash> = (0..n)
                .map(|i| Hash::of(&[&(i as u64).to_be_bytes()]))
                .collect();
            let root = merkle_root(&leaves);
            for (i, leaf) in leaves.iter().enumerate() {
                let path = merkle_path(&leaves, i).unwrap();
                assert!(
                    verify_merkle_path(&root, leaf, i as u64, n as u64, &path),
                    "{n} {i}"
                );
                // Another leaf, index, count or a cut path fails.
                let other = Hash::of(&[b"other"]);
                assert!(!verify_merkle_path(
                    &root, &other, i as u64, n as u64, &path
                ));
                if n > 1 {
                    let j = (i + 1) % n;
                    assert!(!verify_merkle_path(&root, leaf, j as u64, n as u64, &path));
                    assert!(!verify_merkle_path(
                        &root,
                        leaf,
                        i as u64,
                        n as u64,
                        &path[1..]
                    ));
                }
            }
            assert!(merkle_path(&leaves, n).is_none());
            assert!(!verify_merkle_path(
                &root,
                &leaves[0],
                n as u64,
                n as u64,
                &[]
            ));
        }
    }

    #[test]
    fn merkle_root_depends_on_order_and_every_leaf() {
        let leaves: Vec<Hash> = (0u8..5).map(|i| Hash::of(&[&[i]])).collect();
        let root = merkle_root(&leaves);
        let mut swapped = leaves.clone();
        swapped.swap(0, 1);
        assert_ne!(merkle_root(&swapped), root);
        assert_ne!(merkle_root(&leaves[..4]), root);
        assert_eq!(merkle_root(&[]), Hash::default());
        // A single leaf is still domain-separated from its own hash.
        assert_ne!(merkle_root(&leaves[..1]), leaves[0]);
    }

    #[test]
    fn hex_round_trips() {
        let h = Hash::of(&[b"x"]);
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex("0x12"), None);
    }
}
