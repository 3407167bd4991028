//! A small blocking JSON-RPC client for the chain node: what the CLI and the storage worker
//! need (head, finalized blocks with their transactions, accounts, state reads, submission).

use crust_chain::tx::{Mortality, Transaction, UnsignedTransaction};
use crust_primitives::account::to_hex;
use crust_primitives::codec::{self, Decode};
use crust_primitives::{AccountId, Balance, Keypair};
use serde_json::{Value, json};

/// A chain node's RPC endpoint.
pub struct ChainClient {
    url: String,
    http: reqwest::blocking::Client,
}

/// The finalized head.
pub struct Head {
    /// Its height.
    pub height: u64,
}

/// A finalized block's transactions and whether each succeeded.
pub struct BlockTxs {
    /// Its hash.
    pub hash: [u8; 32],
    /// Each transaction with its receipt's success flag.
    pub txs: Vec<(Transaction, bool)>,
}

fn hex32(v: &Value) -> Result<[u8; 32], String> {
    let text = v.as_str().ok_or("expected a hex string")?;
    crust_chain::Hash::from_hex(text)
        .map(|h| h.0)
        .ok_or_else(|| format!("'{text}' is not a 32-byte hex hash"))
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    crust_primitives::account::from_hex(text).ok_or_else(|| format!("bad hex '{text}'"))
}

impl ChainClient {
    /// A client for `url` (e.g. `http://127.0.0.1:9933`).
    pub fn new(url: &str) -> Result<Self, String> {
        let http = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let reply: Value = self
            .http
            .post(&self.url)
            .body(body.to_string())
            .header("content-type", "application/json")
            .send()
            .and_then(|r| r.text())
            .map_err(|e| format!("chain RPC at {}: {e}", self.url))
            .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("chain RPC reply: {e}")))?;
        if let Some(err) = reply.get("error") {
            return Err(format!(
                "{method}: {}",
                err["message"].as_str().unwrap_or("error")
            ));
        }
        Ok(reply["result"].clone())
    }

    /// Any JSON-RPC method's result.
    pub fn call_json(&self, method: &str, params: Value) -> Result<Value, String> {
        self.call(method, params)
    }

    /// The genesis hash transactions are signed over.
    pub fn genesis_hash(&self) -> Result<crust_chain::Hash, String> {
        hex32(&self.call("genesis_hash", json!({}))?).map(crust_chain::Hash)
    }

    /// The finalized head.
    pub fn head(&self) -> Result<Head, String> {
        let r = self.call("chain_head", json!({}))?;
        Ok(Head {
            height: r["height"].as_u64().ok_or("chain_head: no height")?,
        })
    }

    /// Finalized block `height` with its transactions.
    pub fn block(&self, height: u64) -> Result<BlockTxs, String> {
        let r = self.call("chain_block", json!({ "height": height }))?;
        let bodies = r["bodies"].as_array().cloned().unwrap_or_default();
        let receipts = r["receipts"].as_array().cloned().unwrap_or_default();
        let mut txs = Vec::with_capacity(bodies.len());
        for (i, body) in bodies.iter().enumerate() {
            let bytes = unhex(body.as_str().unwrap_or_default())?;
            let tx = Transaction::decode(&bytes).map_err(|e| format!("block {height}: {e}"))?;
            let ok = receipts
                .get(i)
                .and_then(|r| r["success"].as_bool())
                .unwrap_or(false);
            txs.push((tx, ok));
        }
        Ok(BlockTxs {
            hash: hex32(&r["hash"])?,
            txs,
        })
    }

    /// The next nonce of `who`.
    pub fn nonce(&self, who: &AccountId) -> Result<u64, String> {
        let r = self.call("state_account", json!({ "account": who.to_ss58() }))?;
        r["nonce"]
            .as_u64()
            .ok_or_else(|| "state_account: no nonce".into())
    }

    /// `who`'s free and reserved balance and next nonce.
    pub fn account(&self, who: &AccountId) -> Result<(Balance, Balance, u64), String> {
        let r = self.call("state_account", json!({ "account": who.to_ss58() }))?;
        let amount = |field: &str| {
            r[field]
                .as_str()
                .and_then(|t| t.parse::<Balance>().ok())
                .ok_or_else(|| format!("state_account: no {field}"))
        };
        Ok((
            amount("free")?,
            amount("reserved")?,
            r["nonce"].as_u64().ok_or("state_account: no nonce")?,
        ))
    }

    /// The committed value under a runtime state key, decoded.
    pub fn read<T: Decode<Cfg = ()>>(&self, key: &[u8]) -> Result<Option<T>, String> {
        let r = self.call(
            "state_proof",
            json!({ "key": format!("0x{}", to_hex(key)) }),
        )?;
        match r["value"].as_str() {
            None => Ok(None),
            Some(hex) => codec::decode(&unhex(hex)?)
                .map(Some)
                .map_err(|e| format!("state value: {e}")),
        }
    }

    /// Signs `call` as `signer` with the next nonce and the fee the chain requires, submits it
    /// and returns its hash.
    pub fn submit(&self, signer: &Keypair, call: crust_runtime::Call) -> Result<String, String> {
        self.submit_all(signer, vec![call])?
            .pop()
            .ok_or_else(|| "nothing submitted".into())
    }

    /// Submits `call` and waits until a finalized block includes it: `Ok((hash, height))` if
    /// the call succeeded, `Err` with the chain's reason if it failed (its fee is still paid).
    pub fn submit_and_wait(
        &self,
        signer: &Keypair,
        call: crust_runtime::Call,
    ) -> Result<(String, u64), String> {
        let from = self.head()?.height;
        let hash = self.submit(signer, call)?;
        let height = self.wait_for(&hash, from, std::time::Duration::from_secs(60))?;
        Ok((hash, height))
    }

    /// Waits until transaction `hash` is finalized (`author_txStatus`); returns the including
    /// block's height, or the chain's reason the call failed. `_after` is the head when it was
    /// submitted (kept for callers; the node indexes receipts itself).
    pub fn wait_for(
        &self,
        hash: &str,
        _after: u64,
        timeout: std::time::Duration,
    ) -> Result<u64, String> {
        let deadline = std::time::Instant::now() + timeout;
        let mut unknown = 0;
        while std::time::Instant::now() < deadline {
            let r = self.call("author_txStatus", json!({ "hash": hash }))?;
            match r["status"].as_str() {
                Some("finalized") => {
                    let height = r["height"].as_u64().unwrap_or_default();
                    return match r["success"].as_bool() {
                        Some(true) => Ok(height),
                        _ => Err(format!(
                            "transaction {hash} failed in block {height}: {}",
                            r["error"].as_str().unwrap_or("unknown error")
                        )),
                    };
                }
                Some("pending") => unknown = 0,
                _ => {
                    unknown += 1;
                    if unknown >= 25 {
                        return Err(format!(
                            "transaction {hash} left the node's mempool without being included (replaced, evicted or expired)"
                        ));
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        Err(format!(
            "transaction {hash} was not included within {} s (it may still be)",
            timeout.as_secs()
        ))
    }

    /// Submits `calls` in order with consecutive nonces (the chain's nonce only moves once a
    /// block includes them); returns their hashes.
    pub fn submit_all(
        &self,
        signer: &Keypair,
        calls: Vec<crust_runtime::Call>,
    ) -> Result<Vec<String>, String> {
        let genesis = self.genesis_hash()?;
        let config: crust_runtime::system::RuntimeConfig = self
            .read(&crust_runtime::system::config_key())?
            .ok_or("the chain has no runtime config")?;
        let head = self.head()?;
        let first = self.nonce(&signer.public())?;
        let mut hashes = Vec::with_capacity(calls.len());
        for (nonce, call) in (first..).zip(calls) {
            let mut unsigned = UnsignedTransaction {
                signer: signer.public(),
                nonce,
                fee: 0,
                tip: 0,
                mortality: Mortality::from(head.height, 256),
                call,
            };
            // The fee depends on the encoded length, which the fee itself barely changes:
            // price the transaction with a generous length allowance.
            let len = unsigned.clone().sign(signer, &genesis).encode().len() as Balance + 16;
            unsigned.fee = config.tx_base_fee + config.tx_byte_fee * len;
            let tx = unsigned.sign(signer, &genesis);
            let r = self.call(
                "author_submit",
                json!({ "tx": format!("0x{}", to_hex(&tx.encode())) }),
            )?;
            hashes.push(r.as_str().unwrap_or_default().to_owned());
        }
        Ok(hashes)
    }
}
