//! Buckets, objects, multipart uploads and access keys in an embedded, crash-safe database
//! (redb). Every change is one transaction, so a crash leaves the old state or the new: an
//! object is visible only once its content is whole on the IPFS daemon, and replacing or
//! deleting one never leaves a half state.
//!
//! Objects share content (the same bytes under two keys, a copy) by CID, so the store counts
//! references per CID (objects and uploaded parts); a CID whose count falls to zero goes on a
//! queue of pins to drop on the daemon, kept in the same transaction and worked off by
//! [`crate::Service::release_unreferenced`], so a crash never loses one.

use crust_primitives::{AccountId, Cid};
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};
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

/// An access key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Its secret (SigV4 needs it to check signatures).
    pub secret: String,
    /// The account that pays for what it stores.
    pub account: AccountId,
    /// A name for the device or app holding it (unique per account).
    pub label: String,
    /// When it was made (ms since the UNIX epoch).
    pub created_ms: u64,
}

/// A bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    /// The account that owns it and pays for its objects.
    pub owner: AccountId,
    /// When it was made (ms since the UNIX epoch).
    pub created_ms: u64,
    /// Replicas each object's storage order asks for (0: objects are not ordered).
    pub replicas: u32,
    /// The location constraint it was made with (empty: none given).
    #[serde(default)]
    pub location: String,
}

/// An object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// Its content's root on the IPFS daemon.
    pub cid: Cid,
    /// Bytes of content.
    pub size: u64,
    /// Its DAG's cumulative size.
    pub tsize: u64,
    /// S3's ETag, without quotes (hex MD5, or hex MD5 of the parts' MD5s and `-N`).
    pub etag: String,
    /// When it was written (ms since the UNIX epoch).
    pub modified_ms: u64,
    /// `Content-Type`.
    pub content_type: String,
    /// The other stored headers (`content-encoding`, `cache-control`, …), lower-case.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// User metadata (`x-amz-meta-*`, names lower-case without the prefix).
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// Parts it was uploaded in (0: one piece).
    #[serde(default)]
    pub parts: u32,
    /// Each part's size, in order (multipart objects).
    #[serde(default)]
    pub part_sizes: Vec<u64>,
    /// Each part's checksum, in order (multipart objects that keep checksums).
    #[serde(default)]
    pub part_checksums: Vec<String>,
    /// `FULL_OBJECT` or `COMPOSITE` (of the parts' checksums), when there is a checksum.
    #[serde(default)]
    pub checksum_type: Option<String>,
    /// The checksum the client sent and we verified (algorithm name, base64).
    #[serde(default)]
    pub checksum: Option<(String, String)>,
}

/// Where an object's storage order is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderState {
    /// To be placed.
    Queued,
    /// The chain refused it (no approval, approval spent, funds short); tried again now and
    /// then.
    Refused,
    /// Placed; waiting for the bucket's replica count.
    Ordered,
    /// The bucket's replica count is proven; renewed while the content is held.
    Stored,
}

impl OrderState {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Refused => "refused",
            Self::Ordered => "ordered",
            Self::Stored => "stored",
        }
    }
}

/// A CID's storage order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// The account that pays (the owner of the first bucket that held the content).
    pub payer: AccountId,
    /// Proven replicas wanted.
    pub target: u32,
    /// Where it is.
    pub state: OrderState,
    /// Proven replicas last seen on chain.
    pub replicas: u32,
    /// The block its paid time ends at, as last seen (0: pending).
    pub expires_at: u64,
    /// Orders placed (the first and each renewal).
    pub orders: u32,
    /// Renewals placed.
    pub renewals: u32,
    /// The block that included the last order.
    pub last_order_block: u64,
    /// The size ordered.
    pub size: u64,
    /// The last error (empty: none).
    pub error: String,
    /// When it is next looked at (ms since the UNIX epoch).
    pub next_check_ms: u64,
}

fn due_key(next_check_ms: u64, cid: &[u8]) -> Vec<u8> {
    let mut k = next_check_ms.to_be_bytes().to_vec();
    k.extend_from_slice(cid);
    k
}

/// A multipart upload in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// Who started it.
    pub owner: AccountId,
    /// When (ms since the UNIX epoch).
    pub initiated_ms: u64,
    /// What the object will carry (content fields empty until completion).
    pub object: ObjectRecord,
    /// The checksum algorithm every part gets (`x-amz-checksum-algorithm` at creation).
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
    /// `COMPOSITE` or `FULL_OBJECT` (`x-amz-checksum-type` at creation).
    #[serde(default)]
    pub checksum_type: Option<String>,
}

/// One uploaded part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// Its content's root.
    pub cid: Cid,
    /// Bytes.
    pub size: u64,
    /// Its DAG's cumulative size.
    pub tsize: u64,
    /// Hex MD5.
    pub etag: String,
    /// When it was uploaded (ms).
    pub modified_ms: u64,
    /// Its checksum in the upload's algorithm (base64), when the upload keeps checksums.
    #[serde(default)]
    pub checksum: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct Page {
    /// Objects, in key order.
    pub objects: Vec<(String, ObjectRecord)>,
    /// Common prefixes (with a delimiter), in order.
    pub prefixes: Vec<String>,
    /// Whether more follow.
    pub truncated: bool,
    /// The last key or prefix on the page (where the next page starts after).
    pub last: Option<String>,
}

/// What a conditional write requires of the object it replaces (`If-Match`,
/// `If-None-Match`; an ETag without quotes, or `*`).
#[derive(Debug, Default, Clone)]
pub struct Precondition {
    /// The current object must exist and (unless `*`) have this ETag.
    pub if_match: Option<String>,
    /// The current object must not exist (`*`) or must not have this ETag.
    pub if_none_match: Option<String>,
}

impl Precondition {
    fn check(&self, current: Option<&ObjectRecord>) -> Put {
        if let Some(m) = &self.if_match {
            match current {
                None => return Put::NoSuchKey,
                Some(o) if m != "*" && *m != o.etag => return Put::PreconditionFailed,
                Some(_) => {}
            }
        }
        if let Some(m) = &self.if_none_match
            && let Some(o) = current
            && (m == "*" || *m == o.etag)
        {
            return Put::PreconditionFailed;
        }
        Put::Kept
    }
}

/// What became of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// Written.
    Kept,
    /// The bucket (or upload) is gone.
    Gone,
    /// `If-Match` named an object that does not exist.
    NoSuchKey,
    /// A precondition did not hold.
    PreconditionFailed,
}

/// A completed upload, remembered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completed {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// The object's ETag.
    pub etag: String,
    /// The object's CID.
    pub cid: Cid,
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

/// Why creating a bucket did not.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateBucket {
    /// Made.
    Created,
    /// The caller already owns it.
    Owned,
    /// Someone else does.
    Taken,
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

    // ---- keys ----

    /// Adds a key; `false` if the account already has one with that label.
    pub fn add_key(&self, access_key: &str, record: &KeyRecord) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        {
            let mut keys = tx.open_table(KEYS).map_err(db)?;
            for entry in keys.iter().map_err(db)? {
                let (_, v) = entry.map_err(db)?;
                let k: KeyRecord = dec(v.value())?;
                if k.account == record.account && k.label == record.label {
                    return Ok(false);
                }
            }
            keys.insert(access_key, enc(record)?.as_slice())
                .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(true)
    }

    /// The key `access_key`.
    pub fn key(&self, access_key: &str) -> Result<Option<KeyRecord>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let keys = tx.open_table(KEYS).map_err(db)?;
        keys.get(access_key)
            .map_err(db)?
            .map(|v| dec(v.value()))
            .transpose()
    }

    /// An account's keys (access key id, record).
    pub fn keys_of(&self, account: &AccountId) -> Result<Vec<(String, KeyRecord)>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let keys = tx.open_table(KEYS).map_err(db)?;
        let mut out = Vec::new();
        for entry in keys.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            let r: KeyRecord = dec(v.value())?;
            if &r.account == account {
                out.push((k.value().to_owned(), r));
            }
        }
        out.sort_by_key(|(_, r)| r.created_ms);
        Ok(out)
    }

    /// Removes the account's key labelled `label`; `false` if there is none.
    pub fn revoke_key(&self, account: &AccountId, label: &str) -> Result<bool, StoreError> {
        let found = self
            .keys_of(account)?
            .into_iter()
            .find(|(_, r)| r.label == label);
        let Some((id, _)) = found else {
            return Ok(false);
        };
        let tx = self.db.begin_write().map_err(db)?;
        tx.open_table(KEYS)
            .map_err(db)?
            .remove(id.as_str())
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(true)
    }

    // ---- buckets ----

    /// Makes a bucket (bucket names are global).
    pub fn create_bucket(
        &self,
        name: &str,
        record: &BucketRecord,
        max_per_account: usize,
    ) -> Result<Result<CreateBucket, ()>, StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        {
            let mut buckets = tx.open_table(BUCKETS).map_err(db)?;
            if let Some(v) = buckets.get(name).map_err(db)? {
                let b: BucketRecord = dec(v.value())?;
                return Ok(Ok(if b.owner == record.owner {
                    CreateBucket::Owned
                } else {
                    CreateBucket::Taken
                }));
            }
            let mut owned = 0;
            for entry in buckets.iter().map_err(db)? {
                let (_, v) = entry.map_err(db)?;
                if dec::<BucketRecord>(v.value())?.owner == record.owner {
                    owned += 1;
                }
            }
            if owned >= max_per_account {
                return Ok(Err(()));
            }
            buckets.insert(name, enc(record)?.as_slice()).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(Ok(CreateBucket::Created))
    }

    /// The bucket `name`.
    pub fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let buckets = tx.open_table(BUCKETS).map_err(db)?;
        buckets
            .get(name)
            .map_err(db)?
            .map(|v| dec(v.value()))
            .transpose()
    }

    /// An account's buckets, by name.
    pub fn buckets_of(&self, owner: &AccountId) -> Result<Vec<(String, BucketRecord)>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let buckets = tx.open_table(BUCKETS).map_err(db)?;
        let mut out = Vec::new();
        for entry in buckets.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            let b: BucketRecord = dec(v.value())?;
            if &b.owner == owner {
                out.push((k.value().to_owned(), b));
            }
        }
        Ok(out)
    }

    /// Deletes an empty bucket, aborting its unfinished uploads; `Ok(false)`: not empty.
    pub fn delete_bucket(&self, name: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        let mut refs = Refs::default();
        {
            let start = object_key(name, "");
            let end = prefix_end(&start);
            let objects = tx.open_table(OBJECTS).map_err(db)?;
            let mut range = match &end {
                Some(end) => objects
                    .range(start.as_slice()..end.as_slice())
                    .map_err(db)?,
                None => objects.range(start.as_slice()..).map_err(db)?,
            };
            if range.next().is_some() {
                return Ok(false);
            }
            drop(range);
            let ids: Vec<String> = {
                let index = tx.open_table(UPLOADS_BY_KEY).map_err(db)?;
                let range = match &end {
                    Some(end) => index.range(start.as_slice()..end.as_slice()).map_err(db)?,
                    None => index.range(start.as_slice()..).map_err(db)?,
                };
                let mut ids = Vec::new();
                for entry in range {
                    let (k, _) = entry.map_err(db)?;
                    // bucket 0 key 0 time(8) id
                    let k = k.value();
                    let after_bucket = &k[start.len()..];
                    if let Some(z) = after_bucket.iter().position(|b| *b == 0)
                        && let Some(id) = after_bucket.get(z + 9..)
                    {
                        ids.push(String::from_utf8_lossy(id).into_owned());
                    }
                }
                ids
            };
            for id in ids {
                remove_upload(&tx, &id, &mut refs)?;
            }
            tx.open_table(BUCKETS)
                .map_err(db)?
                .remove(name)
                .map_err(db)?;
        }
        refs.apply(&tx)?;
        tx.commit().map_err(db)?;
        Ok(true)
    }

    // ---- objects ----

    /// The object `key` in `bucket`.
    pub fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let objects = tx.open_table(OBJECTS).map_err(db)?;
        objects
            .get(object_key(bucket, key).as_slice())
            .map_err(db)?
            .map(|v| dec(v.value()))
            .transpose()
    }

    /// Writes an object whose content was just added (and pinned) on the daemon, replacing
    /// any object at the key if `pre` holds. Content not kept is queued for release.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
        pre: &Precondition,
    ) -> Result<Put, StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        let mut refs = Refs::default();
        // The daemon holds the new content pinned whether or not it is kept: touch it, so
        // that if nothing keeps it, it is queued for release.
        refs.add(&record.cid);
        refs.drop(&record.cid);
        let put = write_object(&tx, bucket, key, record, pre, &mut refs)?;
        refs.apply(&tx)?;
        tx.commit().map_err(db)?;
        Ok(put)
    }

    /// Deletes an object; returns it.
    pub fn delete_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        let mut refs = Refs::default();
        let old = {
            let mut objects = tx.open_table(OBJECTS).map_err(db)?;
            objects
                .remove(object_key(bucket, key).as_slice())
                .map_err(db)?
                .map(|v| dec::<ObjectRecord>(v.value()))
                .transpose()?
        };
        if let Some(old) = &old {
            refs.drop(&old.cid);
        }
        refs.apply(&tx)?;
        tx.commit().map_err(db)?;
        Ok(old)
    }

    /// Copies an object (same content, `make` gives the new record from the source's);
    /// `Ok(None)`: the source is gone; `Ok(Some(None))`: the target bucket is.
    pub fn copy_object(
        &self,
        from: (&str, &str),
        to: (&str, &str),
        make: impl FnOnce(&ObjectRecord) -> ObjectRecord,
    ) -> Result<Option<Option<ObjectRecord>>, StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        let mut refs = Refs::default();
        let mut copied_cid = None;
        let result = {
            let exists = tx
                .open_table(BUCKETS)
                .map_err(db)?
                .get(to.0)
                .map_err(db)?
                .is_some();
            let mut objects = tx.open_table(OBJECTS).map_err(db)?;
            let source = objects
                .get(object_key(from.0, from.1).as_slice())
                .map_err(db)?
                .map(|v| dec::<ObjectRecord>(v.value()))
                .transpose()?;
            match source {
                None => None,
                Some(_) if !exists => Some(None),
                Some(source) => {
                    let record = make(&source);
                    refs.add(&record.cid);
                    copied_cid = Some(record.cid);
                    let old = objects
                        .insert(object_key(to.0, to.1).as_slice(), enc(&record)?.as_slice())
                        .map_err(db)?
                        .map(|v| dec::<ObjectRecord>(v.value()))
                        .transpose()?;
                    if let Some(old) = old {
                        refs.drop(&old.cid);
                    }
                    Some(Some(record))
                }
            }
        };
        if let Some(cid) = copied_cid
            && let Some(bucket) = tx
                .open_table(BUCKETS)
                .map_err(db)?
                .get(to.0)
                .map_err(db)?
                .map(|v| dec::<BucketRecord>(v.value()))
                .transpose()?
        {
            want_order(&tx, &cid, &bucket)?;
        }
        refs.apply(&tx)?;
        tx.commit().map_err(db)?;
        Ok(result)
    }

    /// Lists `bucket`'s objects whose keys start with `prefix` and come after `after`, rolling
    /// keys that contain `delimiter` after the prefix up into common prefixes; at most `max`
    /// entries (objects and prefixes together).
    pub fn list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: &str,
        max: usize,
    ) -> Result<Page, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let objects = tx.open_table(OBJECTS).map_err(db)?;
        let base = object_key(bucket, "");
        let full_prefix = object_key(bucket, prefix);
        let end = prefix_end(&full_prefix);
        let mut start = if after.as_bytes() >= prefix.as_bytes() {
            // Strictly after `after`: the key followed by a 0 byte is the next possible one.
            let mut s = object_key(bucket, after);
            s.push(0);
            s
        } else {
            full_prefix.clone()
        };
        let mut page = Page::default();
        let delimiter = delimiter.filter(|d| !d.is_empty());
        'scan: loop {
            let range = match &end {
                Some(end) if start.as_slice() >= end.as_slice() => break,
                Some(end) => objects
                    .range(start.as_slice()..end.as_slice())
                    .map_err(db)?,
                None => objects.range(start.as_slice()..).map_err(db)?,
            };
            for entry in range {
                let (k, v) = entry.map_err(db)?;
                let key = String::from_utf8_lossy(&k.value()[base.len()..]).into_owned();
                let rest = &key[prefix.len().min(key.len())..];
                if let Some(d) = delimiter
                    && let Some(pos) = rest.find(d)
                {
                    let common = key[..prefix.len() + pos + d.len()].to_owned();
                    // Skip every key under this prefix: restart the scan past it.
                    let skip = prefix_end(&object_key(bucket, &common));
                    if common.as_str() > after {
                        if page.objects.len() + page.prefixes.len() >= max {
                            page.truncated = true;
                            break 'scan;
                        }
                        page.last = Some(common.clone());
                        page.prefixes.push(common);
                    }
                    match skip {
                        Some(s) => {
                            start = s;
                            continue 'scan;
                        }
                        None => break 'scan,
                    }
                }
                if page.objects.len() + page.prefixes.len() >= max {
                    page.truncated = true;
                    break 'scan;
                }
                page.last = Some(key.clone());
                page.objects.push((key, dec(v.value())?));
            }
            break;
        }
        Ok(page)
    }

    // ---- multipart uploads ----

    /// Starts an upload.
    pub fn create_upload(&self, id: &str, record: &UploadRecord) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        tx.open_table(UPLOADS)
            .map_err(db)?
            .insert(id, enc(record)?.as_slice())
            .map_err(db)?;
        tx.open_table(UPLOADS_BY_KEY)
            .map_err(db)?
            .insert(upload_index_key(record, id).as_slice(), ())
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(())
    }

    /// The upload `id`.
    pub fn upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let uploads = tx.open_table(UPLOADS).map_err(db)?;
        uploads
            .get(id)
            .map_err(db)?
            .map(|v| dec(v.value()))
            .transpose()
    }

    /// Records a part whose content was just added (and pinned), replacing an earlier part
    /// with its number. `Ok(false)`: the upload is gone (the content is released).
    pub fn put_part(&self, id: &str, n: u32, part: &PartRecord) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        let mut refs = Refs::default();
        refs.add(&part.cid);
        let kept = {
            let exists = tx
                .open_table(UPLOADS)
                .map_err(db)?
                .get(id)
                .map_err(db)?
                .is_some();
            if exists {
                let mut parts = tx.open_table(PARTS).map_err(db)?;
                let old = parts
                    .insert(part_key(id, n).as_slice(), enc(part)?.as_slice())
                    .map_err(db)?
                    .map(|v| dec::<PartRecord>(v.value()))
                    .transpose()?;
                if let Some(old) = old {
                    refs.drop(&old.cid);
                }
                refs.add(&part.cid);
            }
            exists
        };
        refs.drop(&part.cid);
        refs.apply(&tx)?;
        tx.commit().map_err(db)?;
        Ok(kept)
    }

    /// An upload's parts with numbers above `after`, at most `max`, and whether more follow.
    pub fn parts(
        &self,
        id: &str,
        after: u32,
        max: usize,
    ) -> Result<(Vec<(u32, PartRecord)>, bool), StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let parts = tx.open_table(PARTS).map_err(db)?;
        let start = part_key(id, after.saturating_add(1));
        let end = part_key(id, u32::MAX);
        let mut out = Vec::new();
        for entry in parts.range(start.as_slice()..=end.as_slice()).map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            if out.len() >= max {
                return Ok((out, true));
            }
            let k = k.value();
            let n = u32::from_be_bytes(k[k.len() - 4..].try_into().unwrap_or_default());
            out.push((n, dec(v.value())?));
        }
        Ok((out, false))
    }

    /// Finishes an upload: if `pre` holds, the object is written and the upload and its parts
    /// are gone, in one transaction (else nothing changes but the joined root's release).
    pub fn complete_upload(
        &self,
        id: &str,
        record: &ObjectRecord,
        pre: &Precondition,
    ) -> Result<Put, StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        let mut refs = Refs::default();
        // The joined root is pinned on the daemon: touched so it is released if not kept.
        refs.add(&record.cid);
        refs.drop(&record.cid);
        let upload = tx
            .open_table(UPLOADS)
            .map_err(db)?
            .get(id)
            .map_err(db)?
            .map(|v| dec::<UploadRecord>(v.value()))
            .transpose()?;
        let put = match upload {
            None => Put::Gone,
            Some(upload) => {
                let put = write_object(&tx, &upload.bucket, &upload.key, record, pre, &mut refs)?;
                if put == Put::Kept {
                    remove_upload(&tx, id, &mut refs)?;
                    let done = Completed {
                        bucket: upload.bucket.clone(),
                        key: upload.key.clone(),
                        etag: record.etag.clone(),
                        cid: record.cid,
                    };
                    tx.open_table(COMPLETED)
                        .map_err(db)?
                        .insert(id, enc(&done)?.as_slice())
                        .map_err(db)?;
                }
                put
            }
        };
        refs.apply(&tx)?;
        tx.commit().map_err(db)?;
        Ok(put)
    }

    /// The object a completed upload became.
    pub fn completed(&self, id: &str) -> Result<Option<Completed>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = tx.open_table(COMPLETED).map_err(db)?;
        t.get(id).map_err(db)?.map(|v| dec(v.value())).transpose()
    }

    /// Aborts an upload, releasing its parts; `false` if there was none.
    pub fn abort_upload(&self, id: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        let mut refs = Refs::default();
        let found = remove_upload(&tx, id, &mut refs)?;
        refs.apply(&tx)?;
        tx.commit().map_err(db)?;
        Ok(found)
    }

    /// A bucket's uploads in S3's order (key, then initiation time), after the key marker
    /// (and, for that key, after the upload id marker); at most `max`; whether more follow.
    pub fn uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        id_marker: &str,
        max: usize,
    ) -> Result<(Vec<(String, UploadRecord)>, bool), StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let index = tx.open_table(UPLOADS_BY_KEY).map_err(db)?;
        let uploads = tx.open_table(UPLOADS).map_err(db)?;
        let start = object_key(bucket, prefix);
        let end = prefix_end(&start);
        let range = match &end {
            Some(end) => index.range(start.as_slice()..end.as_slice()).map_err(db)?,
            None => index.range(start.as_slice()..).map_err(db)?,
        };
        let mut out = Vec::new();
        let mut passed_id_marker = id_marker.is_empty();
        for entry in range {
            let (k, _) = entry.map_err(db)?;
            let k = k.value();
            let rest = &k[bucket.len() + 1..];
            let Some(z) = rest.iter().position(|b| *b == 0) else {
                continue;
            };
            let key = String::from_utf8_lossy(&rest[..z]).into_owned();
            let id = String::from_utf8_lossy(rest.get(z + 9..).unwrap_or_default()).into_owned();
            if !key_marker.is_empty() {
                if key.as_str() < key_marker {
                    continue;
                }
                if key == key_marker {
                    if id_marker.is_empty() {
                        continue;
                    }
                    if !passed_id_marker {
                        passed_id_marker = id == id_marker;
                        continue;
                    }
                }
            }
            let Some(v) = uploads.get(id.as_str()).map_err(db)? else {
                continue;
            };
            if out.len() >= max {
                return Ok((out, true));
            }
            out.push((id, dec(v.value())?));
        }
        Ok((out, false))
    }

    // ---- storage orders ----

    /// The order of `cid`.
    pub fn order(&self, cid: &Cid) -> Result<Option<OrderRecord>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let orders = tx.open_table(ORDERS).map_err(db)?;
        orders
            .get(cid.to_bytes().as_slice())
            .map_err(db)?
            .map(|v| dec(v.value()))
            .transpose()
    }

    /// Orders due at `now_ms`, soonest first, at most `max`.
    pub fn orders_due(
        &self,
        now_ms: u64,
        max: usize,
    ) -> Result<Vec<(Cid, OrderRecord)>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let due = tx.open_table(ORDERS_DUE).map_err(db)?;
        let orders = tx.open_table(ORDERS).map_err(db)?;
        let end = due_key(now_ms.saturating_add(1), &[]);
        let mut out = Vec::new();
        for entry in due.range(..end.as_slice()).map_err(db)? {
            if out.len() >= max {
                break;
            }
            let (k, _) = entry.map_err(db)?;
            let cid_bytes = &k.value()[8..];
            let Some(v) = orders.get(cid_bytes).map_err(db)? else {
                continue;
            };
            if let Ok(cid) = Cid::from_bytes(cid_bytes) {
                out.push((cid, dec(v.value())?));
            }
        }
        Ok(out)
    }

    /// Saves an order's new state; `false` (nothing saved) if the order is gone (its last
    /// object was deleted meanwhile).
    pub fn update_order(&self, cid: &Cid, record: &OrderRecord) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        let key = cid.to_bytes();
        {
            let mut orders = tx.open_table(ORDERS).map_err(db)?;
            let Some(old) = orders
                .get(key.as_slice())
                .map_err(db)?
                .map(|v| dec::<OrderRecord>(v.value()))
                .transpose()?
            else {
                return Ok(false);
            };
            orders
                .insert(key.as_slice(), enc(record)?.as_slice())
                .map_err(db)?;
            let mut due = tx.open_table(ORDERS_DUE).map_err(db)?;
            due.remove(due_key(old.next_check_ms, &key).as_slice())
                .map_err(db)?;
            due.insert(due_key(record.next_check_ms, &key).as_slice(), ())
                .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(true)
    }

    // ---- releasing content ----

    /// CIDs nothing holds any more, to unpin on the daemon (at most `max`).
    pub fn unreferenced(&self, max: usize) -> Result<Vec<Cid>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let unpin = tx.open_table(UNPIN).map_err(db)?;
        let mut out = Vec::new();
        for entry in unpin.iter().map_err(db)?.take(max) {
            let (k, _) = entry.map_err(db)?;
            if let Ok(cid) = Cid::from_bytes(k.value()) {
                out.push(cid);
            }
        }
        Ok(out)
    }

    /// `cid` was unpinned (or was referenced again): off the queue.
    pub fn released(&self, cid: &Cid) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        tx.open_table(UNPIN)
            .map_err(db)?
            .remove(cid.to_bytes().as_slice())
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(())
    }

    /// How many objects and parts hold `cid`.
    pub fn refs(&self, cid: &Cid) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let refs = tx.open_table(REFS).map_err(db)?;
        Ok(refs
            .get(cid.to_bytes().as_slice())
            .map_err(db)?
            .map_or(0, |v| v.value()))
    }

    /// Every object (bucket, key, record) of `bucket`, in key order.
    pub fn all_objects(&self, bucket: &str) -> Result<Vec<(String, ObjectRecord)>, StoreError> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.list(bucket, "", None, &after, 1000)?;
            let more = page.truncated;
            if let Some(last) = page.last {
                after = last;
            }
            out.extend(page.objects);
            if !more {
                return Ok(out);
            }
        }
    }
}

/// Removes an upload, its index entry and its parts (their references dropped).
fn remove_upload(
    tx: &redb::WriteTransaction,
    id: &str,
    refs: &mut Refs,
) -> Result<bool, StoreError> {
    let Some(upload) = tx
        .open_table(UPLOADS)
        .map_err(db)?
        .remove(id)
        .map_err(db)?
        .map(|v| dec::<UploadRecord>(v.value()))
        .transpose()?
    else {
        return Ok(false);
    };
    tx.open_table(UPLOADS_BY_KEY)
        .map_err(db)?
        .remove(upload_index_key(&upload, id).as_slice())
        .map_err(db)?;
    let mut parts = tx.open_table(PARTS).map_err(db)?;
    let start = part_key(id, 0);
    let end = part_key(id, u32::MAX);
    let doomed: Vec<(Vec<u8>, PartRecord)> = parts
        .range(start.as_slice()..=end.as_slice())
        .map_err(db)?
        .map(|e| {
            let (k, v) = e.map_err(db)?;
            Ok((k.value().to_vec(), dec::<PartRecord>(v.value())?))
        })
        .collect::<Result<_, StoreError>>()?;
    for (k, p) in doomed {
        parts.remove(k.as_slice()).map_err(db)?;
        refs.drop(&p.cid);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(n: u8) -> Cid {
        crust_ipfs::block::cid_of(0x55, &[n], 1)
    }

    fn object(n: u8) -> ObjectRecord {
        ObjectRecord {
            cid: cid(n),
            size: 1,
            tsize: 1,
            etag: "e".into(),
            modified_ms: 0,
            content_type: "binary/octet-stream".into(),
            headers: BTreeMap::new(),
            meta: BTreeMap::new(),
            parts: 0,
            part_sizes: Vec::new(),
            part_checksums: Vec::new(),
            checksum_type: None,
            checksum: None,
        }
    }

    fn none() -> Precondition {
        Precondition::default()
    }

    #[test]
    fn conditional_writes_hold_or_change_nothing() {
        let (_d, s) = store();
        let if_none = Precondition {
            if_none_match: Some("*".into()),
            ..none()
        };
        assert_eq!(
            s.put_object("b", "k", &object(1), &if_none).unwrap(),
            Put::Kept
        );
        assert_eq!(
            s.put_object("b", "k", &object(2), &if_none).unwrap(),
            Put::PreconditionFailed
        );
        assert!(s.unreferenced(10).unwrap().contains(&cid(2)));
        let if_match = |e: &str| Precondition {
            if_match: Some(e.into()),
            ..none()
        };
        assert_eq!(
            s.put_object("b", "k", &object(3), &if_match("bad"))
                .unwrap(),
            Put::PreconditionFailed
        );
        assert_eq!(
            s.put_object("b", "k", &object(3), &if_match("e")).unwrap(),
            Put::Kept
        );
        assert_eq!(
            s.put_object("b", "gone", &object(3), &if_match("*"))
                .unwrap(),
            Put::NoSuchKey
        );
        assert_eq!(s.object("b", "k").unwrap().unwrap().cid, cid(3));
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s3.redb")).unwrap();
        let b = BucketRecord {
            owner: AccountId::default(),
            created_ms: 0,
            replicas: 0,
            location: String::new(),
        };
        assert_eq!(
            s.create_bucket("b", &b, 100).unwrap(),
            Ok(CreateBucket::Created)
        );
        (dir, s)
    }

    #[test]
    fn shared_content_is_released_when_the_last_holder_goes() {
        let (_d, s) = store();
        assert_eq!(
            s.put_object("b", "x", &object(1), &none()).unwrap(),
            Put::Kept
        );
        assert_eq!(
            s.put_object("b", "y", &object(1), &none()).unwrap(),
            Put::Kept
        );
        assert_eq!(s.refs(&cid(1)).unwrap(), 2);
        // Overwriting x releases nothing (y still holds 1); deleting y then releases it.
        assert_eq!(
            s.put_object("b", "x", &object(2), &none()).unwrap(),
            Put::Kept
        );
        assert!(s.unreferenced(10).unwrap().is_empty());
        s.delete_object("b", "y").unwrap();
        assert_eq!(s.unreferenced(10).unwrap(), vec![cid(1)]);
        // Content put into a bucket that is gone is queued for release at once.
        assert_eq!(
            s.put_object("nope", "z", &object(3), &none()).unwrap(),
            Put::Gone
        );
        assert!(s.unreferenced(10).unwrap().contains(&cid(3)));
        // Holding it again takes it off the queue.
        assert_eq!(
            s.put_object("b", "z", &object(3), &none()).unwrap(),
            Put::Kept
        );
        assert!(!s.unreferenced(10).unwrap().contains(&cid(3)));
    }

    #[test]
    fn listings_roll_up_prefixes_and_resume() {
        let (_d, s) = store();
        for k in ["a", "b/1", "b/2", "b/3/x", "c", "d/1"] {
            s.put_object("b", k, &object(1), &none()).unwrap();
        }
        let p = s.list("b", "", Some("/"), "", 1000).unwrap();
        let keys: Vec<_> = p.objects.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "c"]);
        assert_eq!(p.prefixes, ["b/", "d/"]);
        let p = s.list("b", "", Some("/"), "", 2).unwrap();
        assert!(p.truncated);
        assert_eq!(p.last.as_deref(), Some("b/"));
        let p = s.list("b", "", Some("/"), "b/", 2).unwrap();
        assert_eq!(p.objects.len() + p.prefixes.len(), 2);
        assert_eq!(p.objects[0].0, "c");
        assert_eq!(p.prefixes, ["d/"]);
        let p = s.list("b", "b/", Some("/"), "", 1000).unwrap();
        let keys: Vec<_> = p.objects.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b/1", "b/2"]);
        assert_eq!(p.prefixes, ["b/3/"]);
        let p = s.list("b", "", None, "b/2", 1000).unwrap();
        let keys: Vec<_> = p.objects.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b/3/x", "c", "d/1"]);
        assert!(!s.delete_bucket("b").unwrap());
    }

    #[test]
    fn uploads_complete_and_abort_atomically() {
        let (_d, s) = store();
        let u = UploadRecord {
            bucket: "b".into(),
            key: "k".into(),
            owner: AccountId::default(),
            initiated_ms: 1,
            object: object(0),
            checksum_algorithm: None,
            checksum_type: None,
        };
        s.create_upload("u1", &u).unwrap();
        s.create_upload("u2", &u).unwrap();
        let part = |n: u8| PartRecord {
            cid: cid(n),
            size: 1,
            tsize: 1,
            etag: "p".into(),
            modified_ms: 0,
            checksum: None,
        };
        assert!(s.put_part("u1", 1, &part(10)).unwrap());
        assert!(s.put_part("u1", 2, &part(11)).unwrap());
        assert!(s.put_part("u1", 2, &part(12)).unwrap()); // replaces 11
        assert!(s.unreferenced(10).unwrap().contains(&cid(11)));
        let (parts, more) = s.parts("u1", 0, 1).unwrap();
        assert_eq!((parts.len(), more), (1, true));
        let (ups, _) = s.uploads("b", "", "", "", 10).unwrap();
        assert_eq!(ups.len(), 2);
        assert_eq!(
            s.complete_upload("u1", &object(20), &none()).unwrap(),
            Put::Kept
        );
        assert_eq!(s.completed("u1").unwrap().unwrap().cid, cid(20));
        assert!(s.upload("u1").unwrap().is_none());
        let q = s.unreferenced(10).unwrap();
        assert!(q.contains(&cid(10)) && q.contains(&cid(12)));
        assert_eq!(s.refs(&cid(20)).unwrap(), 1);
        assert!(!s.put_part("u1", 3, &part(13)).unwrap());
        assert!(s.abort_upload("u2").unwrap());
        assert!(!s.abort_upload("u2").unwrap());
        s.delete_object("b", "k").unwrap();
        assert!(s.delete_bucket("b").unwrap());
    }
}
