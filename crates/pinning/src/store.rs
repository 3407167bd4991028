//! The service's records in an embedded, crash-safe database (redb): access tokens (only their
//! SHA-256 is kept), pin requests, an index of each account's requests by creation time for
//! listings, an index by status for the processor, and each account's count of requests (its
//! cap is checked in the transaction that adds one). Every change is one transaction: a crash
//! leaves the old state or the new. A database from before the status index and the counts
//! gets both built when it is opened.

use crate::model::{Pin, PinStatus, Status};
use crust_primitives::AccountId;
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// Token hash → token record (JSON).
const TOKENS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tokens");
/// Request id → pin record (JSON).
const PINS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pins");
/// Account ‖ created (ms, big-endian) ‖ request id → nothing: each account's requests in
/// creation order.
const BY_ACCOUNT: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pins_by_account");
/// Status ‖ created (ms, big-endian) ‖ request id → nothing: requests by status, oldest first.
const BY_STATUS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pins_by_status");
/// Account → how many requests it has (u64, big-endian).
const COUNTS: TableDefinition<&[u8], u64> = TableDefinition::new("pins_per_account");
/// "schema" → the layout version ([`SCHEMA`]).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The layout with the status index and the per-account counts.
const SCHEMA: u64 = 2;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (disk, corruption).
    #[error("pinning database: {0}")]
    Db(String),
    /// A record did not decode.
    #[error("pinning database record: {0}")]
    Record(String),
}

fn db<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Db(e.to_string())
}

/// An access token's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The account whose orders it places and whose pins it sees.
    pub account: AccountId,
    /// A name for the device or app holding it (unique per account).
    pub label: String,
    /// When it was made (ms since the UNIX epoch).
    pub created_ms: u64,
    /// When it stops working (ms since the UNIX epoch).
    pub expires_ms: u64,
}

/// A pin request as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinRecord {
    /// Its id.
    pub requestid: String,
    /// Whose it is.
    pub account: AccountId,
    /// When it was accepted (ms since the UNIX epoch).
    pub created_ms: u64,
    /// What was asked.
    pub pin: Pin,
    /// Where it is.
    pub status: Status,
    /// Details shown to the client.
    #[serde(default)]
    pub info: BTreeMap<String, String>,
    /// Storage nodes holding replicas (the service's own delegates until there are some).
    #[serde(default)]
    pub delegates: Vec<String>,
}

impl PinRecord {
    /// The record as the API answers it, with `delegates` to connect to.
    pub fn to_status(&self, delegates: &[String]) -> PinStatus {
        PinStatus {
            requestid: self.requestid.clone(),
            status: self.status,
            created: crate::time::rfc3339_ms(self.created_ms),
            pin: self.pin.clone(),
            delegates: if self.delegates.is_empty() {
                delegates.to_vec()
            } else {
                self.delegates.clone()
            },
            info: self.info.clone(),
        }
    }
}

/// The SHA-256 of a token: what is stored and looked up.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn by_account_key(account: &AccountId, created_ms: u64, requestid: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(40 + requestid.len());
    k.extend_from_slice(account.as_bytes());
    k.extend_from_slice(&created_ms.to_be_bytes());
    k.extend_from_slice(requestid.as_bytes());
    k
}

fn status_byte(status: Status) -> u8 {
    match status {
        Status::Queued => 0,
        Status::Pinning => 1,
        Status::Pinned => 2,
        Status::Failed => 3,
    }
}

fn by_status_key(status: Status, created_ms: u64, requestid: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + requestid.len());
    k.push(status_byte(status));
    k.extend_from_slice(&created_ms.to_be_bytes());
    k.extend_from_slice(requestid.as_bytes());
    k
}

/// Adds `delta` to `account`'s count of requests.
fn count(
    counts: &mut redb::Table<&[u8], u64>,
    account: &AccountId,
    delta: i64,
) -> Result<(), StoreError> {
    let now = counts
        .get(account.as_bytes().as_slice())
        .map_err(db)?
        .map_or(0, |v| v.value());
    let next = now.saturating_add_signed(delta);
    if next == 0 {
        counts.remove(account.as_bytes().as_slice()).map_err(db)?;
    } else {
        counts
            .insert(account.as_bytes().as_slice(), next)
            .map_err(db)?;
    }
    Ok(())
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Record(e.to_string()))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Record(e.to_string()))
}

/// The database.
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let database = Database::create(path).map_err(db)?;
        // Create the tables, so reads of an empty store find them.
        let tx = database.begin_write().map_err(db)?;
        for t in [TOKENS, PINS, BY_ACCOUNT, BY_STATUS] {
            tx.open_table(t).map_err(db)?;
        }
        tx.open_table(COUNTS).map_err(db)?;
        {
            let mut meta = tx.open_table(META).map_err(db)?;
            let schema = meta.get("schema").map_err(db)?.map_or(1, |v| v.value());
            if schema < SCHEMA {
                // Built from the requests themselves, in the same transaction.
                let pins = tx.open_table(PINS).map_err(db)?;
                let mut by_status = tx.open_table(BY_STATUS).map_err(db)?;
                let mut counts = tx.open_table(COUNTS).map_err(db)?;
                for entry in pins.iter().map_err(db)? {
                    let (_, v) = entry.map_err(db)?;
                    let r: PinRecord = decode(v.value())?;
                    by_status
                        .insert(
                            by_status_key(r.status, r.created_ms, &r.requestid).as_slice(),
                            [].as_slice(),
                        )
                        .map_err(db)?;
                    count(&mut counts, &r.account, 1)?;
                }
                meta.insert("schema", SCHEMA).map_err(db)?;
            }
        }
        tx.commit().map_err(db)?;
        Ok(Self { db: database })
    }

    /// How many requests `account` has.
    pub fn pin_count(&self, account: &AccountId) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = tx.open_table(COUNTS).map_err(db)?;
        Ok(t.get(account.as_bytes().as_slice())
            .map_err(db)?
            .map_or(0, |v| v.value()))
    }

    /// Records a token (by its hash); refuses a label the account already uses.
    pub fn add_token(&self, token: &str, record: &TokenRecord) -> Result<bool, StoreError> {
        if self
            .tokens(&record.account)?
            .iter()
            .any(|(_, r)| r.label == record.label)
        {
            return Ok(false);
        }
        let tx = self.db.begin_write().map_err(db)?;
        {
            let mut t = tx.open_table(TOKENS).map_err(db)?;
            t.insert(token_hash(token).as_slice(), encode(record)?.as_slice())
                .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(true)
    }

    /// The record of a token, if it exists (expired or not).
    pub fn token(&self, token: &str) -> Result<Option<TokenRecord>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = tx.open_table(TOKENS).map_err(db)?;
        match t.get(token_hash(token).as_slice()).map_err(db)? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// An account's tokens with their hashes.
    pub fn tokens(&self, account: &AccountId) -> Result<Vec<([u8; 32], TokenRecord)>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = tx.open_table(TOKENS).map_err(db)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            let record: TokenRecord = decode(v.value())?;
            if record.account == *account {
                let mut hash = [0u8; 32];
                if k.value().len() == 32 {
                    hash.copy_from_slice(k.value());
                }
                out.push((hash, record));
            }
        }
        out.sort_by_key(|(_, r)| r.created_ms);
        Ok(out)
    }

    /// Revokes an account's token by label; whether there was one.
    pub fn revoke_token(&self, account: &AccountId, label: &str) -> Result<bool, StoreError> {
        let found = self
            .tokens(account)?
            .into_iter()
            .find(|(_, r)| r.label == label);
        let Some((hash, _)) = found else {
            return Ok(false);
        };
        let tx = self.db.begin_write().map_err(db)?;
        {
            let mut t = tx.open_table(TOKENS).map_err(db)?;
            t.remove(hash.as_slice()).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(true)
    }

    /// Stores a new pin request (and, replacing `old`, removes it in the same transaction).
    /// A request that is not a replacement is refused (false) when its account already has
    /// `cap` requests; the check and the write are one transaction, so concurrent requests
    /// cannot pass the cap together.
    pub fn put_pin(
        &self,
        record: &PinRecord,
        old: Option<&PinRecord>,
        cap: u64,
    ) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        {
            let mut pins = tx.open_table(PINS).map_err(db)?;
            let mut index = tx.open_table(BY_ACCOUNT).map_err(db)?;
            let mut by_status = tx.open_table(BY_STATUS).map_err(db)?;
            let mut counts = tx.open_table(COUNTS).map_err(db)?;
            if let Some(old) = old {
                pins.remove(old.requestid.as_bytes()).map_err(db)?;
                index
                    .remove(by_account_key(&old.account, old.created_ms, &old.requestid).as_slice())
                    .map_err(db)?;
                by_status
                    .remove(by_status_key(old.status, old.created_ms, &old.requestid).as_slice())
                    .map_err(db)?;
                count(&mut counts, &old.account, -1)?;
            }
            let held = counts
                .get(record.account.as_bytes().as_slice())
                .map_err(db)?
                .map_or(0, |v| v.value());
            if old.is_none() && held >= cap {
                return Ok(false);
            }
            pins.insert(record.requestid.as_bytes(), encode(record)?.as_slice())
                .map_err(db)?;
            index
                .insert(
                    by_account_key(&record.account, record.created_ms, &record.requestid)
                        .as_slice(),
                    [].as_slice(),
                )
                .map_err(db)?;
            by_status
                .insert(
                    by_status_key(record.status, record.created_ms, &record.requestid).as_slice(),
                    [].as_slice(),
                )
                .map_err(db)?;
            count(&mut counts, &record.account, 1)?;
        }
        tx.commit().map_err(db)?;
        Ok(true)
    }

    /// Updates a stored request's status and info (nothing if it was removed meanwhile).
    pub fn update_pin(&self, record: &PinRecord) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        {
            let mut pins = tx.open_table(PINS).map_err(db)?;
            let old: Option<PinRecord> = match pins.get(record.requestid.as_bytes()).map_err(db)? {
                Some(v) => Some(decode(v.value())?),
                None => None,
            };
            if let Some(old) = old {
                if old.status != record.status {
                    let mut by_status = tx.open_table(BY_STATUS).map_err(db)?;
                    by_status
                        .remove(
                            by_status_key(old.status, old.created_ms, &old.requestid).as_slice(),
                        )
                        .map_err(db)?;
                    by_status
                        .insert(
                            by_status_key(record.status, old.created_ms, &record.requestid)
                                .as_slice(),
                            [].as_slice(),
                        )
                        .map_err(db)?;
                }
                let kept = PinRecord {
                    created_ms: old.created_ms,
                    account: old.account,
                    ..record.clone()
                };
                pins.insert(record.requestid.as_bytes(), encode(&kept)?.as_slice())
                    .map_err(db)?;
            }
        }
        tx.commit().map_err(db)
    }

    /// A request by id.
    pub fn pin(&self, requestid: &str) -> Result<Option<PinRecord>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = tx.open_table(PINS).map_err(db)?;
        match t.get(requestid.as_bytes()).map_err(db)? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// Removes a request; whether it existed.
    pub fn remove_pin(&self, record: &PinRecord) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        let existed;
        {
            let mut pins = tx.open_table(PINS).map_err(db)?;
            let mut index = tx.open_table(BY_ACCOUNT).map_err(db)?;
            let mut by_status = tx.open_table(BY_STATUS).map_err(db)?;
            let stored: Option<PinRecord> =
                match pins.remove(record.requestid.as_bytes()).map_err(db)? {
                    Some(v) => Some(decode(v.value())?),
                    None => None,
                };
            existed = stored.is_some();
            index
                .remove(
                    by_account_key(&record.account, record.created_ms, &record.requestid)
                        .as_slice(),
                )
                .map_err(db)?;
            if let Some(stored) = stored {
                by_status
                    .remove(
                        by_status_key(stored.status, stored.created_ms, &stored.requestid)
                            .as_slice(),
                    )
                    .map_err(db)?;
                let mut counts = tx.open_table(COUNTS).map_err(db)?;
                count(&mut counts, &stored.account, -1)?;
            }
        }
        tx.commit().map_err(db)?;
        Ok(existed)
    }

    /// Every request of `account`, newest first, passed through `keep`; returns how many were
    /// kept in all and the first `limit` of them.
    pub fn list(
        &self,
        account: &AccountId,
        limit: usize,
        mut keep: impl FnMut(&PinRecord) -> bool,
    ) -> Result<(usize, Vec<PinRecord>), StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let index = tx.open_table(BY_ACCOUNT).map_err(db)?;
        let pins = tx.open_table(PINS).map_err(db)?;
        let start = account.as_bytes().to_vec();
        let mut end = start.clone();
        end.push(0xff);
        let mut count = 0;
        let mut page = Vec::new();
        for entry in index
            .range(start.as_slice()..end.as_slice())
            .map_err(db)?
            .rev()
        {
            let (k, _) = entry.map_err(db)?;
            let Some(id) = k.value().get(40..) else {
                continue;
            };
            let Some(v) = pins.get(id).map_err(db)? else {
                continue;
            };
            let record: PinRecord = decode(v.value())?;
            if keep(&record) {
                count += 1;
                if page.len() < limit {
                    page.push(record);
                }
            }
        }
        Ok((count, page))
    }

    /// Every request in a state, oldest first (for the processor that moves them on), read
    /// through the status index: requests in other states cost nothing.
    pub fn in_states(&self, states: &[Status]) -> Result<Vec<PinRecord>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let index = tx.open_table(BY_STATUS).map_err(db)?;
        let pins = tx.open_table(PINS).map_err(db)?;
        let mut out = Vec::new();
        for status in states {
            let b = status_byte(*status);
            for entry in index
                .range([b].as_slice()..[b + 1].as_slice())
                .map_err(db)?
            {
                let (k, _) = entry.map_err(db)?;
                let Some(id) = k.value().get(9..) else {
                    continue;
                };
                if let Some(v) = pins.get(id).map_err(db)? {
                    out.push(decode::<PinRecord>(v.value())?);
                }
            }
        }
        out.sort_by_key(|r| r.created_ms);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::Pin;

    fn record(n: u8, account: AccountId, status: Status) -> PinRecord {
        PinRecord {
            requestid: format!("req{n:03}"),
            account,
            created_ms: 1_000 + u64::from(n),
            pin: Pin {
                cid: format!("cid{n}"),
                name: None,
                origins: Vec::new(),
                meta: BTreeMap::new(),
            },
            status,
            info: BTreeMap::new(),
            delegates: Vec::new(),
        }
    }

    fn ids(records: &[PinRecord]) -> Vec<&str> {
        records.iter().map(|r| r.requestid.as_str()).collect()
    }

    #[test]
    fn the_status_index_follows_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.redb")).unwrap();
        let a = AccountId([1; 32]);
        for n in 0..4 {
            assert!(
                store
                    .put_pin(&record(n, a, Status::Queued), None, 10)
                    .unwrap()
            );
        }
        let mut moved = record(1, a, Status::Pinning);
        moved.info.insert("order".into(), "placed".into());
        store.update_pin(&moved).unwrap();
        store.update_pin(&record(3, a, Status::Failed)).unwrap();
        assert_eq!(
            ids(&store.in_states(&[Status::Queued]).unwrap()),
            ["req000", "req002"]
        );
        assert_eq!(
            ids(&store.in_states(&[Status::Failed, Status::Pinning]).unwrap()),
            ["req001", "req003"],
            "oldest first across states"
        );
        assert_eq!(
            store.in_states(&[Status::Pinning]).unwrap()[0].info["order"],
            "placed"
        );
        // Replaced and removed requests leave the index.
        let old = record(0, a, Status::Queued);
        assert!(
            store
                .put_pin(&record(9, a, Status::Queued), Some(&old), 10)
                .unwrap()
        );
        assert!(store.remove_pin(&record(2, a, Status::Queued)).unwrap());
        assert_eq!(
            ids(&store.in_states(&[Status::Queued]).unwrap()),
            ["req009"]
        );
        assert_eq!(store.pin_count(&a).unwrap(), 3);
        // An update of a removed request writes nothing back.
        store.update_pin(&record(2, a, Status::Pinned)).unwrap();
        assert!(store.in_states(&[Status::Pinned]).unwrap().is_empty());
        assert_eq!(store.pin_count(&a).unwrap(), 3);
    }

    /// A database written before the status index and the counts existed gets both when it
    /// is opened, and keeps every request.
    #[test]
    fn an_older_database_is_indexed_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.redb");
        let (a, b) = (AccountId([1; 32]), AccountId([2; 32]));
        let old = [
            record(0, a, Status::Pinned),
            record(1, b, Status::Queued),
            record(2, a, Status::Queued),
        ];
        {
            // The layout of schema 1: tokens, pins and the per-account index only.
            let database = Database::create(&path).unwrap();
            let tx = database.begin_write().unwrap();
            {
                tx.open_table(TOKENS).unwrap();
                let mut pins = tx.open_table(PINS).unwrap();
                let mut index = tx.open_table(BY_ACCOUNT).unwrap();
                for r in &old {
                    pins.insert(r.requestid.as_bytes(), encode(r).unwrap().as_slice())
                        .unwrap();
                    index
                        .insert(
                            by_account_key(&r.account, r.created_ms, &r.requestid).as_slice(),
                            [].as_slice(),
                        )
                        .unwrap();
                }
            }
            tx.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            ids(&store.in_states(&[Status::Queued]).unwrap()),
            ["req001", "req002"]
        );
        assert_eq!(
            ids(&store.in_states(&[Status::Pinned]).unwrap()),
            ["req000"]
        );
        assert_eq!(store.pin_count(&a).unwrap(), 2);
        assert_eq!(store.pin_count(&b).unwrap(), 1);
        assert!(
            !store
                .put_pin(&record(5, a, Status::Queued), None, 2)
                .unwrap()
        );
        drop(store);
        // Opening again does not count twice.
        let store = Store::open(&path).unwrap();
        assert_eq!(store.pin_count(&a).unwrap(), 2);
        assert_eq!(store.list(&a, 10, |_| true).unwrap().0, 2);
    }
}
