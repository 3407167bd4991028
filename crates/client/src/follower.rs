//! The certificate-checking follower: what it trusts is the chain's signature namespace and, per
//! era, the committee whose finalization certificates it accepts. Each next era's committee is
//! learned from a state proof under a header certified by the current era's committee, so
//! after the first committee (taken from the node on first use, with a note) the node is not
//! trusted for what is final. A committee for any other era is refused unless the operator
//! allows taking it on the node's word ([`Trust::allow_unproven`]).

use crate::api;
use crate::client::{Client, ClientError, Outcome, Transport};
use crust_light::Hash;
use crust_primitives::AccountId;
use std::collections::BTreeMap;

/// What a follower trusts (kept on disk by the storage worker between runs).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Trust {
    /// `crust/consensus/<chain id>`.
    namespace: String,
    /// Committee session keys (0x-hex) by era.
    committees: BTreeMap<u64, Vec<String>>,
    /// Eras whose committee was taken on the node's word (first use, or by the operator's leave).
    #[serde(default)]
    pub trusted_on_first_use: Vec<u64>,
    /// Take an unknown era's committee from the node (a follower offline across a whole era
    /// change cannot learn it by proof); off unless the operator says so.
    #[serde(skip)]
    pub allow_unproven: bool,
}

/// A block whose finality was checked.
#[derive(Clone, Debug)]
pub struct Certified {
    /// Its height.
    pub height: u64,
    /// Its hash.
    pub hash: Hash,
    /// The era whose committee signed the certificate (the block's era, or the next one for an
    /// era's last block re-proposed at the boundary).
    pub era: u64,
}

/// Most eras of committees a trust remembers.
const TRUST_ERAS: usize = 8;

impl Trust {
    fn committee(&self, era: u64) -> Option<Vec<AccountId>> {
        self.committees.get(&era).map(|keys| {
            keys.iter()
                .filter_map(|k| k.parse::<AccountId>().ok())
                .collect()
        })
    }

    fn remember(&mut self, era: u64, members: &[AccountId]) {
        self.committees.insert(
            era,
            members
                .iter()
                .map(|m| crust_light::hex::encode(m.as_bytes()))
                .collect(),
        );
        while self.committees.len() > TRUST_ERAS {
            self.committees.pop_first();
        }
    }
}

/// How far below a certified block a proven outcome's block may be (headers walked back).
pub const MAX_LINK_BACK: u64 = 256;

impl<T: Transport> Client<T> {
    /// What became of transaction `tx`, proven: its receipt's Merkle path to the receipts root
    /// of the block that holds it, that block linked by parent hashes to a block whose
    /// finality certificate checks out against `trust`. The node is trusted for nothing;
    /// `Ok(None)` means it says the transaction is not finalized (yet).
    pub async fn proven_outcome(
        &self,
        trust: &mut Trust,
        tx: &Hash,
    ) -> Result<Option<Outcome>, ClientError> {
        let status = self
            .request::<api::AuthorTxStatus>(api::TxHashParams {
                hash: *tx,
                prove: true,
            })
            .await?;
        let api::TxStatus::Finalized {
            height,
            success,
            error,
            paid,
            proof,
        } = status
        else {
            return Ok(None);
        };
        let proof = proof.ok_or_else(|| {
            ClientError::Invalid(format!("the node sent no receipt proof for {tx}"))
        })?;
        let receipt = proof.receipt(tx, success, error, paid);
        let certified = self.certified(trust, height).await?;
        if certified.height.saturating_sub(height) > MAX_LINK_BACK {
            return Err(ClientError::Invalid(format!(
                "the first certified block above {height} is {}, more than {MAX_LINK_BACK} blocks up",
                certified.height
            )));
        }
        // Walk the headers down from the certified block to the transaction's block.
        let mut expect = certified.hash;
        let mut holder = None;
        for h in (height..=certified.height).rev() {
            let header = self
                .request::<api::ChainBlock>(api::BlockParams {
                    height: h,
                    bodies: Some(false),
                    receipts: Some(false),
                })
                .await?
                .header();
            if header.hash() != expect || header.height != h {
                return Err(ClientError::Invalid(format!(
                    "block {h} does not link to the certified block {}",
                    certified.height
                )));
            }
            expect = header.parent;
            holder = Some(header);
        }
        let receipts_root = holder.map(|h| h.receipts_root).unwrap_or_default();
        if !proof.verify(&receipt, &receipts_root) {
            return Err(ClientError::Invalid(format!(
                "the receipt of {tx} is not under block {height}'s receipts root"
            )));
        }
        Ok(Some(if receipt.success {
            Outcome::Succeeded(height)
        } else {
            Outcome::Failed(
                height,
                receipt.error.unwrap_or_else(|| "unknown error".into()),
            )
        }))
    }

    /// The first block at or above `height` with a finalization certificate, checked against
    /// the signing era's committee in `trust`.
    pub async fn certified(
        &self,
        trust: &mut Trust,
        height: u64,
    ) -> Result<Certified, ClientError> {
        if trust.namespace.is_empty() {
            trust.namespace = self
                .request::<api::SystemChain>(api::NoParams {})
                .await?
                .namespace;
        }
        let f = self
            .request::<api::ChainFinality>(api::AtHeight { height })
            .await?;
        if f.height < height {
            return Err(ClientError::Invalid(format!(
                "chain_finality: asked from {height}, got {}",
                f.height
            )));
        }
        let era = f.era;
        let committee = match trust.committee(era) {
            Some(c) => c,
            None if trust.committees.is_empty() || trust.allow_unproven => {
                // Nothing certified this era's committee for us: take the node's word, once
                // (first use) or because the operator allowed it.
                let answer = self
                    .request::<api::StakingCommittee>(api::EraParams {
                        era: Some(era),
                        prove: false,
                    })
                    .await?;
                let members: Vec<AccountId> = answer
                    .committee
                    .members
                    .ok_or_else(|| {
                        ClientError::Invalid(format!("no committee is known for era {era}"))
                    })?
                    .iter()
                    .map(|m| m.session_key)
                    .collect();
                self.note(&format!(
                    "chain: WARNING trusting the node's committee for era {era} ({} members) without proof",
                    members.len()
                ));
                trust.remember(era, &members);
                trust.trusted_on_first_use.push(era);
                members
            }
            None => {
                let known: Vec<u64> = trust.committees.keys().copied().collect();
                return Err(ClientError::Invalid(format!(
                    "block {} is certified by era {era}, whose committee this follower has not \
                     learned (known eras {known:?}); if it was offline across an era change, \
                     restart it with --trust-node-committee to take the node's word for it",
                    f.height
                )));
            }
        };
        crust_light::finality::verify(
            trust.namespace.as_bytes(),
            &committee,
            era,
            &f.hash,
            &f.certificate,
        )
        .map_err(|e| {
            ClientError::Invalid(format!(
                "block {}: finality certificate refused: {e}",
                f.height
            ))
        })?;
        Ok(Certified {
            height: f.height,
            hash: f.hash,
            era,
        })
    }

    /// Learns (or refreshes) the committee of the era after `era` from a state proof under a
    /// header this follower certifies with `era`'s committee. The proof comes first and its
    /// height is then certified and linked by hashes, so a moving head does not matter; a
    /// proof from a later era is skipped (its certificate needs the committee being learned).
    pub async fn learn_next_committee(
        &self,
        trust: &mut Trust,
        era: u64,
    ) -> Result<(), ClientError> {
        let next = era + 1;
        let answer = self
            .request::<api::StakingCommittee>(api::EraParams {
                era: Some(next),
                prove: true,
            })
            .await?;
        if answer.committee.members.is_none() {
            return Ok(()); // not elected yet: nothing to learn on this pass
        }
        let proof = answer
            .proof
            .ok_or_else(|| ClientError::Invalid("staking_committee: no proof".into()))?;
        let at = proof.height;
        let header = self.block(at).await?.header;
        if header.state_root != proof.state_root || header.era != era {
            return Ok(()); // another era already, or the proof is not under that header
        }
        let certified = self.certified(trust, at).await?;
        // Link the proof's block to the certified one.
        let mut hash = header.hash();
        for h in at + 1..=certified.height {
            let b = self.block(h).await?;
            if b.header.parent != hash || b.header.height != h {
                return Err(ClientError::Invalid(format!(
                    "block {h} does not extend block {}",
                    h - 1
                )));
            }
            hash = b.hash;
        }
        if hash != certified.hash {
            return Err(ClientError::Invalid(format!(
                "block {} is not the certified block",
                certified.height
            )));
        }
        let invalid = |e: String| ClientError::Invalid(format!("committee of era {next}: {e}"));
        let state = proof
            .verify(&header.state_root)
            .map_err(|e| invalid(e.to_string()))?;
        let members = state
            .run(|s| crust_runtime::staking::committee(s, next))
            .map_err(|e| invalid(e.to_string()))?
            .map_err(|e| invalid(e.to_string()))?;
        if let Some(members) = members {
            let keys: Vec<AccountId> = members.iter().map(|m| m.session_key).collect();
            trust.remember(next, &keys);
        }
        Ok(())
    }
}
