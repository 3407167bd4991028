//! Objects: reads, conditional writes, copies, deletes and listings.

use super::*;
use redb::{ReadableDatabase as _, ReadableTable as _};

impl Store {
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
