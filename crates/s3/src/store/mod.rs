//! Buckets, objects, multipart uploads and access keys in an embedded, crash-safe database
//! (redb). Every change is one transaction, so a crash leaves the old state or the new: an
//! object is visible only once its content is whole on the IPFS daemon, and replacing or
//! deleting one never leaves a half state.
//!
//! Objects share content (the same bytes under two keys, a copy) by CID, so the store counts
//! references per CID (objects and uploaded parts); a CID whose count falls to zero goes on a
//! queue of pins to drop on the daemon, kept in the same transaction and worked off by
//! [`crate::Service::release_unreferenced`], so a crash never loses one.

mod buckets;
mod objects;
mod orders;
mod records;
#[cfg(test)]
mod tests;
mod uploads;

pub use records::*;

use crust_primitives::{AccountId, Cid};
use redb::{Database, ReadableTable as _, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Access key id → key record (JSON).
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
/// Bucket name → bucket record (JSON).
const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
/// Bucket ‖ 0 ‖ key → object record (JSON).
const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
/// Upload id → upload record (JSON).
const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads");
/// Bucket ‖ 0 ‖ key ‖ 0 ‖ initiated (ms, big-endian) ‖ upload id → nothing: uploads in S3's
/// listing order.
const UPLOADS_BY_KEY: TableDefinition<&[u8], ()> = TableDefinition::new("uploads_by_key");
/// Upload id ‖ 0 ‖ part number (big-endian) → part record (JSON).
const PARTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("parts");
/// CID bytes → its storage order's record (JSON): objects in buckets with replicas.
const ORDERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("orders");
/// Next check (ms, big-endian) ‖ CID bytes → nothing: orders by when they are due.
const ORDERS_DUE: TableDefinition<&[u8], ()> = TableDefinition::new("orders_due");
/// Upload id → the object it became (JSON), so completing it again answers the same.
const COMPLETED: TableDefinition<&str, &[u8]> = TableDefinition::new("completed");
/// CID bytes → how many objects and parts hold it.
const REFS: TableDefinition<&[u8], u64> = TableDefinition::new("refs");
/// CID bytes → nothing: pins to drop on the daemon (nothing holds them any more).
const UNPIN: TableDefinition<&[u8], ()> = TableDefinition::new("unpin");

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (disk, corruption).
    #[error("S3 database: {0}")]
    Db(String),
    /// A record did not decode.
    #[error("S3 database record: {0}")]
    Record(String),
}

fn db<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Db(e.to_string())
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Record(e.to_string()))
}

fn dec<T: for<'a> Deserialize<'a>>(b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(|e| StoreError::Record(e.to_string()))
}

fn due_key(next_check_ms: u64, cid: &[u8]) -> Vec<u8> {
    let mut k = next_check_ms.to_be_bytes().to_vec();
    k.extend_from_slice(cid);
    k
}

/// Writes `record` at `bucket`/`key` if the bucket exists and `pre` holds.
fn write_object(
    tx: &redb::WriteTransaction,
    bucket: &str,
    key: &str,
    record: &ObjectRecord,
    pre: &Precondition,
    refs: &mut Refs,
) -> Result<Put, StoreError> {
    let Some(owner) = tx
        .open_table(BUCKETS)
        .map_err(db)?
        .get(bucket)
        .map_err(db)?
        .map(|v| dec::<BucketRecord>(v.value()))
        .transpose()?
    else {
        return Ok(Put::Gone);
    };
    let mut objects = tx.open_table(OBJECTS).map_err(db)?;
    let k = object_key(bucket, key);
    let current = objects
        .get(k.as_slice())
        .map_err(db)?
        .map(|v| dec::<ObjectRecord>(v.value()))
        .transpose()?;
    let verdict = pre.check(current.as_ref());
    if verdict != Put::Kept {
        return Ok(verdict);
    }
    objects
        .insert(k.as_slice(), enc(record)?.as_slice())
        .map_err(db)?;
    if let Some(old) = current {
        refs.drop(&old.cid);
    }
    refs.add(&record.cid);
    drop(objects);
    want_order(tx, &record.cid, &owner)?;
    Ok(Put::Kept)
}

/// Queues a storage order for `cid` paid by the bucket's owner, if the bucket has replicas
/// and the content has no order yet.
fn want_order(
    tx: &redb::WriteTransaction,
    cid: &Cid,
    bucket: &BucketRecord,
) -> Result<(), StoreError> {
    if bucket.replicas == 0 {
        return Ok(());
    }
    let key = cid.to_bytes();
    let mut orders = tx.open_table(ORDERS).map_err(db)?;
    if orders.get(key.as_slice()).map_err(db)?.is_some() {
        return Ok(());
    }
    let record = OrderRecord {
        payer: bucket.owner,
        target: bucket.replicas,
        state: OrderState::Queued,
        replicas: 0,
        expires_at: 0,
        orders: 0,
        renewals: 0,
        last_order_block: 0,
        size: 0,
        error: String::new(),
        next_check_ms: 0,
    };
    orders
        .insert(key.as_slice(), enc(&record)?.as_slice())
        .map_err(db)?;
    tx.open_table(ORDERS_DUE)
        .map_err(db)?
        .insert(due_key(0, &key).as_slice(), ())
        .map_err(db)?;
    Ok(())
}

fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1 + key.len());
    k.extend_from_slice(bucket.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

fn upload_index_key(u: &UploadRecord, id: &str) -> Vec<u8> {
    let mut k = object_key(&u.bucket, &u.key);
    k.push(0);
    k.extend_from_slice(&u.initiated_ms.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

fn part_key(id: &str, n: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(id.len() + 5);
    k.extend_from_slice(id.as_bytes());
    k.push(0);
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// The smallest byte string greater than every string starting with `prefix` (`None`: no
/// such bound, the prefix is all 0xFF).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Reference-count changes made in one transaction.
#[derive(Default)]
struct Refs(BTreeMap<Vec<u8>, i64>);

impl Refs {
    fn add(&mut self, cid: &Cid) {
        *self.0.entry(cid.to_bytes()).or_default() += 1;
    }
    fn drop(&mut self, cid: &Cid) {
        *self.0.entry(cid.to_bytes()).or_default() -= 1;
    }
    fn apply(self, tx: &redb::WriteTransaction) -> Result<(), StoreError> {
        let mut refs = tx.open_table(REFS).map_err(db)?;
        let mut unpin = tx.open_table(UNPIN).map_err(db)?;
        // Every CID here was touched by the transaction (added, pinned or dropped): any that
        // ends held by nothing is queued for release.
        for (cid, delta) in self.0 {
            let now = refs
                .get(cid.as_slice())
                .map_err(db)?
                .map_or(0, |v| v.value());
            let next = (now as i64).saturating_add(delta).max(0) as u64;
            if next == 0 {
                refs.remove(cid.as_slice()).map_err(db)?;
                unpin.insert(cid.as_slice(), ()).map_err(db)?;
                // Nothing holds the content: its order is not renewed.
                let mut orders = tx.open_table(ORDERS).map_err(db)?;
                if let Some(old) = orders
                    .remove(cid.as_slice())
                    .map_err(db)?
                    .map(|v| dec::<OrderRecord>(v.value()))
                    .transpose()?
                {
                    tx.open_table(ORDERS_DUE)
                        .map_err(db)?
                        .remove(due_key(old.next_check_ms, &cid).as_slice())
                        .map_err(db)?;
                }
            } else {
                refs.insert(cid.as_slice(), next).map_err(db)?;
                unpin.remove(cid.as_slice()).map_err(db)?;
            }
        }
        Ok(())
    }
}

/// The database.
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (or makes) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let database = Database::create(path).map_err(db)?;
        let tx = database.begin_write().map_err(db)?;
        tx.open_table(KEYS).map_err(db)?;
        tx.open_table(BUCKETS).map_err(db)?;
        tx.open_table(OBJECTS).map_err(db)?;
        tx.open_table(UPLOADS).map_err(db)?;
        tx.open_table(UPLOADS_BY_KEY).map_err(db)?;
        tx.open_table(PARTS).map_err(db)?;
        tx.open_table(REFS).map_err(db)?;
        tx.open_table(UNPIN).map_err(db)?;
        tx.open_table(COMPLETED).map_err(db)?;
        tx.open_table(ORDERS).map_err(db)?;
        tx.open_table(ORDERS_DUE).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Self { db: database })
    }
}
