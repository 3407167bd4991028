//! Storage orders of objects' content, and content nothing holds any more.

use super::*;
use redb::{ReadableDatabase as _, ReadableTable as _};

impl Store {
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
}
