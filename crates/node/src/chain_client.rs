//! The chain client as the CLI and the storage worker use it: [`crust_client::Client`] over
//! blocking HTTP, with its answers waited for on the calling thread and errors as text for
//! people. The methods, their types and the follower's checks all live in `crust-client`.

use crust_client::api::{self, Method};
use crust_client::{Client, ClientError, Transport};
use crust_primitives::codec::Decode;
use crust_primitives::{AccountId, Balance, Keypair};
use std::time::Duration;

pub use crust_client::{Certified, CheckedBlock as BlockTxs, Outcome, Trust};

/// Blocking HTTP to one node's RPC endpoint.
pub struct Http {
    url: String,
    http: reqwest::blocking::Client,
}

impl Transport for Http {
    async fn post(&self, body: String) -> Result<String, String> {
        self.http
            .post(&self.url)
            .body(body)
            .header("content-type", "application/json")
            .send()
            .and_then(|r| r.text())
            .map_err(|e| format!("{}: {e}", self.url))
    }

    async fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A chain node's RPC endpoint.
pub struct ChainClient {
    inner: Client<Http>,
}

fn text(e: ClientError) -> String {
    e.to_string()
}

fn wait<T>(f: impl std::future::Future<Output = Result<T, ClientError>>) -> Result<T, String> {
    futures::executor::block_on(f).map_err(text)
}

impl ChainClient {
    /// A client for `url` (e.g. `http://127.0.0.1:9933`).
    pub fn new(url: &str) -> Result<Self, String> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let transport = Http {
            url: url.trim_end_matches('/').to_owned(),
            http,
        };
        Ok(Self {
            inner: Client::new(transport).with_notes(|note| eprintln!("{note}")),
        })
    }

    /// Calls method `M`.
    pub fn request<M: Method>(&self, params: M::Params) -> Result<M::Output, String> {
        wait(self.inner.request::<M>(params))
    }

    /// The finalized head.
    pub fn head(&self) -> Result<api::HeadInfo, String> {
        wait(self.inner.head())
    }

    /// Finalized block `height` with its transactions, checked against its header.
    pub fn block(&self, height: u64) -> Result<BlockTxs, String> {
        wait(self.inner.block(height))
    }

    /// `who`'s nonce in the finalized state: how many of their transactions blocks included.
    pub fn committed_nonce(&self, who: &AccountId) -> Result<u64, String> {
        Ok(wait(self.inner.account(who))?.nonce)
    }

    /// `who`'s free and reserved balance and committed nonce.
    pub fn account(&self, who: &AccountId) -> Result<(Balance, Balance, u64), String> {
        let a = wait(self.inner.account(who))?;
        Ok((a.free, a.reserved, a.nonce))
    }

    /// The committed value under a runtime state key, decoded.
    pub fn read<T: Decode<Cfg = ()>>(&self, key: &[u8]) -> Result<Option<T>, String> {
        wait(self.inner.read(key))
    }

    /// Signs `call` as `signer` with the next nonce and the fee the chain requires, submits it
    /// and returns its hash.
    pub fn submit(&self, signer: &Keypair, call: crust_runtime::Call) -> Result<String, String> {
        self.submit_all(signer, vec![call])?
            .pop()
            .ok_or_else(|| "nothing submitted".into())
    }

    /// Submits `calls` in order with consecutive nonces; returns their hashes.
    pub fn submit_all(
        &self,
        signer: &Keypair,
        calls: Vec<crust_runtime::Call>,
    ) -> Result<Vec<String>, String> {
        let (_, hashes) = wait(self.inner.submit_calls(signer, calls, None))?;
        Ok(hashes.iter().map(|h| h.to_hex()).collect())
    }

    /// Submits `call` signed with `nonce` (the next one if `None`); returns the nonce used and
    /// the hash. Signing a retry with the nonce of an earlier attempt that may still land
    /// makes sure at most one of them does.
    pub fn submit_with_nonce(
        &self,
        signer: &Keypair,
        call: crust_runtime::Call,
        nonce: Option<u64>,
    ) -> Result<(u64, String), String> {
        let (nonce, hashes) = wait(self.inner.submit_calls(signer, vec![call], nonce))?;
        let hash = hashes.first().ok_or("nothing submitted")?;
        Ok((nonce, hash.to_hex()))
    }

    /// Submits `call` and waits until a finalized block applied it: `(hash, height)` if it
    /// succeeded, the chain's reason if it failed (its fee is still paid).
    pub fn submit_and_wait(
        &self,
        signer: &Keypair,
        call: crust_runtime::Call,
    ) -> Result<(String, u64), String> {
        let (hash, height) = wait(self.inner.submit_and_wait(signer, call))?;
        Ok((hash.to_hex(), height))
    }

    /// [`Self::submit_and_wait`] with the client's typed error (a refusal in a block is
    /// [`ClientError::Failed`]).
    pub fn submit_and_wait_typed(
        &self,
        signer: &Keypair,
        call: crust_runtime::Call,
    ) -> Result<(crust_chain::Hash, u64), ClientError> {
        futures::executor::block_on(self.inner.submit_and_wait(signer, call))
    }

    /// What became of transaction `hash` once a finalized block included it. `Err` means it
    /// did not land (yet): worth retrying, unlike a `Failed` outcome.
    pub fn outcome(&self, hash: &str, timeout: Duration) -> Result<Outcome, String> {
        let hash = parse_hash(hash)?;
        wait(self.inner.outcome(&hash, timeout))
    }

    /// Waits until transaction `hash` is finalized; returns the including block's height, or
    /// the chain's reason the call failed.
    pub fn wait_for(&self, hash: &str, timeout: Duration) -> Result<u64, String> {
        match self.outcome(hash, timeout)? {
            Outcome::Succeeded(height) => Ok(height),
            Outcome::Failed(height, reason) => Err(format!(
                "transaction {hash} failed in block {height}: {reason}"
            )),
        }
    }

    /// The first block at or above `height` with a finalization certificate, checked against
    /// the signing era's committee in `trust`.
    pub fn certified(&self, trust: &mut Trust, height: u64) -> Result<Certified, String> {
        wait(self.inner.certified(trust, height))
    }

    /// Learns the committee of the era after `era` by proof (see
    /// [`Client::learn_next_committee`]).
    pub fn learn_next_committee(&self, trust: &mut Trust, era: u64) -> Result<(), String> {
        wait(self.inner.learn_next_committee(trust, era))
    }
}

fn parse_hash(text: &str) -> Result<crust_chain::Hash, String> {
    crust_chain::Hash::from_hex(text).ok_or_else(|| format!("'{text}' is not a transaction hash"))
}
