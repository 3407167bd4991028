//! Builds the console's light client (`crates/verifier`) for `wasm32-unknown-unknown` and puts
//! it in `OUT_DIR/verifier.wasm` for the binary to embed, with a gzipped copy
//! (`verifier.wasm.gz`) the node serves to browsers that accept it.
//!
//! A nested `cargo build` with its own target directory (`target/wasm-verifier`, so it never
//! waits on the outer build's lock and stays incremental across check, test and release
//! builds). It needs the `wasm32-unknown-unknown` target and clang (blst, under the signature
//! crates, compiles C). Without them the console is built without verified mode and says so;
//! `CRUST_VERIFIER=require` (set by `.ci/run`) makes that an error instead, and
//! `CRUST_VERIFIER=skip` does not try.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CRUST_VERIFIER");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.join("../..");
    for dir in ["verifier", "client", "light", "runtime", "primitives"] {
        println!(
            "cargo:rerun-if-changed={}",
            root.join("crates").join(dir).display()
        );
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("verifier.wasm");
    let mode = std::env::var("CRUST_VERIFIER").unwrap_or_default();
    let built = if mode == "skip" {
        Err("CRUST_VERIFIER=skip".to_owned())
    } else {
        build(&root)
    };
    match built {
        Ok(wasm) => {
            if let Err(e) = std::fs::copy(&wasm, &out).and_then(|_| gzip(&out)) {
                fail(&mode, &out, &format!("copying {}: {e}", wasm.display()));
            }
        }
        Err(why) => fail(&mode, &out, &why),
    }
}

/// Without the verifier: an empty file (the console then says verified mode is not in this
/// build), or a build error when it is required.
fn fail(mode: &str, out: &Path, why: &str) {
    if mode == "require" {
        eprintln!("the console's WebAssembly verifier did not build:\n{why}");
        std::process::exit(1);
    }
    println!(
        "cargo:warning=the console is built without verified mode ({}); install clang and \
         `rustup target add wasm32-unknown-unknown` to include it",
        why.lines().last().unwrap_or(why)
    );
    let _ = std::fs::write(out, b"");
    let _ = std::fs::write(out.with_extension("wasm.gz"), b"");
}

/// Writes `<file>.gz` beside `file`, compressed as hard as gzip goes (done once per build).
fn gzip(file: &Path) -> std::io::Result<()> {
    use std::io::Write as _;
    let bytes = std::fs::read(file)?;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&bytes)?;
    std::fs::write(file.with_extension("wasm.gz"), z.finish()?)
}

fn build(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = root.join("target").join("wasm-verifier");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args([
        "build",
        "--package",
        "crust-verifier",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "wasm",
        "--locked",
        "--quiet",
    ]);
    cmd.arg("--target-dir").arg(&target_dir);
    // The outer build's settings are not the nested one's (clippy's wrapper, flags for the
    // host, the outer target directory).
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let outer = key.starts_with("CARGO_")
            && !matches!(
                key.as_str(),
                "CARGO_HOME" | "CARGO_MAKEFLAGS" | "CARGO_NET_OFFLINE"
            );
        if outer
            || matches!(
                key.as_str(),
                "RUSTC_WRAPPER" | "RUSTC_WORKSPACE_WRAPPER" | "RUSTFLAGS" | "RUSTDOCFLAGS"
            )
        {
            cmd.env_remove(&key);
        }
    }
    let output = cmd.output().map_err(|e| format!("running cargo: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let wasm = target_dir.join("wasm32-unknown-unknown/wasm/crust_verifier.wasm");
    if wasm.exists() {
        Ok(wasm)
    } else {
        Err(format!("{} is missing after the build", wasm.display()))
    }
}
