//! JSON-RPC 2.0 framing shared by the server and clients: request and reply envelopes, error
//! codes, and decoding a method's typed parameters.

use crate::api::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Error codes the node answers with.
pub mod code {
    /// The request is not JSON.
    pub const PARSE: i64 = -32700;
    /// No such method.
    pub const UNKNOWN_METHOD: i64 = -32601;
    /// The parameters are missing or malformed.
    pub const BAD_PARAMS: i64 = -32602;
    /// The node failed (a disk read, say).
    pub const INTERNAL: i64 = -32603;
    /// A transaction was refused.
    pub const REFUSED: i64 = 1;
    /// The thing asked about does not exist (yet) or cannot be answered here.
    pub const NOT_FOUND: i64 = 2;
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct ErrorObject {
    /// One of [`code`].
    pub code: i64,
    /// What went wrong, for people.
    pub message: String,
}

impl ErrorObject {
    /// An error with `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A request body for `method` with `params`.
pub fn request(id: u64, method: &str, params: &Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

/// A success reply.
pub fn reply(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// An error reply.
pub fn error_reply(id: &Value, error: &ErrorObject) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": error })
}

/// A subscription notification.
pub fn notification(method: &str, subscription: u64, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "method": method, "params": { "subscription": subscription, "result": result } })
}

/// A request's parts: `(id, method, params)`; `params` absent or `null` reads as `{}`.
pub fn parse_request(body: &[u8]) -> Result<(Value, String, Value), ErrorObject> {
    let request: Value = serde_json::from_slice(body)
        .map_err(|_| ErrorObject::new(code::PARSE, "request is not JSON"))?;
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let params = match request.get("params") {
        None | Some(Value::Null) => json!({}),
        Some(p) => p.clone(),
    };
    Ok((id, method, params))
}

/// `M`'s parameters from a request's `params`.
pub fn params<M: Method>(params: Value) -> Result<M::Params, ErrorObject> {
    let params = if params.is_null() { json!({}) } else { params };
    serde_json::from_value(params)
        .map_err(|e| ErrorObject::new(code::BAD_PARAMS, format!("params: {e}")))
}

/// A reply's result, or its error.
pub fn parse_reply(body: &str) -> Result<Value, ReplyError> {
    let mut reply: Value =
        serde_json::from_str(body).map_err(|e| ReplyError::Malformed(e.to_string()))?;
    if let Some(err) = reply.get("error") {
        let err: ErrorObject = serde_json::from_value(err.clone())
            .map_err(|e| ReplyError::Malformed(format!("error object: {e}")))?;
        return Err(ReplyError::Rpc(err));
    }
    match reply.get_mut("result") {
        Some(result) => Ok(result.take()),
        None => Err(ReplyError::Malformed("no result and no error".into())),
    }
}

/// Why a reply carried no result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The node answered with an error.
    #[error("{}", .0.message)]
    Rpc(ErrorObject),
    /// The reply is not a JSON-RPC reply.
    #[error("malformed reply: {0}")]
    Malformed(String),
}
