//! Signed transactions.
//!
//! A transaction names its signer, nonce, fee, tip, a mortality window and a runtime call, and
//! is signed (ed25519) over `"crust/tx/v1" ‖ genesis hash ‖ encoding of those fields`: the
//! genesis hash binds it to one chain, the nonce orders it per account, and the mortality
//! window bounds how long it can be replayed if the account's nonce is ever reset.

use crate::hash::Hash;
use crust_primitives::codec;
use crust_primitives::{AccountId, Balance, BlockHeight, Keypair, Signature};
use crust_runtime::Call;
use crust_runtime::executive::CheckedTransaction;

/// The largest encoded transaction accepted anywhere (mempool, blocks, RPC).
pub const MAX_TX_BYTES: usize = 64 * 1024;
/// The longest mortality window a transaction may ask for, in blocks.
pub const MAX_MORTALITY_BLOCKS: u64 = 4096;

const DOMAIN: &[u8] = b"crust/tx/v1";

/// A transaction is valid in blocks `birth ≤ height < birth + period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mortality {
    /// First height at which the transaction may be included.
    pub birth: BlockHeight,
    /// Number of blocks it stays valid (1..=`MAX_MORTALITY_BLOCKS`).
    pub period: u64,
}
crust_primitives::impl_codec_struct!(Mortality { birth, period });

impl Mortality {
    /// Valid from `height` for `period` blocks.
    pub fn from(height: BlockHeight, period: u64) -> Self {
        Self {
            birth: height,
            period,
        }
    }
}

/// The signed fields of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsignedTransaction {
    /// The account that signs and pays.
    pub signer: AccountId,
    /// The signer's next nonce.
    pub nonce: u64,
    /// Fee offered (at least the runtime's required fee for this size).
    pub fee: Balance,
    /// Tip for priority; goes with the fee.
    pub tip: Balance,
    /// When the transaction may be included.
    pub mortality: Mortality,
    /// What to do.
    pub call: Call,
}
crust_primitives::impl_codec_struct!(UnsignedTransaction {
    signer,
    nonce,
    fee,
    tip,
    mortality,
    call
});

impl UnsignedTransaction {
    /// The exact bytes the signer signs on the chain with `genesis` hash.
    pub fn signing_payload(&self, genesis: &Hash) -> Vec<u8> {
        let mut payload = Vec::with_capacity(DOMAIN.len() + 32 + self.encode_size());
        payload.extend_from_slice(DOMAIN);
        payload.extend_from_slice(&genesis.0);
        payload.extend_from_slice(&codec::encode(self));
        payload
    }

    /// Signs with `keypair` for the chain with `genesis` hash. The signer field is set to the
    /// key pair's account.
    pub fn sign(mut self, keypair: &Keypair, genesis: &Hash) -> Transaction {
        self.signer = keypair.public();
        let signature = keypair.sign(&self.signing_payload(genesis));
        Transaction {
            unsigned: self,
            signature,
        }
    }
}

use crust_primitives::codec::EncodeSize as _;

/// A signed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// The signed fields.
    pub unsigned: UnsignedTransaction,
    /// The signer's signature over [`UnsignedTransaction::signing_payload`].
    pub signature: Signature,
}
crust_primitives::impl_codec_struct!(Transaction {
    unsigned,
    signature
});

/// Why a transaction was rejected before it touched any state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// Larger than [`MAX_TX_BYTES`].
    #[error("transaction is {len} bytes; the maximum is {max}")]
    TooLarge {
        /// Encoded length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// The bytes are not a transaction.
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// The signature does not match the signer and payload (wrong key, wrong chain, or altered).
    #[error("bad signature: not signed by {signer} for this chain")]
    BadSignature {
        /// The claimed signer.
        signer: AccountId,
    },
    /// The mortality window has passed.
    #[error("transaction expired at block {expired_at} (now {height}); sign it again")]
    Expired {
        /// First height at which it is no longer valid.
        expired_at: BlockHeight,
        /// Current height.
        height: BlockHeight,
    },
    /// The mortality window has not started.
    #[error("transaction is valid only from block {birth} (now {height})")]
    NotYetValid {
        /// Birth height.
        birth: BlockHeight,
        /// Current height.
        height: BlockHeight,
    },
    /// The mortality window is empty or too long.
    #[error("mortality period {period} must be between 1 and {max} blocks")]
    BadMortality {
        /// Period asked for.
        period: u64,
        /// Maximum.
        max: u64,
    },
}

impl Transaction {
    /// Decodes a transaction from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, TxError> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(TxError::TooLarge {
                len: bytes.len(),
                max: MAX_TX_BYTES,
            });
        }
        codec::decode(bytes).map_err(|e| TxError::Malformed(e.to_string()))
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// The transaction hash: SHA-256 of the encoding.
    pub fn hash(&self) -> Hash {
        Hash::of(&[&self.encode()])
    }

    /// The signer.
    pub fn signer(&self) -> AccountId {
        self.unsigned.signer
    }

    /// The nonce.
    pub fn nonce(&self) -> u64 {
        self.unsigned.nonce
    }

    /// Checks the signature against the chain with `genesis` hash.
    pub fn verify_signature(&self, genesis: &Hash) -> Result<(), TxError> {
        let payload = self.unsigned.signing_payload(genesis);
        if self.unsigned.signer.verify(&payload, &self.signature) {
            Ok(())
        } else {
            Err(TxError::BadSignature {
                signer: self.unsigned.signer,
            })
        }
    }

    /// [`Self::verify_signature`], with signers' decompressed keys remembered in `keys`.
    pub fn verify_signature_cached(
        &self,
        genesis: &Hash,
        keys: &mut crust_primitives::account::KeyCache,
    ) -> Result<(), TxError> {
        let payload = self.unsigned.signing_payload(genesis);
        if keys.verify(&self.unsigned.signer, &payload, &self.signature) {
            Ok(())
        } else {
            Err(TxError::BadSignature {
                signer: self.unsigned.signer,
            })
        }
    }

    /// Checks that the transaction may be included at `height`.
    pub fn check_mortality(&self, height: BlockHeight) -> Result<(), TxError> {
        let Mortality { birth, period } = self.unsigned.mortality;
        if period == 0 || period > MAX_MORTALITY_BLOCKS {
            return Err(TxError::BadMortality {
                period,
                max: MAX_MORTALITY_BLOCKS,
            });
        }
        if height < birth {
            return Err(TxError::NotYetValid { birth, height });
        }
        let expired_at = birth.saturating_add(period);
        if height >= expired_at {
            return Err(TxError::Expired { expired_at, height });
        }
        Ok(())
    }

    /// The runtime's view of this transaction (after the signature check).
    pub fn checked(&self) -> CheckedTransaction {
        CheckedTransaction {
            signer: self.unsigned.signer,
            nonce: self.unsigned.nonce,
            fee: self.unsigned.fee,
            tip: self.unsigned.tip,
            call: self.unsigned.call.clone(),
            encoded_len: self.encode_size(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crust_runtime::balances::BalancesCall;

    fn sample(keypair: &Keypair, genesis: &Hash) -> Transaction {
        UnsignedTransaction {
            signer: AccountId::default(),
            nonce: 3,
            fee: 1_000,
            tip: 5,
            mortality: Mortality::from(10, 64),
            call: Call::Balances(BalancesCall::Transfer {
                dest: AccountId([9; 32]),
                amount: 42,
            }),
        }
        .sign(keypair, genesis)
    }

    #[test]
    fn signature_binds_signer_fields_and_chain() {
        let alice = Keypair::from_suri("//Alice").unwrap();
        let genesis = Hash::of(&[b"genesis"]);
        let tx = sample(&alice, &genesis);
        assert_eq!(tx.signer(), alice.public());
        tx.verify_signature(&genesis).unwrap();
        assert_eq!(
            tx.verify_signature(&Hash::of(&[b"other chain"])),
            Err(TxError::BadSignature {
                signer: alice.public()
            })
        );
        let mut altered = tx.clone();
        altered.unsigned.tip = 6;
        assert!(altered.verify_signature(&genesis).is_err());
        let mut stolen = tx;
        stolen.unsigned.signer = Keypair::from_suri("//Bob").unwrap().public();
        assert!(stolen.verify_signature(&genesis).is_err());
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let alice = Keypair::from_suri("//Alice").unwrap();
        let tx = sample(&alice, &Hash::default());
        let bytes = tx.encode();
        assert_eq!(Transaction::decode(&bytes), Ok(tx.clone()));
        assert!(matches!(
            Transaction::decode(&bytes[..bytes.len() - 1]),
            Err(TxError::Malformed(_))
        ));
        assert!(matches!(
            Transaction::decode(&vec![0; MAX_TX_BYTES + 1]),
            Err(TxError::TooLarge { .. })
        ));
        assert_eq!(tx.hash(), Hash::of(&[&bytes]));
    }

    #[test]
    fn mortality_window() {
        let alice = Keypair::from_suri("//Alice").unwrap();
        let tx = sample(&alice, &Hash::default()); // valid 10..74
        assert_eq!(
            tx.check_mortality(9),
            Err(TxError::NotYetValid {
                birth: 10,
                height: 9
            })
        );
        tx.check_mortality(10).unwrap();
        tx.check_mortality(73).unwrap();
        assert_eq!(
            tx.check_mortality(74),
            Err(TxError::Expired {
                expired_at: 74,
                height: 74
            })
        );
        let mut forever = tx;
        forever.unsigned.mortality.period = MAX_MORTALITY_BLOCKS + 1;
        assert!(matches!(
            forever.check_mortality(10),
            Err(TxError::BadMortality { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = Transaction::decode(&bytes);
        }
    }
}
