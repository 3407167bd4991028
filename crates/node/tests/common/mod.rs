//! Helpers shared by the integration tests: the real IPFS peers from `interop/`.

#![allow(clippy::unwrap_used, dead_code)] // test helpers; each test file uses a subset

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `interop/` directory (peer scripts and their installed packages).
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

/// Installs (once, idempotent) and locates the interop peers.
pub fn harness() -> HashMap<String, String> {
    let out = Command::new("bash")
        .arg(interop_dir().join("setup.sh"))
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "interop/setup.sh failed: install the peers from npm/PyPI first"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A TCP port nothing listens on (bound, then released).
#[allow(dead_code)] // not every test binary that includes this module uses it
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
