//! HTTP APIs that existing IPFS tooling speaks, served over the node's repository.
//!
//! [`kubo`] is the Kubo RPC subset (`/api/v0/…`) that `kubo-rpc-client`, `ipfs --api` and the
//! reference network's own tools call: add, cat, ls, get, block, dag import/export, pin, id and
//! version, with Kubo's request shapes, streaming outputs and error bodies.

pub mod kubo;
