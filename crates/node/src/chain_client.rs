//! A small blocking JSON-RPC client for the chain node: what the CLI and the storage worker
//! need (head, finalized blocks with their transactions, accounts, state reads, submission).

use crust_chain::Header;
use crust_chain::tx::{Mortality, Transaction, UnsignedTransaction};
use crust_primitives::account::to_hex;
use crust_primitives::codec::{self, Decode};
use crust_primitives::{AccountId, Balance, Keypair};
use serde_json::{Value, json};
use std::collections::BTreeMap;

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
    /// Its hash, recomputed from the header.
    pub hash: [u8; 32],
    /// Its header (the hash and the transactions root are checked against it).
    pub header: Header,
    /// Each transaction with its receipt's success flag.
    pub txs: Vec<(Transaction, bool)>,
}

fn hex32(v: &Value) -> Result<[u8; 32], String> {
    let text = v.as_str().ok_or("expected a hex string")?;
    crust_chain::Hash::from_hex(text)
        .map(|h| h.0)
        .ok_or_else(|| format!("'{text}' is not a 32-byte hex hash"))
}

/// A header from `chain_block`'s fields (so its hash can be recomputed, not taken on trust).
fn header_of(r: &Value) -> Result<Header, String> {
    let hash = |f: &str| hex32(&r[f]).map(crust_chain::Hash);
    let num = |f: &str| r[f].as_u64().ok_or_else(|| format!("chain_block: no {f}"));
    Ok(Header {
        parent: hash("parent")?,
        height: num("height")?,
        timestamp_ms: num("timestamp_ms")?,
        era: num("era")?,
        proposer: r["proposer"]
            .as_str()
            .and_then(|a| a.parse::<AccountId>().ok())
            .ok_or("chain_block: no proposer")?,
        state_root: hash("state_root")?,
        tx_root: hash("tx_root")?,
        evidence_root: hash("evidence_root")?,
    })
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    crust_primitives::account::from_hex(text).ok_or_else(|| format!("bad hex '{text}'"))
}

/// A finalized transaction's result: the including block's height, and the chain's reason
/// if the call failed (its fee is still paid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The call took effect in this block.
    Succeeded(u64),
    /// The chain refused the call in this block, for this reason.
    Failed(u64, String),
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
        let header = header_of(&r)?;
        let hash = header.hash();
        if hash.0 != hex32(&r["hash"])? {
            return Err(format!(
                "block {height}: the header does not hash to {}",
                r["hash"]
            ));
        }
        let plain: Vec<Transaction> = txs.iter().map(|(t, _)| t.clone()).collect();
        if crust_chain::Block::compute_tx_root(&plain) != header.tx_root {
            return Err(format!(
                "block {height}: the transactions do not match the header"
            ));
        }
        Ok(BlockTxs {
            hash: hash.0,
            header,
            txs,
        })
    }

    /// The nonce `who`'s next transaction should take: the committed nonce, past any of their
    /// transactions the node holds queued (older nodes answer only the committed one).
    pub fn nonce(&self, who: &AccountId) -> Result<u64, String> {
        let r = self.call("state_account", json!({ "account": who.to_ss58() }))?;
        r["next_nonce"]
            .as_u64()
            .or_else(|| r["nonce"].as_u64())
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
    ///
    /// The same account may sign elsewhere at the same time (a storage worker's reports while
    /// its operator claims a payout): if another transaction takes this one's nonce, this one
    /// can never be included, so it is signed again with the next nonce (up to 3 times).
    pub fn submit_and_wait(
        &self,
        signer: &Keypair,
        call: crust_runtime::Call,
    ) -> Result<(String, u64), String> {
        const ATTEMPTS: usize = 3;
        let mut attempt = 1;
        loop {
            let from = self.head()?.height;
            let (nonce, hashes) = self.sign_and_submit(signer, vec![call.clone()], None)?;
            let hash = hashes.into_iter().next().ok_or("nothing submitted")?;
            let err = match self.outcome(&hash, std::time::Duration::from_secs(60)) {
                Ok(Outcome::Succeeded(height)) => return Ok((hash, height)),
                Ok(Outcome::Failed(height, reason)) => {
                    return Err(format!(
                        "transaction {hash} failed in block {height}: {reason}"
                    ));
                }
                Err(e) => e,
            };
            if attempt >= ATTEMPTS || !self.superseded(&signer.public(), nonce, &hash, from)? {
                return Err(err);
            }
            attempt += 1;
            eprintln!(
                "note: another transaction of {} took nonce {nonce}; signing again with the next one",
                signer.public().to_ss58()
            );
        }
    }

    /// Whether transaction `hash`, signed by `who` with `nonce` when the head was `from`, can
    /// never be included: the account's committed nonce has moved past it and no block since
    /// `from` holds it (read from the blocks, as a restarted node forgets which it included).
    fn superseded(
        &self,
        who: &AccountId,
        nonce: u64,
        hash: &str,
        from: u64,
    ) -> Result<bool, String> {
        if self.committed_nonce(who)? <= nonce {
            return Ok(false);
        }
        let head = self.head()?.height;
        for height in from..=head {
            // A block it cannot read might hold it: not sure, so not superseded.
            let Ok(r) = self.call(
                "chain_block",
                json!({ "height": height, "bodies": false, "receipts": false }),
            ) else {
                return Ok(false);
            };
            let Some(txs) = r["transactions"].as_array() else {
                return Ok(false);
            };
            if txs.iter().any(|t| t.as_str() == Some(hash)) {
                return Ok(false);
            }
        }
        Ok(true)
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
        match self.outcome(hash, timeout)? {
            Outcome::Succeeded(height) => Ok(height),
            Outcome::Failed(height, reason) => Err(format!(
                "transaction {hash} failed in block {height}: {reason}"
            )),
        }
    }

    /// What became of transaction `hash` once a finalized block included it. `Err` means it
    /// did not land (yet): the node unreachable, the transaction dropped from its mempool, or
    /// `timeout` passed; such an error is worth retrying, a `Failed` outcome is not.
    pub fn outcome(&self, hash: &str, timeout: std::time::Duration) -> Result<Outcome, String> {
        let deadline = std::time::Instant::now() + timeout;
        let mut unknown = 0;
        while std::time::Instant::now() < deadline {
            let r = self.call("author_txStatus", json!({ "hash": hash }))?;
            match r["status"].as_str() {
                Some("finalized") => {
                    let height = r["height"].as_u64().unwrap_or_default();
                    return Ok(match r["success"].as_bool() {
                        Some(true) => Outcome::Succeeded(height),
                        _ => Outcome::Failed(
                            height,
                            r["error"].as_str().unwrap_or("unknown error").to_owned(),
                        ),
                    });
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
        Ok(self.sign_and_submit(signer, calls, None)?.1)
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
        let (nonce, hashes) = self.sign_and_submit(signer, vec![call], nonce)?;
        let hash = hashes.into_iter().next().ok_or("nothing submitted")?;
        Ok((nonce, hash))
    }

    /// `who`'s nonce in the finalized state: how many of their transactions blocks included.
    pub fn committed_nonce(&self, who: &AccountId) -> Result<u64, String> {
        let r = self.call("state_account", json!({ "account": who.to_ss58() }))?;
        r["nonce"]
            .as_u64()
            .ok_or_else(|| "state_account: no nonce".into())
    }

    /// [`Self::submit_all`], also returning the first transaction's nonce.
    fn sign_and_submit(
        &self,
        signer: &Keypair,
        calls: Vec<crust_runtime::Call>,
        nonce: Option<u64>,
    ) -> Result<(u64, Vec<String>), String> {
        let genesis = self.genesis_hash()?;
        let config: crust_runtime::system::RuntimeConfig = self
            .read(&crust_runtime::system::config_key())?
            .ok_or("the chain has no runtime config")?;
        let head = self.head()?;
        let first = match nonce {
            Some(nonce) => nonce,
            None => self.nonce(&signer.public())?,
        };
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
        Ok((first, hashes))
    }
}

/// What a certificate-checking follower trusts: the chain's signature namespace and, per era,
/// the committee whose finalization certificates it accepts. Each next era's committee is
/// learned from a state proof under a header certified by the current era's committee, so
/// after the first committee (taken from the node on first use, with a warning) the node is not
/// trusted for what is final. A committee for any other era is refused unless the operator
/// allows taking it on the node's word (`allow_unproven`).
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
    pub hash: [u8; 32],
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
                .map(|m| format!("0x{}", to_hex(m.as_bytes())))
                .collect(),
        );
        while self.committees.len() > TRUST_ERAS {
            self.committees.pop_first();
        }
    }
}

fn state_proofs(proof: &Value) -> Result<Vec<crust_chain::store::StateProof>, String> {
    let mut entries = Vec::new();
    for e in proof["entries"].as_array().ok_or("proof: no entries")? {
        let field = |f: &str| unhex(e[f].as_str().unwrap_or_default());
        entries.push(crust_chain::store::StateProof {
            key: field("key")?,
            value: if e["value"].is_null() {
                None
            } else {
                Some(field("value")?)
            },
            proof: field("proof")?,
        });
    }
    Ok(entries)
}

impl ChainClient {
    /// The first block at or above `height` with a finalization certificate, checked against
    /// the signing era's committee in `trust`.
    pub fn certified(&self, trust: &mut Trust, height: u64) -> Result<Certified, String> {
        if trust.namespace.is_empty() {
            let chain = self.call("system_chain", json!({}))?;
            trust.namespace = chain["namespace"]
                .as_str()
                .ok_or("system_chain: no namespace")?
                .to_owned();
        }
        let r = self.call("chain_finality", json!({ "height": height }))?;
        let at = r["height"].as_u64().ok_or("chain_finality: no height")?;
        let era = r["era"].as_u64().ok_or("chain_finality: no era")?;
        let hash = hex32(&r["hash"])?;
        let cert = unhex(
            r["certificate"]
                .as_str()
                .ok_or("chain_finality: no certificate")?,
        )?;
        if at < height {
            return Err(format!("chain_finality: asked from {height}, got {at}"));
        }
        let committee = match trust.committee(era) {
            Some(c) => c,
            None if trust.committees.is_empty() || trust.allow_unproven => {
                // Nothing certified this era's committee for us: take the node's word, once
                // (first use) or because the operator allowed it.
                let v = self.call("staking_committee", json!({ "era": era }))?;
                let members: Vec<AccountId> = v["committee"]["members"]
                    .as_array()
                    .ok_or_else(|| format!("no committee is known for era {era}"))?
                    .iter()
                    .filter_map(|m| m["session_key"].as_str()?.parse().ok())
                    .collect();
                eprintln!(
                    "chain: WARNING trusting the node's committee for era {era} ({} members) \
                     without proof",
                    members.len()
                );
                trust.remember(era, &members);
                trust.trusted_on_first_use.push(era);
                members
            }
            None => {
                let known: Vec<u64> = trust.committees.keys().copied().collect();
                return Err(format!(
                    "block {at} is certified by era {era}, whose committee this follower has not \
                     learned (known eras {known:?}); if it was offline across an era change, \
                     restart it with --trust-node-committee to take the node's word for it"
                ));
            }
        };
        crust_chain::consensus::finality::verify(
            trust.namespace.as_bytes(),
            &committee,
            era,
            &crust_chain::Hash(hash),
            &cert,
        )
        .map_err(|e| format!("block {at}: finality certificate refused: {e}"))?;
        Ok(Certified {
            height: at,
            hash,
            era,
        })
    }

    /// Learns (or refreshes) the committee of the era after `era` from a state proof under a
    /// header this follower certifies with `era`'s committee. The proof comes first and its
    /// height is then certified and linked by hashes, so a moving head does not matter; a
    /// proof from a later era is skipped (its certificate needs the committee being learned).
    pub fn learn_next_committee(&self, trust: &mut Trust, era: u64) -> Result<(), String> {
        let next = era + 1;
        let v = self.call("staking_committee", json!({ "era": next, "prove": true }))?;
        if v["committee"]["members"].is_null() {
            return Ok(()); // not elected yet: nothing to learn on this pass
        }
        let proof = &v["proof"];
        let at = proof["height"]
            .as_u64()
            .ok_or("staking_committee: no proof height")?;
        let root = crust_chain::Hash(hex32(&proof["state_root"])?);
        let header = self.block(at)?.header;
        if header.state_root != root || header.era != era {
            return Ok(()); // another era already, or the proof is not under that header
        }
        let certified = self.certified(trust, at)?;
        // Link the proof's block to the certified one.
        let mut hash = header.hash();
        for h in at + 1..=certified.height {
            let b = self.block(h)?;
            if b.header.parent != hash || b.header.height != h {
                return Err(format!("block {h} does not extend block {}", h - 1));
            }
            hash = crust_chain::Hash(b.hash);
        }
        if hash.0 != certified.hash {
            return Err(format!(
                "block {} is not the certified block",
                certified.height
            ));
        }
        let state = crust_chain::proof::ProvenState::verify(&root, &state_proofs(proof)?)
            .map_err(|e| format!("committee of era {next}: {e}"))?;
        let members = state
            .run(|s| crust_runtime::staking::committee(s, next))
            .map_err(|e| format!("committee of era {next}: {e}"))?
            .map_err(|e| format!("committee of era {next}: {e}"))?;
        if let Some(members) = members {
            let keys: Vec<AccountId> = members.iter().map(|m| m.session_key).collect();
            trust.remember(next, &keys);
        }
        Ok(())
    }
}
