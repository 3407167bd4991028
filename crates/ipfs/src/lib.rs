//! The IPFS-compatible content layer.
//!
//! Users of the reference network put files on IPFS with `ipfs add` and read them through
//! gateways; this crate makes our node a drop-in for that. The same bytes get the same CID as
//! from Kubo ([`importer`]), blocks live in a crash-safe on-disk [`blockstore`] with pins and
//! garbage collection, DAGs move in and out as CARv1 ([`car`]), files stream back out with byte
//! ranges and path resolution ([`exporter`]), and HTTP clients reach all of it through the
//! trustless and path gateways ([`gateway`]).
//!
//! Every decoder here treats its input as hostile: sizes are bounded, errors are typed, and a
//! block is checked against its CID before anyone sees it.

pub mod block;
pub mod dagpb;
pub mod hamt;
pub mod importer;
pub mod pb;
pub mod unixfs;

pub use block::Block;
pub use crust_primitives::Cid;
pub use importer::{ImportOptions, Imported, Layout};
pub mod bitswap;
pub mod blockstore;
pub mod body;
pub mod car;
pub mod commitment;
pub mod exporter;
pub mod gateway;
pub mod identity;
pub mod ipns;
pub mod links;
pub mod repo;
pub mod tar;
