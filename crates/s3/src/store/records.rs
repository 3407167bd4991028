//! The records the store keeps, and what its calls answer.

use crust_primitives::{AccountId, Cid};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An access key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Its secret (SigV4 needs it to check signatures).
    pub secret: String,
    /// The account that pays for what it stores.
    pub account: AccountId,
    /// A name for the device or app holding it (unique per account).
    pub label: String,
    /// When it was made (ms since the UNIX epoch).
    pub created_ms: u64,
}

/// A bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    /// The account that owns it and pays for its objects.
    pub owner: AccountId,
    /// When it was made (ms since the UNIX epoch).
    pub created_ms: u64,
    /// Replicas each object's storage order asks for (0: objects are not ordered).
    pub replicas: u32,
    /// The location constraint it was made with (empty: none given).
    #[serde(default)]
    pub location: String,
}

/// An object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// Its content's root on the IPFS daemon.
    pub cid: Cid,
    /// Bytes of content.
    pub size: u64,
    /// Its DAG's cumulative size.
    pub tsize: u64,
    /// S3's ETag, without quotes (hex MD5, or hex MD5 of the parts' MD5s and `-N`).
    pub etag: String,
    /// When it was written (ms since the UNIX epoch).
    pub modified_ms: u64,
    /// `Content-Type`.
    pub content_type: String,
    /// The other stored headers (`content-encoding`, `cache-control`, …), lower-case.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// User metadata (`x-amz-meta-*`, names lower-case without the prefix).
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// Parts it was uploaded in (0: one piece).
    #[serde(default)]
    pub parts: u32,
    /// Each part's size, in order (multipart objects).
    #[serde(default)]
    pub part_sizes: Vec<u64>,
    /// Each part's checksum, in order (multipart objects that keep checksums).
    #[serde(default)]
    pub part_checksums: Vec<String>,
    /// `FULL_OBJECT` or `COMPOSITE` (of the parts' checksums), when there is a checksum.
    #[serde(default)]
    pub checksum_type: Option<String>,
    /// The checksum the client sent and we verified (algorithm name, base64).
    #[serde(default)]
    pub checksum: Option<(String, String)>,
}

/// Where an object's storage order is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderState {
    /// To be placed.
    Queued,
    /// The chain refused it (no approval, approval spent, funds short); tried again now and
    /// then.
    Refused,
    /// Placed; waiting for the bucket's replica count.
    Ordered,
    /// The bucket's replica count is proven; renewed while the content is held.
    Stored,
}

impl OrderState {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Refused => "refused",
            Self::Ordered => "ordered",
            Self::Stored => "stored",
        }
    }
}

/// A CID's storage order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// The account that pays (the owner of the first bucket that held the content).
    pub payer: AccountId,
    /// Proven replicas wanted.
    pub target: u32,
    /// Where it is.
    pub state: OrderState,
    /// Proven replicas last seen on chain.
    pub replicas: u32,
    /// The block its paid time ends at, as last seen (0: pending).
    pub expires_at: u64,
    /// Orders placed (the first and each renewal).
    pub orders: u32,
    /// Renewals placed.
    pub renewals: u32,
    /// The block that included the last order.
    pub last_order_block: u64,
    /// The size ordered.
    pub size: u64,
    /// The last error (empty: none).
    pub error: String,
    /// When it is next looked at (ms since the UNIX epoch).
    pub next_check_ms: u64,
}

/// A multipart upload in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// Who started it.
    pub owner: AccountId,
    /// When (ms since the UNIX epoch).
    pub initiated_ms: u64,
    /// What the object will carry (content fields empty until completion).
    pub object: ObjectRecord,
    /// The checksum algorithm every part gets (`x-amz-checksum-algorithm` at creation).
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
    /// `COMPOSITE` or `FULL_OBJECT` (`x-amz-checksum-type` at creation).
    #[serde(default)]
    pub checksum_type: Option<String>,
}

/// One uploaded part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// Its content's root.
    pub cid: Cid,
    /// Bytes.
    pub size: u64,
    /// Its DAG's cumulative size.
    pub tsize: u64,
    /// Hex MD5.
    pub etag: String,
    /// When it was uploaded (ms).
    pub modified_ms: u64,
    /// Its checksum in the upload's algorithm (base64), when the upload keeps checksums.
    #[serde(default)]
    pub checksum: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct Page {
    /// Objects, in key order.
    pub objects: Vec<(String, ObjectRecord)>,
    /// Common prefixes (with a delimiter), in order.
    pub prefixes: Vec<String>,
    /// Whether more follow.
    pub truncated: bool,
    /// The last key or prefix on the page (where the next page starts after).
    pub last: Option<String>,
}

/// What a conditional write requires of the object it replaces (`If-Match`,
/// `If-None-Match`; an ETag without quotes, or `*`).
#[derive(Debug, Default, Clone)]
pub struct Precondition {
    /// The current object must exist and (unless `*`) have this ETag.
    pub if_match: Option<String>,
    /// The current object must not exist (`*`) or must not have this ETag.
    pub if_none_match: Option<String>,
}

impl Precondition {
    pub(super) fn check(&self, current: Option<&ObjectRecord>) -> Put {
        if let Some(m) = &self.if_match {
            match current {
                None => return Put::NoSuchKey,
                Some(o) if m != "*" && *m != o.etag => return Put::PreconditionFailed,
                Some(_) => {}
            }
        }
        if let Some(m) = &self.if_none_match
            && let Some(o) = current
            && (m == "*" || *m == o.etag)
        {
            return Put::PreconditionFailed;
        }
        Put::Kept
    }
}

/// What became of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// Written.
    Kept,
    /// The bucket (or upload) is gone.
    Gone,
    /// `If-Match` named an object that does not exist.
    NoSuchKey,
    /// A precondition did not hold.
    PreconditionFailed,
}

/// A completed upload, remembered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completed {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// The object's ETag.
    pub etag: String,
    /// The object's CID.
    pub cid: Cid,
}

/// Why creating a bucket did not.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateBucket {
    /// Made.
    Created,
    /// The caller already owns it.
    Owned,
    /// Someone else does.
    Taken,
}
