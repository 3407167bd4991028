//! The IPFS Pinning Service API's objects (ipfs/pinning-services-api-spec, v1.0.0): what a
//! client sends (`Pin`), what it gets back (`PinStatus`, `PinResults`, `Failure`), and the
//! bounds this service enforces on them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most origins a pin may name (the spec's bound).
pub const MAX_ORIGINS: usize = 20;
/// Most entries in a pin's `meta` (the spec's bound).
pub const MAX_META_ENTRIES: usize = 1000;
/// Longest `meta` key or value accepted, in bytes (ours: keeps records small).
pub const MAX_META_TEXT: usize = 1024;
/// Longest name (the spec's bound).
pub const MAX_NAME: usize = 255;
/// Most CIDs in a `cid` filter (the spec's bound).
pub const MAX_CID_FILTER: usize = 10;
/// Largest page (the spec's bound) and the default one.
pub const MAX_LIMIT: usize = 1000;
/// The page size when a request names none.
pub const DEFAULT_LIMIT: usize = 10;

/// What to pin: a CID, with an optional name, where to fetch it from, and the client's notes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The content's CID.
    pub cid: String,
    /// A name for people (not unique).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Multiaddrs of peers that have the content (storage nodes fetch from them first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<String>,
    /// The client's key/value notes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}

impl Pin {
    /// Checks the bounds: a CID that parses, a name, origins and meta within limits.
    pub fn validate(&self) -> Result<(), String> {
        self.cid
            .parse::<crust_primitives::Cid>()
            .map_err(|e| format!("cid '{}': {e}", self.cid))?;
        if self.name.as_ref().is_some_and(|n| n.len() > MAX_NAME) {
            return Err(format!("name is longer than {MAX_NAME} characters"));
        }
        if self.origins.len() > MAX_ORIGINS {
            return Err(format!("at most {MAX_ORIGINS} origins"));
        }
        if let Some(o) = self
            .origins
            .iter()
            .find(|o| !o.starts_with('/') || o.len() > 1024)
        {
            return Err(format!("origin '{o}' is not a multiaddr"));
        }
        if self.meta.len() > MAX_META_ENTRIES {
            return Err(format!("at most {MAX_META_ENTRIES} meta entries"));
        }
        if self
            .meta
            .iter()
            .any(|(k, v)| k.len() > MAX_META_TEXT || v.len() > MAX_META_TEXT)
        {
            return Err(format!(
                "meta keys and values are at most {MAX_META_TEXT} bytes"
            ));
        }
        Ok(())
    }
}

/// Where a pin is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted; nothing ordered or fetched yet.
    Queued,
    /// Ordered on chain; storage nodes are fetching it.
    Pinning,
    /// Held by enough storage nodes with proven replicas.
    Pinned,
    /// Given up on; `info.reason` says why.
    Failed,
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "queued" => Ok(Self::Queued),
            "pinning" => Ok(Self::Pinning),
            "pinned" => Ok(Self::Pinned),
            "failed" => Ok(Self::Failed),
            other => Err(format!(
                "status '{other}' is not one of queued, pinning, pinned, failed"
            )),
        }
    }
}

/// A pin request as the service answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinStatus {
    /// The request's id (changes when the pin is replaced).
    pub requestid: String,
    /// Where it is.
    pub status: Status,
    /// When it was accepted (RFC 3339, UTC, milliseconds).
    pub created: String,
    /// What was asked.
    pub pin: Pin,
    /// Peers the client should connect to so the content can be fetched (at least one).
    pub delegates: Vec<String>,
    /// Details: the order's state on chain, the reason of a failure.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub info: BTreeMap<String, String>,
}

/// A page of pin requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinResults {
    /// How many requests match the filters in all (not only on this page).
    pub count: usize,
    /// This page, newest first.
    pub results: Vec<PinStatus>,
}

/// The spec's error body: `{"error": {"reason", "details"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The error.
    pub error: FailureError,
}

/// A reason (upper-case, machine-readable) and details for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureError {
    /// E.g. `NOT_FOUND`, `UNAUTHORIZED`, `BAD_REQUEST`, `INSUFFICIENT_FUNDS`.
    pub reason: String,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// How `name` is matched in a listing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TextMatch {
    /// The same text.
    #[default]
    Exact,
    /// The same text, any case.
    Iexact,
    /// Contains it.
    Partial,
    /// Contains it, any case.
    Ipartial,
}

impl std::str::FromStr for TextMatch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "exact" => Ok(Self::Exact),
            "iexact" => Ok(Self::Iexact),
            "partial" => Ok(Self::Partial),
            "ipartial" => Ok(Self::Ipartial),
            other => Err(format!(
                "match '{other}' is not one of exact, iexact, partial, ipartial"
            )),
        }
    }
}

impl TextMatch {
    /// Whether `name` matches `wanted` in this mode.
    pub fn matches(self, name: &str, wanted: &str) -> bool {
        match self {
            Self::Exact => name == wanted,
            Self::Iexact => name.to_lowercase() == wanted.to_lowercase(),
            Self::Partial => name.contains(wanted),
            Self::Ipartial => name.to_lowercase().contains(&wanted.to_lowercase()),
        }
    }
}
