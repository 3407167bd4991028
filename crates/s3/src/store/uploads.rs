//! Multipart uploads and their parts.

use super::*;
use redb::{ReadableDatabase as _, ReadableTable as _};

impl Store {
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
}

/// Removes an upload, its index entry and its parts (their references dropped).
pub(super) fn remove_upload(
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
