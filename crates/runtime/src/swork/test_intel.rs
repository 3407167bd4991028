//! A stand-in for Intel's side of SGX DCAP, for tests only: a root CA, a PCK platform CA,
//! a PCK certificate carrying the SGX extension, a TCB signer, CRLs, signed TCB info and QE
//! identity, and a quoting enclave that signs v3 quotes with an attestation key it vouches for.
//!
//! No SGX machine is available here, and no quote binding our keys can be signed under
//! Intel's real root, so the accepting path of [`super::dcap::verify`] is tested against this
//! PKI, trusted for one thread through [`super::dcap::test_root`]. Everything else — the
//! parsing, every signature, the chain, the CRLs, the collateral's times, the TCB match and
//! the policy — is the production verifier (`dcap-qvl`) unchanged. Formats follow Intel's
//! "SGX ECDSA Quote Library API" (quote v3) and the PCS API (TCB info v3, QE identity v2).

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};

/// Intel's QE vendor ID, which the verifier requires in the quote header.
const QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];
/// The platform model (FMSPC) of the test PCK certificate and TCB info.
const FMSPC: [u8; 6] = [0x00, 0x90, 0x6e, 0xa1, 0x00, 0x00];
/// The quoting enclave's signer and product, as the QE identity names them.
const QE_MRSIGNER: [u8; 32] = [0x8c; 32];
const QE_PROD_ID: u16 = 1;
/// Size of an SGX report body (the enclave's and the QE's).
const REPORT: usize = 384;
/// The PCK certificate's serial number (what a CRL revokes).
pub(super) const PCK_SERIAL: u64 = 0x51;

/// The patch level of the test platform.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Platform {
    /// CPU SVN 2 in every component, PCE SVN 13: the TCB info's `UpToDate` level.
    Patched,
    /// CPU SVN 1: only the TCB info's `OutOfDate` level (advisory INTEL-SA-00999) matches.
    Behind,
}

/// What the collateral says, at which times; the defaults are valid at [`NOW_MS`].
#[derive(Clone, Debug)]
pub(super) struct Collateral {
    /// RFC 3339 issue date of the TCB info and QE identity.
    pub(super) issued: &'static str,
    /// RFC 3339 date by which new TCB info, QE identity and CRLs are due.
    pub(super) next_update: &'static str,
    /// Serials the PCK CRL revokes.
    pub(super) revoked: Vec<u64>,
}

/// 2026-06-01T00:00:00Z: a block time inside every validity window of the default collateral.
pub(super) const NOW_MS: u64 = 1_780_272_000_000;

impl Default for Collateral {
    fn default() -> Self {
        Self {
            issued: "2026-05-15T00:00:00Z",
            next_update: "2026-06-15T00:00:00Z",
            revoked: Vec::new(),
        }
    }
}

/// One P-256 key usable both by `rcgen` (certificates, CRLs) and for raw `r‖s` signatures.
struct Key {
    ring: EcdsaKeyPair,
    rcgen: rcgen::KeyPair,
}

impl Key {
    fn new(rng: &SystemRandom) -> Self {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng).unwrap();
        Self {
            ring: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), rng)
                .unwrap(),
            rcgen: rcgen::KeyPair::try_from(pkcs8.as_ref()).unwrap(),
        }
    }
    /// ECDSA-P256-SHA256 as SGX writes it: 64 bytes, `r‖s`.
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.ring
            .sign(&SystemRandom::new(), msg)
            .unwrap()
            .as_ref()
            .to_vec()
    }
    /// The public point as SGX writes it: 64 bytes, `x‖y`.
    fn public_xy(&self) -> Vec<u8> {
        self.ring.public_key().as_ref()[1..].to_vec()
    }
}

/// The test PKI and quoting enclave of one platform.
pub(super) struct TestIntel {
    root: rcgen::Certificate,
    root_key: Key,
    pck_ca: rcgen::Certificate,
    pck_ca_key: Key,
    pck: rcgen::Certificate,
    pck_key: Key,
    signer: rcgen::Certificate,
    signer_key: Key,
    attestation_key: Key,
}

fn name(cn: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    dn.push(
        rcgen::DnType::OrganizationName,
        "Crust test Intel (not Intel)",
    );
    dn
}

fn params(cn: &str, serial: u64, ca: bool) -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name = name(cn);
    p.serial_number = Some(rcgen::SerialNumber::from(serial));
    p.not_before = rcgen::date_time_ymd(2026, 1, 1);
    p.not_after = rcgen::date_time_ymd(2036, 1, 1);
    if ca {
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
    } else {
        p.is_ca = rcgen::IsCa::ExplicitNoCa;
        p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    }
    p
}

/// DER: a tag, a definite length, the content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// `SEQUENCE { OID 1.2.840.113741.1.13.1.<arc…>, value }`, one entry of the SGX extension.
fn sgx_entry(arcs: &[u8], value: Vec<u8>) -> Vec<u8> {
    let mut oid = vec![0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01];
    oid.extend_from_slice(arcs);
    der(0x30, &[der(0x06, &oid), value].concat())
}

/// The SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1): PPID, TCB (CPU SVN
/// components and PCE SVN), PCE ID, FMSPC and SGX type.
fn sgx_extension(cpu_svn: u8, pce_svn: u8) -> Vec<u8> {
    let mut tcb: Vec<u8> = (1..=16u8)
        .flat_map(|i| sgx_entry(&[2, i], der(0x02, &[cpu_svn])))
        .collect();
    tcb.extend(sgx_entry(&[2, 17], der(0x02, &[pce_svn])));
    tcb.extend(sgx_entry(&[2, 18], der(0x04, &[cpu_svn; 16])));
    der(
        0x30,
        &[
            sgx_entry(&[1], der(0x04, &[0x5a; 16])),
            sgx_entry(&[2], der(0x30, &tcb)),
            sgx_entry(&[3], der(0x04, &[0, 0])),
            sgx_entry(&[4], der(0x04, &FMSPC)),
            sgx_entry(&[5], der(0x0a, &[0])),
        ]
        .concat(),
    )
}

fn hex(bytes: &[u8]) -> String {
    crust_primitives::account::to_hex(bytes)
        .trim_start_matches("0x")
        .to_string()
}

impl TestIntel {
    /// A fresh PKI (new keys every time) for a platform at `platform`'s patch level.
    pub(super) fn new(platform: Platform) -> Self {
        let rng = SystemRandom::new();
        let root_key = Key::new(&rng);
        let root = params("Test SGX Root CA", 1, true)
            .self_signed(&root_key.rcgen)
            .unwrap();
        let pck_ca_key = Key::new(&rng);
        let pck_ca = params("Test SGX PCK Platform CA", 2, true)
            .signed_by(&pck_ca_key.rcgen, &root, &root_key.rcgen)
            .unwrap();
        let pck_key = Key::new(&rng);
        let mut p = params("Test SGX PCK Certificate", PCK_SERIAL, false);
        let cpu_svn = match platform {
            Platform::Patched => 2,
            Platform::Behind => 1,
        };
        p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
            &[1, 2, 840, 113_741, 1, 13, 1],
            sgx_extension(cpu_svn, 13),
        )];
        let pck = p
            .signed_by(&pck_key.rcgen, &pck_ca, &pck_ca_key.rcgen)
            .unwrap();
        let signer_key = Key::new(&rng);
        let signer = params("Test SGX TCB Signing", 3, false)
            .signed_by(&signer_key.rcgen, &root, &root_key.rcgen)
            .unwrap();
        Self {
            root,
            root_key,
            pck_ca,
            pck_ca_key,
            pck,
            pck_key,
            signer,
            signer_key,
            attestation_key: Key::new(&rng),
        }
    }

    /// The root CA's certificate (DER), the one trust anchor a verifier needs.
    pub(super) fn root_der(&self) -> Vec<u8> {
        self.root.der().to_vec()
    }

    /// A v3 quote of an enclave measuring `mr_enclave` with `report_data`, signed by the
    /// attestation key, which the quoting enclave's report (signed by the PCK key) vouches for.
    pub(super) fn quote(
        &self,
        mr_enclave: &[u8; 32],
        report_data: &[u8; 64],
        debug: bool,
    ) -> Vec<u8> {
        let mut quote = Vec::new();
        quote.extend(3u16.to_le_bytes()); // version
        quote.extend(2u16.to_le_bytes()); // attestation key: ECDSA P-256
        quote.extend(0u32.to_le_bytes()); // TEE: SGX
        quote.extend(1u16.to_le_bytes()); // QE SVN
        quote.extend(13u16.to_le_bytes()); // PCE SVN
        quote.extend(QE_VENDOR_ID);
        quote.extend([0; 20]); // user data
        let mut report = [0u8; REPORT];
        report[..16].fill(2); // CPU SVN
        report[48] = if debug { 0x02 } else { 0 } | 0x01; // attributes: INIT (+ DEBUG)
        report[64..96].copy_from_slice(mr_enclave);
        report[128..160].fill(0xee); // MRSIGNER of the enclave's author
        report[320..384].copy_from_slice(report_data);
        quote.extend(report);
        let quote_sig = self.attestation_key.sign(&quote);
        let attestation_pub = self.attestation_key.public_xy();
        let qe_auth = [0x42u8; 32];
        let mut qe_report = [0u8; REPORT];
        qe_report[48] = 0x11; // attributes: INIT, 64-bit mode (as the QE identity expects)
        qe_report[128..160].copy_from_slice(&QE_MRSIGNER);
        qe_report[256..258].copy_from_slice(&QE_PROD_ID.to_le_bytes());
        qe_report[258..260].copy_from_slice(&2u16.to_le_bytes()); // QE ISV SVN
        let binding: [u8; 32] =
            <sha2::Sha256 as sha2::Digest>::digest([attestation_pub.as_slice(), &qe_auth].concat())
                .into();
        qe_report[320..352].copy_from_slice(&binding);
        let qe_sig = self.pck_key.sign(&qe_report);
        let chain = [self.pck.pem(), self.pck_ca.pem(), self.root.pem()].concat();
        let mut auth = Vec::new();
        auth.extend(quote_sig);
        auth.extend(attestation_pub);
        auth.extend(qe_report);
        auth.extend(qe_sig);
        auth.extend((qe_auth.len() as u16).to_le_bytes());
        auth.extend(qe_auth);
        auth.extend(5u16.to_le_bytes()); // certification data: the PCK chain in PEM
        auth.extend((chain.len() as u32).to_le_bytes());
        auth.extend(chain.as_bytes());
        quote.extend((auth.len() as u32).to_le_bytes());
        quote.extend(auth);
        quote
    }

    /// The collateral a registrant fetches from the PCS, as the chain takes it (JSON).
    pub(super) fn collateral(&self, c: &Collateral) -> Vec<u8> {
        let level = |svn: u8, pce: u16, status: &str, advisories: &[&str]| {
            serde_json::json!({
                "tcb": {
                    "sgxtcbcomponents": (0..16).map(|_| serde_json::json!({"svn": svn})).collect::<Vec<_>>(),
                    "pcesvn": pce,
                },
                "tcbDate": "2026-03-01T00:00:00Z",
                "tcbStatus": status,
                "advisoryIDs": advisories,
            })
        };
        let tcb_info = serde_json::json!({
            "id": "SGX",
            "version": 3,
            "issueDate": c.issued,
            "nextUpdate": c.next_update,
            "fmspc": hex(&FMSPC),
            "pceId": "0000",
            "tcbType": 0,
            "tcbEvaluationDataNumber": 17,
            "tcbLevels": [
                level(2, 13, "UpToDate", &[]),
                level(0, 0, "OutOfDate", &["INTEL-SA-00999"]),
            ],
        })
        .to_string();
        let qe_identity = serde_json::json!({
            "id": "QE",
            "version": 2,
            "issueDate": c.issued,
            "nextUpdate": c.next_update,
            "tcbEvaluationDataNumber": 17,
            "miscselect": "00000000",
            "miscselectMask": "FFFFFFFF",
            "attributes": hex(&[0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            "attributesMask": hex(&[0xfb, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            "mrsigner": hex(&QE_MRSIGNER),
            "isvprodid": QE_PROD_ID,
            "tcbLevels": [{
                "tcb": {"isvsvn": 2},
                "tcbDate": "2026-03-01T00:00:00Z",
                "tcbStatus": "UpToDate",
                "advisoryIDs": [],
            }],
        })
        .to_string();
        let chain = [self.signer.pem(), self.root.pem()].concat();
        // `YYYY-MM-DDT00:00:00Z` as a date for `rcgen`.
        let n = |r: std::ops::Range<usize>| c.next_update[r].parse::<u8>().unwrap_or(0);
        let year = c.next_update[..4].parse::<i32>().unwrap();
        let next = rcgen::date_time_ymd(year, n(5..7), n(8..10));
        let crl = |issuer: &rcgen::Certificate, key: &Key, revoked: &[u64]| {
            rcgen::CertificateRevocationListParams {
                this_update: rcgen::date_time_ymd(2026, 5, 15),
                next_update: next,
                crl_number: rcgen::SerialNumber::from(1u64),
                issuing_distribution_point: None,
                revoked_certs: revoked
                    .iter()
                    .map(|s| rcgen::RevokedCertParams {
                        serial_number: rcgen::SerialNumber::from(*s),
                        revocation_time: rcgen::date_time_ymd(2026, 5, 1),
                        reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                        invalidity_date: None,
                    })
                    .collect(),
                key_identifier_method: rcgen::KeyIdMethod::Sha256,
            }
            .signed_by(issuer, &key.rcgen)
            .unwrap()
            .der()
            .to_vec()
        };
        let pck_crl_chain = [self.pck_ca.pem(), self.root.pem()].concat();
        serde_json::to_vec(&serde_json::json!({
            "pck_crl_issuer_chain": pck_crl_chain,
            "root_ca_crl": hex(&crl(&self.root, &self.root_key, &[])),
            "pck_crl": hex(&crl(&self.pck_ca, &self.pck_ca_key, &c.revoked)),
            "tcb_info_issuer_chain": chain,
            "tcb_info_signature": hex(&self.signer_key.sign(tcb_info.as_bytes())),
            "tcb_info": tcb_info,
            "qe_identity_issuer_chain": chain,
            "qe_identity_signature": hex(&self.signer_key.sign(qe_identity.as_bytes())),
            "qe_identity": qe_identity,
        }))
        .unwrap()
    }
}
