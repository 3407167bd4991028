//! SGX DCAP registration (D17b) against a real, public quote: the SGX sample quote and its
//! collateral (fetched from Intel's PCS in June 2025) that ship in the `dcap-qvl` package.
//!
//! No SGX machine can produce a quote whose report data binds one of our keys here, so this
//! real quote passes every check up to the binding — certificate chain, CRLs, signatures,
//! collateral time, TCB policy, MRENCLAVE — and is then refused only because its report data
//! was made for someone else. Each earlier check is shown failing on its own. The accepting
//! path itself runs under a test PKI in `dcap_accept_tests`.

use super::dcap::SgxPolicy;
use super::*;
use crate::state::StateExt;
use crate::testing::*;
use crust_primitives::Keypair;
use std::path::PathBuf;

/// A time inside every validity window of the sample collateral: 2025-06-25T00:00:00Z.
const SAMPLE_NOW_MS: u64 = 1_750_809_600_000;
/// The sample's status (it needs configuration and software hardening) and advisories.
const SAMPLE_STATUS: u16 = SgxPolicy::CONFIGURATION_AND_SW_HARDENING_NEEDED;
const SAMPLE_ADVISORY: u32 = 615;

/// The `sample/` directory of the `dcap-qvl` package cargo downloaded for this build.
fn sample_dir() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Only this platform's packages: the others (Windows-only crates, say) were never
    // downloaded, and `--offline` metadata would otherwise ask for them.
    let version = std::process::Command::new(&cargo)
        .arg("-vV")
        .output()
        .unwrap();
    let host = String::from_utf8_lossy(&version.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("cargo -vV names the host");
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pkg = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "dcap-qvl")
        .expect("dcap-qvl in the dependency graph");
    let manifest = PathBuf::from(pkg["manifest_path"].as_str().unwrap());
    manifest.parent().unwrap().join("sample")
}

struct Sample {
    quote: Vec<u8>,
    collateral: Vec<u8>,
    /// MRENCLAVE: bytes 112..144 of a v3 quote (48-byte header, then the report body with
    /// cpu_svn 16, misc_select 4, reserved 28, attributes 16).
    mr_enclave: CodeMeasurement,
}

fn sample() -> Sample {
    let dir = sample_dir();
    let quote = std::fs::read(dir.join("sgx_quote")).unwrap();
    let collateral = std::fs::read(dir.join("sgx_quote_collateral.json")).unwrap();
    assert_eq!(u16::from_le_bytes([quote[0], quote[1]]), 3, "a v3 quote");
    let mr_enclave = quote[112..144].try_into().unwrap();
    Sample {
        quote,
        collateral,
        mr_enclave,
    }
}

/// A chain at the sample's time with the sample's MRENCLAVE allowlisted.
fn chain_at(now_ms: u64, code: &CodeMeasurement) -> Chain {
    let mut chain = Chain::mock();
    let root = chain.root();
    set_code(&mut chain.state, &root, code, 100_000).unwrap();
    chain.state.write(&crate::system::now_key(), &now_ms);
    chain
}

fn set_policy(chain: &mut Chain, accepted_statuses: u16, rejected_advisories: Vec<u32>) {
    let root = chain.root();
    let policy = SgxPolicy {
        accepted_statuses,
        rejected_advisories,
        out_of_date_grace_secs: 0,
    };
    set_sgx_policy(&mut chain.state, &root, &policy).unwrap();
}

/// Registers a fresh enclave key for Alice with the given quote and collateral.
fn register_with(
    chain: &mut Chain,
    code: &CodeMeasurement,
    quote: Vec<u8>,
    collateral: Vec<u8>,
) -> Result<(), SworkError> {
    let enclave = Keypair::from_suri("//sgx-enclave").unwrap();
    let payload = registration_payload(code, &ALICE, &enclave.public().0);
    let ctx = chain.ctx(ALICE);
    register(
        &mut chain.state,
        &ctx,
        code,
        &enclave.public().0,
        &enclave.sign(&payload),
        &Attestation::SgxDcap { quote, collateral },
    )
}

fn rejection(result: Result<(), SworkError>) -> String {
    match result {
        Err(SworkError::AttestationRejected(why)) => why,
        other => panic!("expected an attestation rejection, got {other:?}"),
    }
}

#[test]
fn a_genuine_quote_passes_every_check_up_to_the_key_binding() {
    let s = sample();
    let mut chain = chain_at(SAMPLE_NOW_MS, &s.mr_enclave);
    set_policy(&mut chain, SgxPolicy::UP_TO_DATE | SAMPLE_STATUS, vec![]);
    let why = rejection(register_with(
        &mut chain,
        &s.mr_enclave,
        s.quote,
        s.collateral,
    ));
    assert!(why.contains("does not bind this account"), "{why}");
    assert!(
        pubkey(
            &chain.state,
            &Keypair::from_suri("//sgx-enclave").unwrap().public().0
        )
        .unwrap()
        .is_none()
    );
}

#[test]
fn the_default_policy_accepts_only_patched_platforms() {
    let s = sample();
    let mut chain = chain_at(SAMPLE_NOW_MS, &s.mr_enclave);
    assert_eq!(sgx_policy(&chain.state).unwrap(), SgxPolicy::default());
    let why = rejection(register_with(
        &mut chain,
        &s.mr_enclave,
        s.quote,
        s.collateral,
    ));
    assert!(why.contains("quote verification failed"), "{why}");
    assert!(why.contains("ConfigurationAndSWHardeningNeeded"), "{why}");
}

#[test]
fn a_rejected_advisory_refuses_an_accepted_status() {
    let s = sample();
    let mut chain = chain_at(SAMPLE_NOW_MS, &s.mr_enclave);
    set_policy(&mut chain, SAMPLE_STATUS, vec![SAMPLE_ADVISORY]);
    let why = rejection(register_with(
        &mut chain,
        &s.mr_enclave,
        s.quote,
        s.collateral,
    ));
    assert!(why.contains("INTEL-SA-00615"), "{why}");
}

#[test]
fn collateral_is_checked_against_the_block_time() {
    let s = sample();
    // A year later every piece of the collateral has expired.
    let mut chain = chain_at(SAMPLE_NOW_MS + 365 * 86_400_000, &s.mr_enclave);
    set_policy(&mut chain, SAMPLE_STATUS, vec![]);
    let why = rejection(register_with(
        &mut chain,
        &s.mr_enclave,
        s.quote.clone(),
        s.collateral.clone(),
    ));
    assert!(why.contains("quote verification failed"), "{why}");
    assert!(!why.contains("does not bind"), "{why}");
    // Before the first block the chain has no time at all.
    let mut chain = chain_at(0, &s.mr_enclave);
    set_policy(&mut chain, SAMPLE_STATUS, vec![]);
    let why = rejection(register_with(
        &mut chain,
        &s.mr_enclave,
        s.quote,
        s.collateral,
    ));
    assert!(why.contains("quote verification failed"), "{why}");
}

#[test]
fn the_quote_must_measure_the_registered_code() {
    let s = sample();
    let other: CodeMeasurement = [0xc0; 32];
    let mut chain = chain_at(SAMPLE_NOW_MS, &other);
    set_policy(&mut chain, SAMPLE_STATUS, vec![]);
    let why = rejection(register_with(&mut chain, &other, s.quote, s.collateral));
    assert!(why.contains("the quote measures code"), "{why}");
}

#[test]
fn tampered_quotes_and_collateral_are_rejected_without_panics() {
    let s = sample();
    let mut chain = chain_at(SAMPLE_NOW_MS, &s.mr_enclave);
    set_policy(&mut chain, SAMPLE_STATUS, vec![]);
    // A changed report body (its report data) breaks the QE's signature.
    let mut q = s.quote.clone();
    q[400] ^= 1;
    let why = rejection(register_with(
        &mut chain,
        &s.mr_enclave,
        q,
        s.collateral.clone(),
    ));
    assert!(why.contains("quote verification failed"), "{why}");
    // A changed TCB info breaks Intel's signature over it.
    let text = String::from_utf8(s.collateral.clone()).unwrap();
    let forged = text.replacen("ConfigurationAndSWHardeningNeeded", "UpToDate", 1);
    assert_ne!(forged, text);
    let why = rejection(register_with(
        &mut chain,
        &s.mr_enclave,
        s.quote.clone(),
        forged.into_bytes(),
    ));
    assert!(why.contains("quote verification failed"), "{why}");
    // Truncations at every length and garbage collateral.
    for len in (0..s.quote.len()).step_by(97) {
        let why = rejection(register_with(
            &mut chain,
            &s.mr_enclave,
            s.quote[..len].to_vec(),
            s.collateral.clone(),
        ));
        assert!(!why.is_empty());
    }
    let why = rejection(register_with(
        &mut chain,
        &s.mr_enclave,
        s.quote,
        b"not json".to_vec(),
    ));
    assert!(why.starts_with("collateral:"), "{why}");
}

#[test]
fn only_governance_sets_a_policy_and_it_must_accept_something() {
    let mut chain = Chain::mock();
    let ctx = chain.ctx(ALICE);
    let policy = SgxPolicy {
        accepted_statuses: SgxPolicy::OUT_OF_DATE,
        rejected_advisories: vec![],
        out_of_date_grace_secs: 90 * 86_400,
    };
    assert!(matches!(
        set_sgx_policy(&mut chain.state, &ctx, &policy),
        Err(SworkError::System(_))
    ));
    let root = chain.root();
    let none = SgxPolicy {
        accepted_statuses: 0,
        rejected_advisories: vec![],
        out_of_date_grace_secs: 0,
    };
    assert!(matches!(
        set_sgx_policy(&mut chain.state, &root, &none),
        Err(SworkError::SgxPolicy(_))
    ));
    set_sgx_policy(&mut chain.state, &root, &policy).unwrap();
    assert_eq!(sgx_policy(&chain.state).unwrap(), policy);
    // The policy travels in a transaction: its encoding round-trips.
    let call = SworkCall::SetSgxPolicy { policy };
    let bytes = crust_primitives::codec::encode(&call);
    assert_eq!(
        crust_primitives::codec::decode::<SworkCall>(&bytes).unwrap(),
        call
    );
}
