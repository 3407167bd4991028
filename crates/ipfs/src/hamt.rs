//! HAMT-sharded directories, as Kubo builds them for directories too large for one block.
//!
//! Layout (boxo `ipld/unixfs/hamt`): fanout 256, so each level consumes one byte of the
//! big-endian murmur3-x64-64 digest of the entry name. A bucket holding one entry is a link
//! named `XX<name>` (two uppercase hex digits, then the name); a bucket holding several becomes a
//! sub-shard linked as `XX`. The shard's UnixFS `Data` is the occupied-bucket bitfield as a
//! big-endian integer with leading zero bytes dropped (go-bitfield's `Bytes()`).

use crate::dagpb::{PbLink, PbNode};
use crate::unixfs::{DataType, HAMT_HASH_MURMUR3, UnixFsData};
use std::collections::BTreeMap;

/// Buckets per shard node.
pub const FANOUT: usize = 256;

/// The 64-bit murmur3 hash boxo uses: the first half of MurmurHash3_x64_128 with seed 0.
pub fn murmur3_x64_64(data: &[u8]) -> u64 {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    let (mut h1, mut h2) = (0u64, 0u64);
    let mut blocks = data.chunks_exact(16);
    for block in &mut blocks {
        let (a, b) = block.split_at(8);
        let mut k1 = u64::from_le_bytes(a.try_into().unwrap_or([0; 8]));
        let mut k2 = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = blocks.remainder();
    let (mut k1, mut k2) = (0u64, 0u64);
    for (i, &byte) in tail.iter().enumerate() {
        if i < 8 {
            k1 |= u64::from(byte) << (8 * i);
        } else {
            k2 |= u64::from(byte) << (8 * (i - 8));
        }
    }
    if tail.len() > 8 {
        h2 ^= k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
    }
    if !tail.is_empty() {
        h1 ^= k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
    }
    h1 ^= data.len() as u64;
    h2 ^= data.len() as u64;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1.wrapping_add(h2)
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The bucket of `name` at shard depth `depth`, or `None` past the 8 bytes of the hash.
pub fn bucket(name: &str, depth: usize) -> Option<u8> {
    murmur3_x64_64(name.as_bytes())
        .to_be_bytes()
        .get(depth)
        .copied()
}

/// A bucket's link name prefix.
pub fn bucket_label(index: u8) -> String {
    format!("{index:02X}")
}

/// An in-memory shard being built.
#[derive(Default)]
pub struct ShardBuilder {
    buckets: BTreeMap<u8, Bucket>,
}

enum Bucket {
    Entry(String, PbLink),
    Shard(Box<ShardBuilder>),
}

/// Two names whose 64-bit hashes are equal cannot be placed (boxo: "sharded directory too deep").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HAMT: names {0:?} and {1:?} collide on the full 64-bit hash")]
pub struct HashCollision(pub String, pub String);

impl ShardBuilder {
    /// Places an entry (the link's name is ignored; `name` is used).
    pub fn insert(&mut self, name: String, link: PbLink) -> Result<(), HashCollision> {
        self.insert_at(name, link, 0)
    }

    fn insert_at(&mut self, name: String, link: PbLink, depth: usize) -> Result<(), HashCollision> {
        let index =
            bucket(&name, depth).ok_or_else(|| HashCollision(name.clone(), String::new()))?;
        match self.buckets.remove(&index) {
            None => {
                self.buckets.insert(index, Bucket::Entry(name, link));
            }
            Some(Bucket::Shard(mut shard)) => {
                shard.insert_at(name, link, depth + 1)?;
                self.buckets.insert(index, Bucket::Shard(shard));
            }
            Some(Bucket::Entry(other, other_link)) => {
                if other == name || bucket(&name, depth + 1).is_none() {
                    return Err(HashCollision(other, name));
                }
                let mut shard = Box::<ShardBuilder>::default();
                shard.insert_at(other, other_link, depth + 1)?;
                shard.insert_at(name, link, depth + 1)?;
                self.buckets.insert(index, Bucket::Shard(shard));
            }
        }
        Ok(())
    }

    /// Encodes this shard and its sub-shards bottom-up; `emit` stores each node and returns
    /// the link to it (CID and cumulative size).
    pub fn build<E>(self, emit: &mut dyn FnMut(PbNode) -> Result<PbLink, E>) -> Result<PbLink, E> {
        let mut bitfield = [0u8; FANOUT / 8];
        let mut links = Vec::with_capacity(self.buckets.len());
        for (index, bucket) in self.buckets {
            bitfield[FANOUT / 8 - 1 - usize::from(index) / 8] |= 1 << (index % 8);
            match bucket {
                Bucket::Entry(name, link) => links.push(PbLink {
                    name: Some(format!("{}{name}", bucket_label(index))),
                    ..link
                }),
                Bucket::Shard(shard) => {
                    let link = shard.build(emit)?;
                    links.push(PbLink {
                        name: Some(bucket_label(index)),
                        ..link
                    });
                }
            }
        }
        let first = bitfield
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bitfield.len());
        let mut data = UnixFsData::new(DataType::HamtShard);
        data.data = Some(bitfield[first..].to_vec());
        data.hash_type = Some(HAMT_HASH_MURMUR3);
        data.fanout = Some(FANOUT as u64);
        emit(PbNode {
            links,
            data: Some(data.encode()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_the_reference_implementation() {
        // MurmurHash3_x64_128("hello", seed 0) = cbd8a7b341bd9b02 5b1e906a48ae1d19.
        assert_eq!(murmur3_x64_64(b"hello"), 0xcbd8_a7b3_41bd_9b02);
        // Empty input hashes to zero.
        assert_eq!(murmur3_x64_64(b""), 0);
    }
}
