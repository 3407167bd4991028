//! Committee handoffs: for each era, its committee proven under the state root of a block of
//! the era before (era 0: under the genesis state root). A node records one as it finalizes
//! the block where the committee is first elected (again if a forced election changes it), so
//! a light client can walk from the genesis hash to today's committee without trusting any
//! node — each era's proof sits under a block the previous era's committee certified
//! (`staking_handoffs`, [`crust_client::verify::Anchor`]).
//!
//! Proofs of older states cannot be made later (the state database proves its current root
//! only), so they are kept as they are made: one small blob per era (the committee
//! record and its QMDB proof) under the partition `<prefix>-handoffs`. Nothing is kept in
//! memory beyond the session keys of the last few eras recorded.

use crate::store::StoreError;
use commonware_runtime::{Blob as _, ReadOptions, WriteOptions};
use crust_light::proof::QueryProof;
use crust_primitives::AccountId;
use std::collections::{BTreeMap, BTreeSet};

/// Longest stored handoff accepted when reading back (a committee of 100 with its proof is
/// far below).
const MAX_RECORD_BYTES: u64 = 1 << 20;
/// Eras whose recorded session keys are remembered in memory (to skip re-reading blobs).
const KNOWN_ERAS: usize = 4;

/// One era's recorded handoff.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    /// The era whose committee this proves.
    pub era: u64,
    /// The committee's session keys (to notice a changed committee without decoding proofs).
    pub session_keys: Vec<AccountId>,
    /// The committee query's proof, under the state root at `proof.height`.
    pub proof: QueryProof,
}

/// The per-era handoff records of one node.
pub struct Handoffs<E: commonware_runtime::Storage> {
    ctx: E,
    partition: String,
    known: BTreeMap<u64, Vec<AccountId>>,
    /// Eras with a record (listed from disk on first use), so a lookup never creates a blob.
    eras: Option<BTreeSet<u64>>,
}

fn db(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(format!("committee handoffs: {e}"))
}

impl<E: commonware_runtime::Storage> Handoffs<E> {
    /// The records under `<prefix>-handoffs`.
    pub fn new(ctx: E, prefix: &str) -> Self {
        Self {
            ctx,
            partition: format!("{prefix}-handoffs"),
            known: BTreeMap::new(),
            eras: None,
        }
    }

    /// The session keys recorded for `era`, if this run already knows them.
    pub fn known(&self, era: u64) -> Option<&Vec<AccountId>> {
        self.known.get(&era)
    }

    /// Notes that `era`'s recorded committee has these session keys.
    pub fn remember(&mut self, era: u64, keys: Vec<AccountId>) {
        self.known.insert(era, keys);
        while self.known.len() > KNOWN_ERAS {
            self.known.pop_first();
        }
    }

    /// The record of `era`, if one was kept (a torn or foreign blob reads as none).
    pub async fn get(&mut self, era: u64) -> Result<Option<Recorded>, StoreError> {
        if !self.eras().await?.contains(&era) {
            return Ok(None);
        }
        let (blob, len) = self
            .ctx
            .open(&self.partition, &era.to_be_bytes())
            .await
            .map_err(db)?;
        if len == 0 || len > MAX_RECORD_BYTES {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(db)?;
        let bytes = blob
            .read_at(0, len, ReadOptions::default())
            .await
            .map_err(db)?
            .coalesce();
        Ok(serde_json::from_slice::<Recorded>(bytes.as_ref())
            .ok()
            .filter(|r| r.era == era))
    }

    /// Writes (or replaces) `era`'s record durably.
    pub async fn put(&mut self, record: &Recorded) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record).map_err(db)?;
        let (blob, _) = self
            .ctx
            .open(&self.partition, &record.era.to_be_bytes())
            .await
            .map_err(db)?;
        let len = bytes.len() as u64;
        blob.write_at(0, bytes, WriteOptions::default())
            .await
            .map_err(db)?;
        blob.resize(len).await.map_err(db)?;
        blob.sync().await.map_err(db)?;
        self.remember(record.era, record.session_keys.clone());
        self.eras().await?.insert(record.era);
        Ok(())
    }

    /// The eras with a record.
    async fn eras(&mut self) -> Result<&mut BTreeSet<u64>, StoreError> {
        if self.eras.is_none() {
            let names = match self.ctx.scan(&self.partition).await {
                Ok(names) => names,
                Err(commonware_runtime::Error::PartitionMissing(_)) => Vec::new(),
                Err(e) => return Err(db(e)),
            };
            self.eras = Some(
                names
                    .iter()
                    .filter_map(|n| <[u8; 8]>::try_from(n.as_slice()).ok())
                    .map(u64::from_be_bytes)
                    .collect(),
            );
        }
        Ok(self.eras.get_or_insert_default())
    }
}
