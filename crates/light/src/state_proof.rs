//! Proofs that a key has a value (or none) in the state under a committed root: the QMDB
//! proofs the node's state database makes, checked here with nothing but the root.

use crate::hash::Hash;
use commonware_codec::{DecodeExt as _, RangeCfg, Read as _};
use commonware_cryptography::{Sha256, sha256::Digest};
use commonware_storage::mmr;
use commonware_storage::qmdb::any::value::VariableEncoding;
use commonware_storage::qmdb::current::ordered::proof::constant::{ExclusionProof, KeyValueProof};

type Family = mmr::Family;
/// The state database's chunk size (bits of activity per merkle leaf chunk).
pub const CHUNK: usize = 32;
/// Longest state key accepted (QMDB checks lengths only when reading, so writes are checked here).
pub const MAX_KEY_LEN: usize = 256;
/// Longest state value accepted.
pub const MAX_VALUE_LEN: usize = 1 << 20;
/// Most digests a proof may carry when decoded.
pub const MAX_PROOF_DIGESTS: usize = 256;

type Key = Vec<u8>;
type Value = Vec<u8>;
type ValueProof = KeyValueProof<Family, Key, Digest, CHUNK>;
type AbsenceProof = ExclusionProof<Family, Key, VariableEncoding<Value>, Digest, CHUNK>;

fn hash_to_digest(h: &Hash) -> Option<Digest> {
    Digest::decode(commonware_codec::Copying(h.0.as_slice())).ok()
}

/// A proof that `key` has `value` (or none) in the state with some root. In JSON every field
/// is hex (`value` is `null` for a proof of absence).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StateProof {
    /// The key.
    #[serde(with = "crate::hex")]
    pub key: Vec<u8>,
    /// Its value, or `None` for a proof of absence.
    #[serde(with = "crate::hex::opt")]
    pub value: Option<Vec<u8>>,
    /// The encoded QMDB proof.
    #[serde(with = "crate::hex")]
    pub proof: Vec<u8>,
}

impl StateProof {
    /// Checks the proof against `root` with nothing but the root (stateless, for light clients).
    pub fn verify(&self, root: &Hash) -> bool {
        let Some(root) = hash_to_digest(root) else {
            return false;
        };
        let key_cfg: (RangeCfg<usize>, ()) = ((0..=MAX_KEY_LEN).into(), ());
        let mut buf = commonware_codec::Copying(self.proof.as_slice());
        match &self.value {
            Some(value) => {
                let Ok(proof) = ValueProof::read_cfg(&mut buf, &(MAX_PROOF_DIGESTS, key_cfg))
                else {
                    return false;
                };
                buf.0.is_empty()
                    && proof.verify::<Sha256, VariableEncoding<Value>>(
                        self.key.clone(),
                        value.clone(),
                        &root,
                    )
            }
            None => {
                let value_cfg: (RangeCfg<usize>, ()) = ((0..=MAX_VALUE_LEN).into(), ());
                let cfg = (MAX_PROOF_DIGESTS, (key_cfg, value_cfg), value_cfg);
                let Ok(proof) = AbsenceProof::read_cfg(&mut buf, &cfg) else {
                    return false;
                };
                buf.0.is_empty() && proof.verify::<Sha256>(&self.key, &root)
            }
        }
    }
}
