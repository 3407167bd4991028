//! An S3-compatible API over the network, so backup tools, data pipelines, rclone and every
//! cloud SDK store on it without knowing IPFS. Each object is UnixFS content on an IPFS daemon
//! (its CID in the [`CID_HEADER`] header and in listings), and, by its bucket's policy, a
//! storage order paid by the account its access key belongs to.
//!
//! - [`sigv4`]: AWS Signature Version 4 (header and presigned URLs); [`chunked`]: `aws-chunked`
//!   bodies with chunk signatures and checksum trailers; [`intake`]: an upload's body counted,
//!   hashed and checked on its way to the daemon;
//! - [`store`]: buckets, objects, uploads, parts and keys in redb, content shared by CID and
//!   released when nothing holds it;
//! - [`keys`]: access keys an account makes and revokes with signed requests;
//! - [`orders`]: each object's storage order, placed, followed to its replicas and renewed
//!   while the object exists;
//! - [`content`]: the IPFS daemon (Kubo RPC): add, cat, pin, and joining parts;
//! - [`service`], [`api`], [`object`], [`multipart`]: the HTTP side, S3's operations;
//! - [`http`], [`xml`], [`error`]: S3's dates, ranges, conditions, XML and errors.

pub mod api;
pub mod checksum;
pub mod chunked;
pub mod content;
pub mod error;
pub mod http;
pub mod intake;
pub mod keys;
pub mod multipart;
pub mod object;
pub mod orders;
pub mod service;
pub mod sigv4;
pub mod store;
pub mod xml;

pub use error::{S3Error, S3Result};
pub use service::{Service, Settings, router};
pub use store::Store;

/// The response header naming an object's CID.
pub const CID_HEADER: &str = "x-crust-cid";
/// The response header of GET and HEAD giving the object's storage order state (`queued`,
/// `refused`, `ordered`, `stored`); absent when its bucket orders nothing.
pub const ORDER_HEADER: &str = "x-crust-order";
/// Proven replicas of the object's content and the bucket's target (`2/3`).
pub const ORDER_REPLICAS_HEADER: &str = "x-crust-replicas";
/// The block the object's paid storage ends at (renewed before, while the object exists).
pub const ORDER_EXPIRES_HEADER: &str = "x-crust-expires-at";
/// Why the object's order is not placed (the chain's reason), while it is not.
pub const ORDER_ERROR_HEADER: &str = "x-crust-order-error";
/// The request header of `CreateBucket` choosing the bucket's replica count.
pub const REPLICAS_HEADER: &str = "x-crust-bucket-replicas";
