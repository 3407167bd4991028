//! The console's light client: [`crust_client::verify`] compiled to WebAssembly.
//!
//! The page fetches (JSON-RPC over `fetch`); this module only checks, with the same Rust code
//! the CLI and the storage worker run. The interface is three exports and JSON both ways, so
//! no binding generator is needed:
//! - `alloc(len) -> ptr` and `free(ptr, len)`: buffers in this module's memory;
//! - `call(op, ptr, len) -> u64`: runs operation `op` on the UTF-8 JSON at `ptr..ptr+len` and
//!   returns `(reply_ptr << 32) | reply_len`, a JSON reply the caller frees.
//!
//! Operations ([`handle`]): [`OP_START`] (era 0's committee under the genesis hash),
//! [`OP_LEARN`] (the next era's committee from a handoff), [`OP_CHECK`] (a proven RPC answer),
//! [`OP_ADDRESS`] and [`OP_SIGN`] (the user's key, typed into the page, turned into an address
//! or a signed transaction here; only the signed bytes go to the node).
//! Replies are `{"ok": …}` or `{"error": "…", "kind": "contradiction" | "unverifiable" |
//! "input"}` — a contradiction means the node's answer disagrees with its own proofs.

use crust_client::api::{BlockInfo, FinalityInfo, Handoff, HexBytes};
use crust_client::verify::{Anchor, VerifyError};
use crust_light::Hash;
use crust_primitives::balance::parse_balance;
use crust_primitives::commitment::ContentCommitment;
use crust_primitives::{Cid, Keypair};
use crust_runtime::Call;
use crust_runtime::market::{MarketCall, MarketParams};
use crust_runtime::system::RuntimeConfig;
use serde::Deserialize;
use serde_json::{Value, json};

/// `{genesis, namespace, handoff}` → the anchor with era 0's committee.
pub const OP_START: u32 = 1;
/// `{anchor, handoff}` → the anchor with the next era's committee.
pub const OP_LEARN: u32 = 2;
/// `{anchor, method, params, answer, headers, finality}` → the verified fields.
pub const OP_CHECK: u32 = 3;
/// `{secret}` → `{address}` of the key (a secret phrase or `//Dev`-style URI).
pub const OP_ADDRESS: u32 = 4;
/// `{secret, genesis, nonce, head, config, prices, action}` → `{tx, hash, signer, fee, cost}`.
pub const OP_SIGN: u32 = 5;
/// Largest input accepted (a handoff or an answer with its headers is far smaller).
pub const MAX_INPUT: usize = 16 << 20;

#[derive(Deserialize)]
struct Start {
    genesis: Hash,
    namespace: String,
    handoff: Handoff,
}

#[derive(Deserialize)]
struct Learn {
    anchor: Anchor,
    handoff: Handoff,
}

#[derive(Deserialize)]
struct Check {
    anchor: Anchor,
    method: String,
    params: Value,
    answer: Value,
    headers: Vec<BlockInfo>,
    finality: FinalityInfo,
}

#[derive(Deserialize)]
struct Address {
    secret: String,
}

/// What the user asked to sign.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    /// Fund a file's renewal pool.
    Prepay { cid: Cid, amount: String },
    /// Claim the replica rewards a storage owner earned (`market::RewardMerchant`).
    ClaimRewards {},
    /// Order the file again now (its size and commitment as on chain).
    Renew {
        cid: Cid,
        file_size: u64,
        tip: String,
        commitment: ContentCommitment,
    },
}

#[derive(Deserialize)]
struct Sign {
    secret: String,
    genesis: Hash,
    nonce: u64,
    head: u64,
    /// The runtime configuration's encoded bytes (`system_config`), for the fee.
    config: HexBytes,
    /// The market's parameters (`market_prices`), for a renewal's price.
    prices: MarketParams,
    action: Action,
}

fn keypair(secret: &str) -> Result<Keypair, Value> {
    Keypair::from_suri(secret.trim()).map_err(|e| input_error(format!("the key: {e}")))
}

fn amount(what: &str, text: &str) -> Result<u128, Value> {
    let text = text.trim();
    let with_unit = if text.chars().any(|c| c.is_ascii_alphabetic()) {
        text.to_owned()
    } else {
        format!("{text} CRU")
    };
    parse_balance(&with_unit).map_err(|e| input_error(format!("{what}: {e}")))
}

fn sign(s: Sign) -> Result<Value, Value> {
    let signer = keypair(&s.secret)?;
    let config: RuntimeConfig = crust_primitives::codec::decode(&s.config.0)
        .map_err(|e| input_error(format!("the runtime config: {e}")))?;
    let (call, cost) = match s.action {
        Action::Prepay { cid, amount: a } => {
            let value = amount("amount", &a)?;
            (
                Call::Market(MarketCall::AddPrepaid { cid, amount: value }),
                value,
            )
        }
        Action::Renew {
            cid,
            file_size,
            tip,
            commitment,
        } => {
            let tip = amount("tip", &tip)?;
            let (base, value) = crust_runtime::market::file_fee(&s.prices, file_size);
            let call = Call::Market(MarketCall::PlaceStorageOrder {
                cid,
                file_size,
                tips: tip,
                memo: Vec::new(),
                commitment,
            });
            (call, base.saturating_add(value).saturating_add(tip))
        }
        Action::ClaimRewards {} => (Call::Market(MarketCall::RewardMerchant {}), 0),
    };
    let tx = crust_client::sign_call(&signer, call, s.nonce, &s.genesis, s.head, &config);
    Ok(json!({
        "tx": crust_light::hex::encode(&tx.encode()),
        "hash": tx.hash(),
        "signer": signer.public().to_ss58(),
        "fee": tx.unsigned.fee.to_string(),
        "cost": cost.to_string(),
    }))
}

fn input_error(e: impl std::fmt::Display) -> Value {
    json!({ "error": e.to_string(), "kind": "input" })
}

fn verify_error(e: VerifyError) -> Value {
    let kind = match e {
        VerifyError::Contradiction(_) => "contradiction",
        VerifyError::Unverifiable(_) => "unverifiable",
    };
    json!({ "error": e.to_string(), "kind": kind })
}

fn reply<T: serde::Serialize>(r: Result<T, VerifyError>) -> Value {
    match r.map(|v| serde_json::to_value(v)) {
        Ok(Ok(v)) => json!({ "ok": v }),
        Ok(Err(e)) => input_error(e),
        Err(e) => verify_error(e),
    }
}

/// Runs one operation on its JSON input and returns the JSON reply.
pub fn handle(op: u32, input: &[u8]) -> Value {
    if input.len() > MAX_INPUT {
        return input_error(format!("input over {MAX_INPUT} bytes"));
    }
    match op {
        OP_START => match serde_json::from_slice::<Start>(input) {
            Ok(s) => reply(Anchor::from_genesis(s.genesis, &s.namespace, &s.handoff)),
            Err(e) => input_error(e),
        },
        OP_LEARN => match serde_json::from_slice::<Learn>(input) {
            Ok(mut l) => reply(l.anchor.learn(&l.handoff).map(|()| l.anchor)),
            Err(e) => input_error(e),
        },
        OP_CHECK => match serde_json::from_slice::<Check>(input) {
            Ok(c) => {
                reply(
                    c.anchor
                        .check(&c.method, &c.params, &c.answer, &c.headers, &c.finality),
                )
            }
            Err(e) => input_error(e),
        },
        OP_ADDRESS => match serde_json::from_slice::<Address>(input) {
            Ok(a) => match keypair(&a.secret) {
                Ok(k) => json!({ "ok": { "address": k.public().to_ss58() } }),
                Err(e) => e,
            },
            Err(e) => input_error(e),
        },
        OP_SIGN => match serde_json::from_slice::<Sign>(input) {
            Ok(s) => match sign(s) {
                Ok(v) => json!({ "ok": v }),
                Err(e) => e,
            },
            Err(e) => input_error(e),
        },
        other => input_error(format!("unknown operation {other}")),
    }
}

/// The WebAssembly interface: buffers in and out of this module's memory. The only unsafe
/// code in the project, and only in the wasm build.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod abi {
    use super::handle;

    /// A buffer of `len` bytes for the caller to fill (freed with [`free`]).
    #[unsafe(no_mangle)]
    pub extern "C" fn alloc(len: usize) -> *mut u8 {
        let mut buf = Vec::<u8>::with_capacity(len);
        let ptr = buf.as_mut_ptr();
        std::mem::forget(buf);
        ptr
    }

    /// Frees a buffer from [`alloc`] or a reply from [`call`].
    ///
    /// # Safety
    /// `ptr` and `len` must be exactly what `alloc` or `call` gave, and not freed before.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn free(ptr: *mut u8, len: usize) {
        // SAFETY: the caller passes a pointer and capacity this module allocated (see above).
        drop(unsafe { Vec::from_raw_parts(ptr, 0, len) });
    }

    /// Runs operation `op` on the JSON at `ptr..ptr+len` and returns `(reply_ptr << 32) | len`.
    ///
    /// # Safety
    /// `ptr..ptr+len` must be initialized memory of this module (from [`alloc`]).
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn call(op: u32, ptr: *const u8, len: usize) -> u64 {
        // SAFETY: the caller wrote `len` bytes at `ptr` (see above).
        let input = unsafe { std::slice::from_raw_parts(ptr, len) };
        let mut out = handle(op, input).to_string().into_bytes();
        out.shrink_to_fit();
        let (out_ptr, out_len) = (out.as_mut_ptr(), out.len());
        std::mem::forget(out);
        ((out_ptr as usize as u64) << 32) | out_len as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for (op, input) in [
            (OP_START, &b"{"[..]),
            (OP_LEARN, b"[]"),
            (OP_CHECK, b"{\"anchor\": 1}"),
            (OP_ADDRESS, b"{}"),
            (OP_SIGN, b"{\"secret\": \"//Alice\"}"),
            (9, b"{}"),
        ] {
            let r = handle(op, input);
            assert_eq!(r["kind"], "input", "{r}");
        }
    }

    #[test]
    fn a_key_typed_into_the_page_signs_what_the_chain_accepts() {
        let alice = Keypair::from_suri("//Alice").unwrap_or_else(|_| unreachable!());
        let r = handle(OP_ADDRESS, br#"{"secret": " //Alice "}"#);
        assert_eq!(r["ok"]["address"], alice.public().to_ss58());
        assert_eq!(
            handle(OP_ADDRESS, br#"{"secret": "not a key"}"#)["kind"],
            "input"
        );

        let config = crust_runtime::Genesis::reference(alice.public()).config;
        let prices = MarketParams::default();
        let cid = "QmSrGvDeKF5dTDpSWtEZd2FrzG8Craskz7t3Ps2JJwt8eP";
        let input = json!({
            "secret": "//Alice",
            "genesis": Hash([7; 32]),
            "nonce": 3,
            "head": 100,
            "config": HexBytes(crust_primitives::codec::encode(&config)),
            "prices": prices,
            "action": {"prepay": {"cid": cid, "amount": "1.5"}},
        });
        let r = handle(OP_SIGN, input.to_string().as_bytes());
        let ok = &r["ok"];
        assert_eq!(ok["signer"], alice.public().to_ss58(), "{r}");
        assert_eq!(ok["cost"], "1500000000000");
        let bytes =
            crust_light::hex::decode(ok["tx"].as_str().unwrap_or_default()).unwrap_or_default();
        let tx = crust_light::tx::Transaction::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tx.unsigned.nonce, 3);
        assert_eq!(tx.signer(), alice.public());
        assert!(
            tx.verify_signature(&Hash([7; 32])).is_ok(),
            "the signature checks under the genesis"
        );
        assert_eq!(ok["fee"], tx.unsigned.fee.to_string());
        assert!(matches!(
            tx.unsigned.call,
            Call::Market(MarketCall::AddPrepaid {
                amount: 1_500_000_000_000,
                ..
            })
        ));
        // Claiming rewards costs nothing but the fee.
        let mut claim = input.clone();
        claim["action"] = json!({"claim_rewards": {}});
        let r = handle(OP_SIGN, claim.to_string().as_bytes());
        assert_eq!(r["ok"]["cost"], "0", "{r}");
        let bytes = crust_light::hex::decode(r["ok"]["tx"].as_str().unwrap_or_default())
            .unwrap_or_default();
        let tx = crust_light::tx::Transaction::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            tx.unsigned.call,
            Call::Market(MarketCall::RewardMerchant {})
        ));
    }
}
