//! A chain client over any [`Transport`]: typed calls, blocks checked against their headers,
//! transactions priced with the runtime's own fee function, and submission followed until a
//! finalized block applied it.

use crate::api::{self, Method};
use crate::wire::{self, ReplyError};
use crust_light::tx::{Mortality, Transaction, UnsignedTransaction};
use crust_light::{Block, Hash, Header};
use crust_primitives::codec::{self, Decode};
use crust_primitives::{AccountId, Keypair};
use crust_runtime::Call;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How requests reach a node: HTTP in the CLI and the storage worker, `fetch` in a browser.
pub trait Transport {
    /// Posts one JSON-RPC request body and returns the reply body (an `Err` when the node could
    /// not be reached or did not answer).
    fn post(&self, body: String) -> impl Future<Output = Result<String, String>>;
    /// Waits `duration` (between polls of a transaction's status).
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;
}

/// `call` signed by `signer` with `nonce`, mortal from block `head` for [`MORTALITY`] blocks,
/// paying the fee the runtime's fee function asks for its length under `config`. No I/O: the
/// client, the CLI and the console's WebAssembly signer all sign this way.
pub fn sign_call(
    signer: &Keypair,
    call: Call,
    nonce: u64,
    genesis: &Hash,
    head: u64,
    config: &crust_runtime::system::RuntimeConfig,
) -> Transaction {
    let mut unsigned = UnsignedTransaction {
        signer: signer.public(),
        nonce,
        fee: 0,
        tip: 0,
        mortality: Mortality::from(head, MORTALITY),
        call,
    };
    let len = unsigned.clone().sign(signer, genesis).encode().len();
    unsigned.fee = crust_runtime::system::fee_for(config, len.saturating_add(FEE_LENGTH_ALLOWANCE));
    unsigned.sign(signer, genesis)
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached.
    #[error("chain RPC: {0}")]
    Transport(String),
    /// The node answered with an error.
    #[error("{method}: {}", error.message)]
    Rpc {
        /// The method called.
        method: &'static str,
        /// The node's error.
        error: wire::ErrorObject,
    },
    /// The answer is not what the method answers.
    #[error("{method}: unexpected answer: {message}")]
    Decode {
        /// The method called.
        method: &'static str,
        /// What did not fit.
        message: String,
    },
    /// The answer failed a check (a header that does not hash to what it claims, say).
    #[error("{0}")]
    Invalid(String),
    /// A finalized block included the transaction and its call failed (its fee is paid).
    #[error("transaction {hash} failed in block {height}: {reason}")]
    Failed {
        /// The transaction.
        hash: Hash,
        /// The including block.
        height: u64,
        /// The chain's reason.
        reason: String,
    },
    /// The transaction did not land (yet): dropped from the node's pool, or the wait ended.
    #[error("{0}")]
    NotIncluded(String),
}

/// A finalized block whose hash and transactions root were recomputed from what the node sent.
#[derive(Clone, Debug)]
pub struct CheckedBlock {
    /// Its hash.
    pub hash: Hash,
    /// Its header.
    pub header: Header,
    /// Each transaction with its receipt's success flag.
    pub txs: Vec<(Transaction, bool)>,
}

/// A finalized transaction's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The call took effect in this block.
    Succeeded(u64),
    /// The chain refused the call in this block, for this reason (its fee is still paid).
    Failed(u64, String),
}

/// How often a transaction's status is polled.
const POLL: Duration = Duration::from_millis(200);
/// How many `unknown` answers in a row mean the node dropped a transaction (5 s of polls).
const UNKNOWN_LIMIT: u32 = 25;
/// Blocks a transaction stays valid for after the head it was signed at.
pub const MORTALITY: u64 = 256;
/// Bytes added to a transaction's length when pricing it: the fee field's own encoding can grow
/// once the fee is set.
const FEE_LENGTH_ALLOWANCE: usize = 16;
/// How many times [`Client::submit_and_wait`] signs again when another transaction of the same
/// account took its nonce.
const ATTEMPTS: usize = 3;

/// A chain client.
pub struct Client<T> {
    transport: T,
    next_id: AtomicU64,
    notes: Box<dyn Fn(&str) + Send + Sync>,
}

impl<T: Transport> Client<T> {
    /// A client sending its requests through `transport`.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            next_id: AtomicU64::new(1),
            notes: Box::new(|_| {}),
        }
    }

    /// Where notes for people go (a retried nonce, a committee taken on trust); dropped unless
    /// set.
    pub fn with_notes(mut self, notes: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.notes = Box::new(notes);
        self
    }

    pub(crate) fn note(&self, text: &str) {
        (self.notes)(text);
    }

    /// Calls method `M`.
    pub async fn request<M: Method>(&self, params: M::Params) -> Result<M::Output, ClientError> {
        let params = serde_json::to_value(&params).map_err(|e| ClientError::Decode {
            method: M::NAME,
            message: e.to_string(),
        })?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = wire::request(id, M::NAME, &params).to_string();
        let reply = self
            .transport
            .post(body)
            .await
            .map_err(ClientError::Transport)?;
        let result = wire::parse_reply(&reply).map_err(|e| match e {
            ReplyError::Rpc(error) => ClientError::Rpc {
                method: M::NAME,
                error,
            },
            ReplyError::Malformed(message) => ClientError::Decode {
                method: M::NAME,
                message,
            },
        })?;
        serde_json::from_value(result).map_err(|e| ClientError::Decode {
            method: M::NAME,
            message: e.to_string(),
        })
    }

    /// The genesis hash transactions are signed over.
    pub async fn genesis_hash(&self) -> Result<Hash, ClientError> {
        self.request::<api::GenesisHash>(api::NoParams {}).await
    }

    /// The finalized head.
    pub async fn head(&self) -> Result<api::HeadInfo, ClientError> {
        self.request::<api::ChainHead>(api::NoParams {}).await
    }

    /// Finalized block `height` with its transactions and receipts; its hash, transactions
    /// root and receipts root are recomputed, so a node cannot send transactions or outcomes
    /// the header does not commit to.
    pub async fn block(&self, height: u64) -> Result<CheckedBlock, ClientError> {
        let info = self
            .request::<api::ChainBlock>(api::BlockParams {
                height,
                bodies: None,
                receipts: None,
            })
            .await?;
        let header = info.header();
        let hash = header.hash();
        if hash != info.hash {
            return Err(ClientError::Invalid(format!(
                "block {height}: the header does not hash to {}",
                info.hash
            )));
        }
        let bodies = info.bodies.unwrap_or_default();
        let receipts = info.receipts.unwrap_or_default();
        // The receipts say which calls took effect: checked against the header, so a node
        // cannot show a failed call (an unpaid order, say) as a successful one.
        if Block::compute_receipts_root(&receipts) != header.receipts_root {
            return Err(ClientError::Invalid(format!(
                "block {height}: the receipts do not match the header"
            )));
        }
        let mut txs = Vec::with_capacity(bodies.len());
        for (i, body) in bodies.iter().enumerate() {
            let tx = Transaction::decode(&body.0)
                .map_err(|e| ClientError::Invalid(format!("block {height}: {e}")))?;
            let ok = receipts.get(i).is_some_and(|r| r.success);
            txs.push((tx, ok));
        }
        let plain: Vec<Transaction> = txs.iter().map(|(t, _)| t.clone()).collect();
        if Block::compute_tx_root(&plain) != header.tx_root {
            return Err(ClientError::Invalid(format!(
                "block {height}: the transactions do not match the header"
            )));
        }
        Ok(CheckedBlock { hash, header, txs })
    }

    /// The hashes of block `height`'s transactions (not checked against its header).
    pub async fn block_tx_hashes(&self, height: u64) -> Result<Vec<Hash>, ClientError> {
        let info = self
            .request::<api::ChainBlock>(api::BlockParams {
                height,
                bodies: Some(false),
                receipts: Some(false),
            })
            .await?;
        Ok(info.transactions)
    }

    /// `who`'s balance and nonces.
    pub async fn account(&self, who: &AccountId) -> Result<api::AccountInfo, ClientError> {
        self.request::<api::StateAccount>(api::AccountParams {
            account: *who,
            prove: false,
        })
        .await
    }

    /// The committed value under a runtime state key, decoded.
    pub async fn read<V: Decode<Cfg = ()>>(&self, key: &[u8]) -> Result<Option<V>, ClientError> {
        let answer = self
            .request::<api::StateProofOf>(api::KeyParams {
                key: api::HexBytes(key.to_vec()),
            })
            .await?;
        match answer.value {
            None => Ok(None),
            Some(bytes) => codec::decode(&bytes)
                .map(Some)
                .map_err(|e| ClientError::Invalid(format!("state value: {e}"))),
        }
    }

    /// Signs `calls` as `signer` with consecutive nonces from `nonce` (the next one if `None`),
    /// each with the fee the runtime's fee function asks for its length, and queues them in
    /// order; returns the first nonce and the hashes.
    pub async fn submit_calls(
        &self,
        signer: &Keypair,
        calls: Vec<Call>,
        nonce: Option<u64>,
    ) -> Result<(u64, Vec<Hash>), ClientError> {
        let genesis = self.genesis_hash().await?;
        let config: crust_runtime::system::RuntimeConfig = self
            .read(&crust_runtime::system::config_key())
            .await?
            .ok_or_else(|| ClientError::Invalid("the chain has no runtime config".into()))?;
        let head = self.head().await?;
        let first = match nonce {
            Some(nonce) => nonce,
            None => self.account(&signer.public()).await?.next_nonce,
        };
        let mut hashes = Vec::with_capacity(calls.len());
        for (nonce, call) in (first..).zip(calls) {
            let tx = sign_call(signer, call, nonce, &genesis, head.height, &config);
            let hash = self
                .request::<api::AuthorSubmit>(api::SubmitParams {
                    tx: api::HexBytes(tx.encode()),
                })
                .await?;
            hashes.push(hash);
        }
        Ok((first, hashes))
    }

    /// What became of transaction `hash` once a finalized block included it, polling for at
    /// most `timeout`. `Err` means it did not land (yet): worth retrying, unlike a `Failed`
    /// outcome.
    pub async fn outcome(&self, hash: &Hash, timeout: Duration) -> Result<Outcome, ClientError> {
        let polls = timeout.as_millis() / POLL.as_millis();
        let mut unknown = 0;
        for _ in 0..polls.max(1) {
            let status = self
                .request::<api::AuthorTxStatus>(api::TxHashParams {
                    hash: *hash,
                    prove: false,
                })
                .await?;
            match status {
                api::TxStatus::Finalized {
                    height,
                    success,
                    error,
                    ..
                } => {
                    return Ok(if success {
                        Outcome::Succeeded(height)
                    } else {
                        Outcome::Failed(height, error.unwrap_or_else(|| "unknown error".into()))
                    });
                }
                api::TxStatus::Pending => unknown = 0,
                api::TxStatus::Unknown => {
                    unknown += 1;
                    if unknown >= UNKNOWN_LIMIT {
                        return Err(ClientError::NotIncluded(format!(
                            "transaction {hash} left the node's mempool without being included (replaced, evicted or expired)"
                        )));
                    }
                }
            }
            self.transport.sleep(POLL).await;
        }
        Err(ClientError::NotIncluded(format!(
            "transaction {hash} was not included within {} s (it may still be)",
            timeout.as_secs()
        )))
    }

    /// Submits `call` and waits until a finalized block applied it: `(hash, height)` if it
    /// succeeded, [`ClientError::Failed`] with the chain's reason if not.
    ///
    /// The same account may sign elsewhere at the same time (a storage worker's reports while
    /// its operator claims a payout): if another transaction takes this one's nonce, this one
    /// can never be included, so it is signed again with the next nonce (up to 3 attempts).
    pub async fn submit_and_wait(
        &self,
        signer: &Keypair,
        call: Call,
    ) -> Result<(Hash, u64), ClientError> {
        let mut attempt = 1;
        loop {
            let from = self.head().await?.height;
            let (nonce, hashes) = self.submit_calls(signer, vec![call.clone()], None).await?;
            let hash = hashes
                .into_iter()
                .next()
                .ok_or_else(|| ClientError::Invalid("nothing submitted".into()))?;
            let err = match self.outcome(&hash, Duration::from_secs(60)).await {
                Ok(Outcome::Succeeded(height)) => return Ok((hash, height)),
                Ok(Outcome::Failed(height, reason)) => {
                    return Err(ClientError::Failed {
                        hash,
                        height,
                        reason,
                    });
                }
                Err(e) => e,
            };
            if attempt >= ATTEMPTS
                || !self
                    .superseded(&signer.public(), nonce, &hash, from)
                    .await?
            {
                return Err(err);
            }
            attempt += 1;
            self.note(&format!(
                "note: another transaction of {} took nonce {nonce}; signing again with the next one",
                signer.public().to_ss58()
            ));
        }
    }

    /// Whether transaction `hash`, signed by `who` with `nonce` when the head was `from`, can
    /// never be included: the account's committed nonce has moved past it and no block since
    /// `from` holds it (read from the blocks, as a restarted node forgets which it included).
    async fn superseded(
        &self,
        who: &AccountId,
        nonce: u64,
        hash: &Hash,
        from: u64,
    ) -> Result<bool, ClientError> {
        if self.account(who).await?.nonce <= nonce {
            return Ok(false);
        }
        let head = self.head().await?.height;
        for height in from..=head {
            // A block it cannot read might hold it: not sure, so not superseded.
            let Ok(hashes) = self.block_tx_hashes(height).await else {
                return Ok(false);
            };
            if hashes.contains(hash) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
