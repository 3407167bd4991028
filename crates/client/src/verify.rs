//! A light client's checks with no I/O: whoever fetched the answers (the CLI over HTTP, the
//! console's WebAssembly verifier over `fetch`) hands them here. The trust anchor is the
//! genesis hash; era 0's committee is proven under the genesis state root, each next era's
//! under a block the previous committee certified ([`api::Handoff`]), and any proven answer
//! is checked under a header linked to a certificate of a committee learned that way. The
//! node is trusted for nothing.

use crate::api::{self, BlockInfo, FinalityInfo, Handoff};
use crate::queries;
use crust_light::Hash;
use crust_light::proof::{ProvenState, QueryProof};
use crust_primitives::AccountId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Most eras of committees an [`Anchor`] keeps (certificates older than that are not checked).
pub const ANCHOR_ERAS: usize = 8;
/// Most headers one check links (a certificate further above the proof is refused).
pub const MAX_LINKED_HEADERS: usize = 256;

/// Why an answer is not verified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The node's answer contradicts its own proofs or certificates: it lies (or is broken).
    #[error("{0}")]
    Contradiction(String),
    /// Not enough is known to check (a committee not learned yet, a method without proofs).
    #[error("{0}")]
    Unverifiable(String),
}

use VerifyError::{Contradiction, Unverifiable};

/// What a light client trusts: the genesis hash (its anchor), the signature namespace, and the
/// committees it learned by proof, by era.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The genesis block's hash.
    pub genesis: Hash,
    /// The chain's consensus signature namespace (`crust/consensus/<chain id>`).
    pub namespace: String,
    /// Committees (session keys) learned by proof, the last [`ANCHOR_ERAS`] eras.
    pub committees: BTreeMap<u64, Vec<AccountId>>,
    /// The next era whose committee to learn.
    pub next_era: u64,
}

/// Headers from a proof's block up to a certified one: the first header, once every link and
/// the certificate check out.
fn certified_header(
    anchor: &Anchor,
    headers: &[BlockInfo],
    finality: &FinalityInfo,
) -> Result<crust_light::Header, VerifyError> {
    let Some(first) = headers.first() else {
        return Err(Contradiction("no header to check the proof under".into()));
    };
    if headers.len() > MAX_LINKED_HEADERS {
        return Err(Unverifiable(format!(
            "the certificate is {} blocks above the proof (at most {MAX_LINKED_HEADERS})",
            headers.len()
        )));
    }
    let mut hash = first.header().hash();
    for pair in headers.windows(2) {
        let next = pair[1].header();
        if next.parent != hash || next.height != pair[0].height.saturating_add(1) {
            return Err(Contradiction(format!(
                "block {} does not extend block {}",
                next.height, pair[0].height
            )));
        }
        hash = next.hash();
    }
    let last = headers.last().map_or(first.height, |h| h.height);
    if finality.hash != hash || finality.height != last {
        return Err(Contradiction(format!(
            "the certificate is for block {} ({}), not the linked block {last} ({hash})",
            finality.height, finality.hash
        )));
    }
    let committee = anchor.committees.get(&finality.era).ok_or_else(|| {
        Unverifiable(format!(
            "block {} is certified by era {}, whose committee is not learned yet (known: {:?})",
            finality.height,
            finality.era,
            anchor.committees.keys().collect::<Vec<_>>()
        ))
    })?;
    crust_light::finality::verify(
        anchor.namespace.as_bytes(),
        committee,
        finality.era,
        &finality.hash,
        &finality.certificate,
    )
    .map_err(|e| {
        Contradiction(format!(
            "block {}: the finalization certificate is refused: {e}",
            finality.height
        ))
    })?;
    Ok(first.header())
}

/// The proven entries of `proof`, once its root is the state root of `header`.
fn proven_state(
    proof: &QueryProof,
    header: &crust_light::Header,
) -> Result<ProvenState, VerifyError> {
    if proof.height != header.height || proof.state_root != header.state_root {
        return Err(Contradiction(format!(
            "the proof is under root {} at height {}, the header at {} has root {}",
            proof.state_root, proof.height, header.height, header.state_root
        )));
    }
    proof
        .verify(&header.state_root)
        .map_err(|e| Contradiction(format!("the state proof is refused: {e}")))
}

/// Runs `query` on proven state; reading beyond the proof is the node's fault.
fn run<T>(
    state: &ProvenState,
    query: impl FnOnce(&ProvenState) -> Result<T, String>,
) -> Result<T, VerifyError> {
    state
        .run(query)
        .map_err(|e| Contradiction(format!("the proof does not cover the query: {e}")))?
        .map_err(|e| Contradiction(format!("the proven state does not decode: {e}")))
}

fn committee_keys(state: &ProvenState, era: u64) -> Result<Vec<AccountId>, VerifyError> {
    let c = run(state, |s| queries::committee(s, Some(era)))?;
    let members = c
        .members
        .ok_or_else(|| Contradiction(format!("the proof shows no committee for era {era}")))?;
    Ok(members.iter().map(|m| m.session_key).collect())
}

impl Anchor {
    /// Starts from the genesis hash: era 0's committee proven under the genesis block's state
    /// root (`handoff` is `staking_handoffs {from: 0}`'s first entry).
    pub fn from_genesis(
        genesis: Hash,
        namespace: &str,
        handoff: &Handoff,
    ) -> Result<Self, VerifyError> {
        let header = match handoff.headers.as_slice() {
            [h] => h.header(),
            _ => {
                return Err(Contradiction(
                    "era 0's handoff must carry the genesis header alone".into(),
                ));
            }
        };
        if handoff.era != 0 || header.height != 0 || header.hash() != genesis {
            return Err(Contradiction(format!(
                "era 0's committee is not proven under the genesis block {genesis}"
            )));
        }
        let state = proven_state(&handoff.proof, &header)?;
        let keys = committee_keys(&state, 0)?;
        Ok(Self {
            genesis,
            namespace: namespace.to_owned(),
            committees: BTreeMap::from([(0, keys)]),
            next_era: 1,
        })
    }

    /// Learns the next era's committee from a handoff certified by the era before it.
    pub fn learn(&mut self, handoff: &Handoff) -> Result<(), VerifyError> {
        if handoff.era != self.next_era {
            return Err(Unverifiable(format!(
                "expected the handoff of era {}, got era {}",
                self.next_era, handoff.era
            )));
        }
        let finality = handoff.finality.as_ref().ok_or_else(|| {
            Contradiction(format!("era {}'s handoff has no certificate", handoff.era))
        })?;
        if finality.era.saturating_add(1) != handoff.era {
            return Err(Unverifiable(format!(
                "era {}'s handoff is certified by era {}, not the one before it",
                handoff.era, finality.era
            )));
        }
        let header = certified_header(self, &handoff.headers, finality)?;
        let state = proven_state(&handoff.proof, &header)?;
        let keys = committee_keys(&state, handoff.era)?;
        self.committees.insert(handoff.era, keys);
        while self.committees.len() > ANCHOR_ERAS {
            self.committees.pop_first();
        }
        self.next_era = handoff.era.saturating_add(1);
        Ok(())
    }

    /// Checks a proven RPC answer: `method` was called with `params` (and `prove: true`) and
    /// answered `answer`; `headers` run from the proof's block to the certificate `finality`.
    /// Re-runs the method's query on the proven entries and compares with what the node said.
    /// Returns the verified part of the answer (the same JSON the node sends, recomputed).
    pub fn check(
        &self,
        method: &str,
        params: &Value,
        answer: &Value,
        headers: &[BlockInfo],
        finality: &FinalityInfo,
    ) -> Result<Verified, VerifyError> {
        let proof: QueryProof = answer
            .get("proof")
            .cloned()
            .ok_or_else(|| Unverifiable(format!("{method}: the answer carries no proof")))
            .and_then(|p| {
                serde_json::from_value(p)
                    .map_err(|e| Contradiction(format!("{method}: the proof does not decode: {e}")))
            })?;
        let header = certified_header(self, headers, finality)?;
        let state = proven_state(&proof, &header)?;
        let param = |name: &str| -> Result<Value, VerifyError> {
            params
                .get(name)
                .cloned()
                .ok_or_else(|| Unverifiable(format!("{method}: no `{name}` parameter")))
        };
        fn parse<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, VerifyError> {
            serde_json::from_value(v).map_err(|e| Unverifiable(format!("{what}: {e}")))
        }
        let json = |v: Result<Value, serde_json::Error>| v.map_err(|e| Unverifiable(e.to_string()));
        // One recomputed field of the answer, by the name the answer uses.
        let one = |name: &'static str, v: Result<Value, serde_json::Error>| {
            json(v).map(|v| vec![(name, v)])
        };
        // The recomputed fields, by the names the answer uses.
        let fields: Vec<(&str, Value)> = match method {
            n if n == <api::MarketFile as api::Method>::NAME => {
                let cid = parse(param("cid")?, "cid")?;
                let file = run(&state, |s| queries::market_file(s, &cid))?;
                one("file", serde_json::to_value(file))?
            }
            n if n == <api::MarketPrices as api::Method>::NAME => {
                let prices = run(&state, queries::market_prices)?;
                one("prices", serde_json::to_value(prices))?
            }
            n if n == <api::SworkWorkReport as api::Method>::NAME => {
                let anchor: Hash = parse(param("anchor")?, "anchor")?;
                let report = run(&state, |s| queries::work_report(s, &anchor.0))?;
                one("report", serde_json::to_value(report))?
            }
            n if n == <api::SworkPeer as api::Method>::NAME => {
                let who = parse(param("account")?, "account")?;
                let peer = run(&state, |s| queries::swork_peer(s, &who))?;
                one("peer", serde_json::to_value(peer))?
            }
            n if n == <api::StateOverview as api::Method>::NAME => {
                let who = parse(param("account")?, "account")?;
                let overview = run(&state, |s| queries::overview(s, &who))?;
                one("overview", serde_json::to_value(overview))?
            }
            n if n == <api::SworkWorker as api::Method>::NAME => {
                let who = parse(param("account")?, "account")?;
                let worker = run(&state, |s| queries::swork_worker(s, &who))?;
                one("worker", serde_json::to_value(worker))?
            }
            n if n == <api::SystemConfig as api::Method>::NAME => {
                let config = run(&state, queries::system_config)?;
                one("config", serde_json::to_value(config))?
            }
            n if n == <api::NetworkHistory as api::Method>::NAME => {
                let before: Option<u64> = parse(
                    params.get("before").cloned().unwrap_or(Value::Null),
                    "before",
                )?;
                let limit: Option<u32> =
                    parse(params.get("limit").cloned().unwrap_or(Value::Null), "limit")?;
                let limit = limit.unwrap_or(api::HISTORY_PAGE).min(api::HISTORY_PAGE);
                let history = run(&state, |s| queries::network_history(s, before, limit))?;
                one("history", serde_json::to_value(history))?
            }
            n if n == <api::StakingSlashes as api::Method>::NAME => {
                let from: Option<u64> =
                    parse(params.get("from").cloned().unwrap_or(Value::Null), "from")?;
                let pending = run(&state, |s| queries::pending_slashes(s, from))?;
                one("pending", serde_json::to_value(pending))?
            }
            n if n == <api::StakingStakeLimit as api::Method>::NAME => {
                let stash = parse(param("stash")?, "stash")?;
                let limit = run(&state, |s| queries::stake_limit(s, &stash))?;
                one("stake_limit", serde_json::to_value(limit))?
            }
            n if n == <api::StakingCommittee as api::Method>::NAME => {
                let era: Option<u64> =
                    parse(params.get("era").cloned().unwrap_or(Value::Null), "era")?;
                let committee = run(&state, |s| queries::committee(s, era))?;
                one("committee", serde_json::to_value(committee))?
            }
            n if n == <api::StateAccount as api::Method>::NAME => {
                let who = parse(param("account")?, "account")?;
                let info = run(&state, |s| Ok(queries::account(s, &who)))?;
                let shown = api::AccountInfo {
                    free: info.free,
                    reserved: info.reserved,
                    nonce: info.nonce,
                    next_nonce: 0,
                    height: proof.height,
                    proof: None,
                };
                let v = json(serde_json::to_value(shown))?;
                ["free", "reserved", "nonce"]
                    .into_iter()
                    .map(|k| (k, v.get(k).cloned().unwrap_or(Value::Null)))
                    .collect()
            }
            other => return Err(Unverifiable(format!("{other} answers are not proven"))),
        };
        for (name, value) in &fields {
            let claimed = answer.get(*name).unwrap_or(&Value::Null);
            if let Some(path) = first_difference(claimed, value, name) {
                return Err(Contradiction(format!(
                    "{method}: the node says {path} = {}, its proofs show {}",
                    at(claimed, &path, name),
                    at(value, &path, name)
                )));
            }
        }
        if answer.get("height").and_then(Value::as_u64) != Some(proof.height) {
            return Err(Contradiction(format!(
                "{method}: the answer's height is not its proof's ({})",
                proof.height
            )));
        }
        Ok(Verified {
            height: proof.height,
            era: finality.era,
            certified: finality.height,
            value: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        })
    }
}

/// A verified answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verified {
    /// The height whose state the answer was read from.
    pub height: u64,
    /// The era whose committee certified it.
    pub era: u64,
    /// The certified block it was linked to.
    pub certified: u64,
    /// The answer's proven fields, recomputed.
    pub value: serde_json::Map<String, Value>,
}

/// The first place two JSON values differ, as a path (`file.replicas[0].owner`, or
/// `file.replicas.length` when a list is longer or shorter).
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                first_difference(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{path}[{i}]"))),
        (Value::Array(_), Value::Array(_)) => Some(format!("{path}.length")),
        _ => (a != b).then(|| path.to_owned()),
    }
}

/// The value at a path made by [`first_difference`] (for messages; `?` if absent).
fn at(v: &Value, path: &str, root: &str) -> String {
    let mut cur = v;
    let rest = path.strip_prefix(root).unwrap_or(path);
    for part in rest.split('.').filter(|p| !p.is_empty()) {
        let (name, indexes) = part.split_once('[').map_or((part, ""), |(n, i)| (n, i));
        if name == "length"
            && let Value::Array(items) = cur
        {
            return items.len().to_string();
        }
        if !name.is_empty() {
            cur = cur.get(name).unwrap_or(&Value::Null);
        }
        for i in indexes.split('[').filter(|s| !s.is_empty()) {
            let i: usize = i.trim_end_matches(']').parse().unwrap_or(usize::MAX);
            cur = cur.get(i).unwrap_or(&Value::Null);
        }
    }
    let text = cur.to_string();
    if text.len() > 120 {
        format!("{}…", &text[..text.floor_char_boundary(117)])
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_are_named_by_path_and_value() {
        let proven = json!({"file": {"replicas": [{"who": "a"}, {"who": "b"}], "size": 1}});
        let same = proven.clone();
        assert_eq!(first_difference(&same, &proven, "answer"), None);
        let longer =
            json!({"file": {"replicas": [{"who": "a"}, {"who": "b"}, {"who": "c"}], "size": 1}});
        let path = first_difference(&longer, &proven, "answer").unwrap_or_default();
        assert_eq!(path, "answer.file.replicas.length");
        assert_eq!(at(&longer, &path, "answer"), "3");
        assert_eq!(at(&proven, &path, "answer"), "2");
        let changed = json!({"file": {"replicas": [{"who": "a"}, {"who": "x"}], "size": 1}});
        let path = first_difference(&changed, &proven, "answer").unwrap_or_default();
        assert_eq!(path, "answer.file.replicas[1].who");
        assert_eq!(at(&changed, &path, "answer"), "\"x\"");
        let missing = json!({"file": {"replicas": [{"who": "a"}, {"who": "b"}]}});
        let path = first_difference(&missing, &proven, "answer").unwrap_or_default();
        assert_eq!(path, "answer.file.size");
        assert_eq!(at(&missing, &path, "answer"), "null");
    }
}
