//! The service's records in an embedded, crash-safe database (redb): access tokens (only their
//! SHA-256 is kept), pin requests, and an index of each account's requests by creation time
//! for listings. Every change is one transaction: a crash leaves the old state or the new.

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
        for t in [TOKENS, PINS, BY_ACCOUNT] {
            tx.open_table(t).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(Self { db: database })
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
    pub fn put_pin(&self, record: &PinRecord, old: Option<&PinRecord>) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        {
            let mut pins = tx.open_table(PINS).map_err(db)?;
            let mut index = tx.open_table(BY_ACCOUNT).map_err(db)?;
            if let Some(old) = old {
                pins.remove(old.requestid.as_bytes()).map_err(db)?;
                index
                    .remove(by_account_key(&old.account, old.created_ms, &old.requestid).as_slice())
                    .map_err(db)?;
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
        }
        tx.commit().map_err(db)
    }

    /// Updates a stored request's status and info (nothing if it was removed meanwhile).
    pub fn update_pin(&self, record: &PinRecord) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(db)?;
        {
            let mut pins = tx.open_table(PINS).map_err(db)?;
            let exists = pins.get(record.requestid.as_bytes()).map_err(db)?.is_some();
            if exists {
                pins.insert(record.requestid.as_bytes(), encode(record)?.as_slice())
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
            existed = pins
                .remove(record.requestid.as_bytes())
                .map_err(db)?
                .is_some();
            index
                .remove(
                    by_account_key(&record.account, record.created_ms, &record.requestid)
                        .as_slice(),
                )
                .map_err(db)?;
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

    /// Every request in a state, oldest first (for the processor that moves them on).
    pub fn in_states(&self, states: &[Status]) -> Result<Vec<PinRecord>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = tx.open_table(PINS).map_err(db)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(db)? {
            let (_, v) = entry.map_err(db)?;
            let record: PinRecord = decode(v.value())?;
            if states.contains(&record.status) {
                out.push(record);
            }
        }
        out.sort_by_key(|r| r.created_ms);
        Ok(out)
    }
}
