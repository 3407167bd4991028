//! SGX DCAP's accepting path end to end (D17b): a worker registers with a quote whose report
//! data binds its account and enclave key, then reports, proves its new replicas, answers the
//! chain's challenges slot after slot and is paid — under a test PKI ([`super::test_intel`])
//! trusted for this thread only. The production verifier runs unchanged; each way a quote or
//! its collateral can be wrong is shown refused, and the same quote is shown refused under
//! Intel's real root.

use super::challenge::FILE_CHALLENGES;
use super::challenge_tests::*;
use super::dcap::{SgxPolicy, test_root};
use super::test_intel::*;
use super::*;
use crate::state::StateExt;
use crate::testing::*;
use crust_primitives::Keypair;
use sha2::{Digest, Sha256};

/// Report data binding `payload` (a registration payload): its SHA-256, then zeros.
fn report_data(payload: &[u8]) -> [u8; 64] {
    let mut data = [0u8; 64];
    data[..32].copy_from_slice(&Sha256::digest(payload));
    data
}

/// A chain at `now_ms` with the test worker's code allowlisted.
fn chain_at(now_ms: u64) -> Chain {
    let mut chain = Chain::mock();
    let root = chain.root();
    set_code(&mut chain.state, &root, &Net::CODE, 100_000).unwrap();
    chain.state.write(&crate::system::now_key(), &now_ms);
    chain
}

fn set_policy(
    chain: &mut Chain,
    accepted_statuses: u16,
    rejected_advisories: Vec<u32>,
    grace_days: u64,
) {
    let root = chain.root();
    let policy = SgxPolicy {
        accepted_statuses,
        rejected_advisories,
        out_of_date_grace_secs: grace_days * 86_400,
    };
    set_sgx_policy(&mut chain.state, &root, &policy).unwrap();
}

/// The enclave key of the standalone registrations below.
fn enclave() -> Keypair {
    Keypair::from_suri("//dcap-enclave").unwrap()
}

/// `who` registers `enclave` (which signs its own registration) with `quote` and `collateral`.
fn register_as(
    chain: &mut Chain,
    who: AccountId,
    enclave: &Keypair,
    quote: &[u8],
    collateral: &[u8],
) -> Result<(), SworkError> {
    let payload = registration_payload(&Net::CODE, &who, &enclave.public().0);
    let ctx = chain.ctx(who);
    register(
        &mut chain.state,
        &ctx,
        &Net::CODE,
        &enclave.public().0,
        &enclave.sign(&payload),
        &Attestation::SgxDcap {
            quote: quote.to_vec(),
            collateral: collateral.to_vec(),
        },
    )
}

/// Alice registers `enclave()` with `quote` and `collateral`.
fn register_alice(
    chain: &mut Chain,
    quote: Vec<u8>,
    collateral: Vec<u8>,
) -> Result<(), SworkError> {
    register_as(chain, ALICE, &enclave(), &quote, &collateral)
}

/// A quote binding Alice's registration of `enclave()`.
fn alice_quote(intel: &TestIntel, debug: bool) -> Vec<u8> {
    let payload = registration_payload(&Net::CODE, &ALICE, &enclave().public().0);
    intel.quote(&Net::CODE, &report_data(&payload), debug)
}

/// A fresh test PKI for `platform`, trusted on this thread while the guard lives, with a quote
/// binding Alice's registration of `enclave()` and the default collateral.
fn trusted_setup(platform: Platform) -> (TestIntel, test_root::Guard, Vec<u8>, Vec<u8>) {
    let intel = TestIntel::new(platform);
    let trusted = test_root::trust(&intel.root_der());
    let quote = alice_quote(&intel, false);
    let collateral = intel.collateral(&Collateral::default());
    (intel, trusted, quote, collateral)
}

fn rejection(result: Result<(), SworkError>) -> String {
    match result {
        Err(SworkError::AttestationRejected(why)) => why,
        other => panic!("expected an attestation rejection, got {other:?}"),
    }
}

/// The attestation kind `enclave()` is registered under, if it is.
fn registered(chain: &Chain) -> Option<AttestationKind> {
    pubkey(&chain.state, &enclave().public().0)
        .unwrap()
        .map(|info| info.kind)
}

#[test]
fn a_dcap_attested_worker_registers_reports_proves_and_is_paid() {
    let intel = TestIntel::new(Platform::Patched);
    let _trusted = test_root::trust(&intel.root_der());
    let held = Held::mixed();
    let orders = held.files.iter().map(|f| (f.cid, f.size(), f.commitment()));
    let mut net = Net::attested(orders, |chain, payload| {
        chain.state.write(&crate::system::now_key(), &NOW_MS);
        assert_eq!(sgx_policy(&chain.state).unwrap(), SgxPolicy::default());
        Attestation::SgxDcap {
            quote: intel.quote(&Net::CODE, &report_data(payload), false),
            collateral: intel.collateral(&Collateral::default()),
        }
    });
    // Registered under DCAP, whose SRD counts toward stake limits by default (D31).
    let info = pubkey(&net.chain.state, &net.pk).unwrap().unwrap();
    assert_eq!(info.kind, AttestationKind::SgxDcap {});
    assert!(params(&net.chain.state).unwrap().srd_counts(info.kind));
    // Reports: the first adds every file, pending; each replica is proven against the
    // ordered content and starts earning.
    first_report(&mut net, &held);
    let id = identity(&net.chain.state, &ALICE).unwrap().unwrap();
    assert_eq!(
        (id.anchor, id.attestation),
        (net.pk, AttestationKind::SgxDcap {})
    );
    assert_eq!((net.spower(), net.reward()), (0, 0));
    let proofs = held.pending_proofs(&net.chain.state, &net.pk, &ALICE);
    assert_eq!(proofs.len(), held.files.len());
    net.prove(&proofs).unwrap();
    let stored: u64 = held.files.iter().map(File::size).sum();
    assert_eq!(net.spower(), stored);
    let first_payout = net.reward();
    assert!(first_payout > 0, "paid with the proof");
    // Challenges: three more slots, each report answering the chain's picks.
    for k in 2..=4 {
        net.advance(k * SLOT + 1);
        let r = net.report(k * SLOT, &held, &[], &[]);
        assert!(
            net.send(&r, &[]).is_err(),
            "a report that answers nothing is refused"
        );
        let answers = held.answers(&net.chain.state, &hash_of(k * SLOT), &net.pk);
        assert_eq!(answers.len() as u64, FILE_CHALLENGES);
        net.send(&r, &answers).unwrap();
    }
    for f in &held.files {
        assert_eq!(net.replicas(&f.cid), 1, "every replica kept");
    }
    assert_eq!(net.spower(), stored);
    assert_eq!(net.reward(), first_payout, "no payout twice");
    assert_eq!(
        work_report(&net.chain.state, &net.pk)
            .unwrap()
            .unwrap()
            .report_slot,
        4 * SLOT
    );
}

#[test]
fn the_test_pki_is_trusted_only_where_a_test_names_it() {
    let intel = TestIntel::new(Platform::Patched);
    let quote = alice_quote(&intel, false);
    let collateral = intel.collateral(&Collateral::default());
    // Under Intel's root, which the chain always uses outside these tests: refused.
    let mut chain = chain_at(NOW_MS);
    let why = rejection(register_alice(
        &mut chain,
        quote.clone(),
        collateral.clone(),
    ));
    assert!(why.contains("root CA CRL"), "{why}");
    assert_eq!(registered(&chain), None);
    // Under another test root: refused too.
    let other = TestIntel::new(Platform::Patched);
    let trusted = test_root::trust(&other.root_der());
    let why = rejection(register_alice(
        &mut chain,
        quote.clone(),
        collateral.clone(),
    ));
    assert!(why.contains("root CA CRL"), "{why}");
    drop(trusted);
    // Under its own root: accepted.
    let _trusted = test_root::trust(&intel.root_der());
    register_alice(&mut chain, quote, collateral).unwrap();
    assert_eq!(registered(&chain), Some(AttestationKind::SgxDcap {}));
}

#[test]
fn a_quote_binds_one_account_one_key_and_one_code() {
    let (intel, _trusted, quote, collateral) = trusted_setup(Platform::Patched);
    // Bob presents Alice's quote for the same enclave key.
    let mut chain = chain_at(NOW_MS);
    let why = rejection(register_as(
        &mut chain,
        BOB,
        &enclave(),
        &quote,
        &collateral,
    ));
    assert!(why.contains("does not bind"), "{why}");
    // Alice with another enclave key than the quote's.
    let other = Keypair::from_suri("//another-enclave").unwrap();
    let why = rejection(register_as(&mut chain, ALICE, &other, &quote, &collateral));
    assert!(why.contains("does not bind"), "{why}");
    // A quote of other (allowlisted) code than the registration names.
    let root = chain.root();
    set_code(&mut chain.state, &root, &[0xd0; 32], 100_000).unwrap();
    let payload = registration_payload(&Net::CODE, &ALICE, &enclave().public().0);
    let other_code = intel.quote(&[0xd0; 32], &report_data(&payload), false);
    let why = rejection(register_alice(&mut chain, other_code, collateral.clone()));
    assert!(why.contains("measures code"), "{why}");
    // A debug enclave, whose memory its host can read, proves nothing.
    let why = rejection(register_alice(
        &mut chain,
        alice_quote(&intel, true),
        collateral.clone(),
    ));
    assert!(why.contains("Debug mode"), "{why}");
    assert_eq!(registered(&chain), None);
    register_alice(&mut chain, quote, collateral).unwrap();
}

#[test]
fn a_quote_changed_after_signing_is_refused() {
    let (_intel, _trusted, quote, collateral) = trusted_setup(Platform::Patched);
    let mut chain = chain_at(NOW_MS);
    // The report data rewritten to bind another key: the attestation key's signature breaks.
    let other = Keypair::from_suri("//another-enclave").unwrap();
    let payload = registration_payload(&Net::CODE, &ALICE, &other.public().0);
    let mut forged = quote.clone();
    forged[48 + 320..48 + 352].copy_from_slice(&Sha256::digest(&payload));
    let why = rejection(register_as(&mut chain, ALICE, &other, &forged, &collateral));
    assert!(why.contains("enclave report signature is invalid"), "{why}");
    // The header and report body are signed by the attestation key, the QE report (which
    // vouches for that key) by the PCK key.
    for (at, expected) in [
        (0usize, "Unsupported quote version"),
        (12, "Unknown QE vendor ID"),
        (48 + 64, "enclave report signature is invalid"),
        (48 + 256, "enclave report signature is invalid"),
        (564 + 128, "Signature is invalid for qe_report"),
        (564 + 320, "Signature is invalid for qe_report"),
    ] {
        let mut bad = quote.clone();
        bad[at] ^= 1;
        let why = rejection(register_alice(&mut chain, bad, collateral.clone()));
        assert!(why.contains(expected), "byte {at}: {why}");
    }
    // Truncated anywhere: refused, never a panic.
    for len in [0, 47, 431, 436, 1000, quote.len() - 1] {
        let why = rejection(register_alice(
            &mut chain,
            quote[..len].to_vec(),
            collateral.clone(),
        ));
        assert!(why.contains("Failed to decode quote"), "{len} bytes: {why}");
    }
    assert_eq!(registered(&chain), None);
    register_alice(&mut chain, quote, collateral).unwrap();
}

#[test]
fn collateral_must_be_signed_current_and_not_revoke_the_platform() {
    let intel = TestIntel::new(Platform::Patched);
    let _trusted = test_root::trust(&intel.root_der());
    let quote = alice_quote(&intel, false);
    let good = Collateral::default();
    // The PCK certificate revoked by its CA.
    let mut chain = chain_at(NOW_MS);
    let revoked = Collateral {
        revoked: vec![PCK_SERIAL],
        ..good.clone()
    };
    let why = rejection(register_alice(
        &mut chain,
        quote.clone(),
        intel.collateral(&revoked),
    ));
    assert!(why.contains("CertRevoked"), "{why}");
    // Another serial revoked: no effect.
    let unrelated = Collateral {
        revoked: vec![PCK_SERIAL + 1],
        ..good.clone()
    };
    let mut chain = chain_at(NOW_MS);
    register_alice(&mut chain, quote.clone(), intel.collateral(&unrelated)).unwrap();
    // Collateral past its next update at the block's time, or not issued yet.
    let collateral = intel.collateral(&good);
    for (now, expected) in [
        (NOW_MS + 30 * 86_400_000, "CrlExpired"),
        (NOW_MS - 30 * 86_400_000, "issue date is in the future"),
    ] {
        let mut chain = chain_at(now);
        let why = rejection(register_alice(
            &mut chain,
            quote.clone(),
            collateral.clone(),
        ));
        assert!(why.contains(expected), "{why}");
    }
    // TCB info edited after Intel signed it (an out-of-date level relabelled).
    let mut json: serde_json::Value = serde_json::from_slice(&collateral).unwrap();
    let edited = json["tcb_info"]
        .as_str()
        .unwrap()
        .replace("OutOfDate", "UpToDate");
    json["tcb_info"] = edited.into();
    let mut chain = chain_at(NOW_MS);
    let why = rejection(register_alice(
        &mut chain,
        quote.clone(),
        serde_json::to_vec(&json).unwrap(),
    ));
    assert!(why.contains("Signature is invalid for tcb_info"), "{why}");
    // Collateral that is not JSON, or lacks a field.
    let why = rejection(register_alice(&mut chain, quote.clone(), b"{}".to_vec()));
    assert!(why.contains("collateral"), "{why}");
    assert_eq!(registered(&chain), None);
}

#[test]
fn an_out_of_date_platform_registers_only_where_the_policy_accepts_it() {
    let (_intel, _trusted, quote, collateral) = trusted_setup(Platform::Behind);
    let mut chain = chain_at(NOW_MS);
    let why = rejection(register_alice(
        &mut chain,
        quote.clone(),
        collateral.clone(),
    ));
    assert!(why.contains("OutOfDate is not acceptable"), "{why}");
    // Governance accepts out-of-date platforms, but only for a grace period after the
    // level's date (2026-03-01, 92 days before the block's time) and not with advisory 999.
    let behind = SgxPolicy::UP_TO_DATE | SgxPolicy::OUT_OF_DATE;
    set_policy(&mut chain, behind, vec![], 60);
    let why = rejection(register_alice(
        &mut chain,
        quote.clone(),
        collateral.clone(),
    ));
    assert!(why.contains("too old"), "{why}");
    set_policy(&mut chain, behind, vec![999], 120);
    let why = rejection(register_alice(
        &mut chain,
        quote.clone(),
        collateral.clone(),
    ));
    assert!(why.contains("INTEL-SA-00999"), "{why}");
    set_policy(&mut chain, behind, vec![], 120);
    register_alice(&mut chain, quote, collateral).unwrap();
    assert_eq!(registered(&chain), Some(AttestationKind::SgxDcap {}));
}
