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
//! [`OP_LEARN`] (the next era's committee from a handoff), [`OP_CHECK`] (a proven RPC answer).
//! Replies are `{"ok": …}` or `{"error": "…", "kind": "contradiction" | "unverifiable" |
//! "input"}` — a contradiction means the node's answer disagrees with its own proofs.

use crust_client::api::{BlockInfo, FinalityInfo, Handoff};
use crust_client::verify::{Anchor, VerifyError};
use crust_light::Hash;
use serde::Deserialize;
use serde_json::{Value, json};

/// `{genesis, namespace, handoff}` → the anchor with era 0's committee.
pub const OP_START: u32 = 1;
/// `{anchor, handoff}` → the anchor with the next era's committee.
pub const OP_LEARN: u32 = 2;
/// `{anchor, method, params, answer, headers, finality}` → the verified fields.
pub const OP_CHECK: u32 = 3;
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
            (9, b"{}"),
        ] {
            let r = handle(op, input);
            assert_eq!(r["kind"], "input", "{r}");
        }
    }
}
