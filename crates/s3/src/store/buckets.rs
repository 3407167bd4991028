//! Access keys and buckets.

use super::uploads::remove_upload;
use super::*;
use redb::{ReadableDatabase as _, ReadableTable as _};

impl Store {
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
}
