//! SGX DCAP attestation (D17b): an enclave proves its code and key with an Intel-signed quote.
//!
//! The registrant sends the quote and its collateral (TCB info, QE identity, CRLs and their
//! issuer chains, as fetched from Intel's PCS or a PCCS). The chain checks, with no I/O:
//! the certificate chain up to Intel's SGX root CA and the CRLs, the quote's signatures, that
//! every piece of collateral is valid at the *block's* timestamp (never a local clock), the
//! platform's TCB status against the governance [`SgxPolicy`], that the enclave is not in debug
//! mode, that its MRENCLAVE is the registered code measurement, and that the first 32 bytes of
//! its report data are the SHA-256 of the registration payload — binding the quote to this
//! account and this enclave key. Quote verification itself is the `dcap-qvl` crate (pure Rust,
//! no_std-capable, used on-chain by Phala Network).

use super::CodeMeasurement;
use dcap_qvl::{QuoteCollateralV3, QuotePolicy, TcbStatus, quote::Report, verify::QuoteVerifier};
use serde::Serialize;

/// Governance-set TCB policy for SGX quotes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SgxPolicy {
    /// Accepted TCB statuses: a bit set of the `SgxPolicy::*` status bits. `Revoked` is
    /// never accepted.
    pub accepted_statuses: u16,
    /// Intel security advisories (the number in `INTEL-SA-00289`) that make a quote
    /// unacceptable even when its status is accepted.
    pub rejected_advisories: Vec<u32>,
    /// How long after its TCB level's date an out-of-date platform or quoting enclave is
    /// still accepted, in seconds, where the out-of-date statuses are accepted at all (a
    /// grace period after Intel publishes a TCB recovery). Zero: only until that date.
    pub out_of_date_grace_secs: u64,
}
crust_primitives::impl_codec_struct!(SgxPolicy {
    accepted_statuses,
    rejected_advisories: crust_primitives::codec::max_items(MAX_REJECTED_ADVISORIES),
    out_of_date_grace_secs,
});

/// At most this many rejected advisories in a policy.
pub const MAX_REJECTED_ADVISORIES: usize = 64;

impl SgxPolicy {
    /// The platform is patched.
    pub const UP_TO_DATE: u16 = 1 << 0;
    /// Patched, but software mitigations are needed.
    pub const SW_HARDENING_NEEDED: u16 = 1 << 1;
    /// Patched, but the platform configuration needs changes.
    pub const CONFIGURATION_NEEDED: u16 = 1 << 2;
    /// Both of the above.
    pub const CONFIGURATION_AND_SW_HARDENING_NEEDED: u16 = 1 << 3;
    /// The platform's TCB is out of date.
    pub const OUT_OF_DATE: u16 = 1 << 4;
    /// Out of date and needs configuration changes.
    pub const OUT_OF_DATE_CONFIGURATION_NEEDED: u16 = 1 << 5;

    const STATUSES: [(u16, TcbStatus); 6] = [
        (Self::UP_TO_DATE, TcbStatus::UpToDate),
        (Self::SW_HARDENING_NEEDED, TcbStatus::SWHardeningNeeded),
        (Self::CONFIGURATION_NEEDED, TcbStatus::ConfigurationNeeded),
        (
            Self::CONFIGURATION_AND_SW_HARDENING_NEEDED,
            TcbStatus::ConfigurationAndSWHardeningNeeded,
        ),
        (Self::OUT_OF_DATE, TcbStatus::OutOfDate),
        (
            Self::OUT_OF_DATE_CONFIGURATION_NEEDED,
            TcbStatus::OutOfDateConfigurationNeeded,
        ),
    ];

    fn to_quote_policy(&self, now_secs: u64) -> QuotePolicy {
        // `strict` always accepts UpToDate; a policy without it is enforced by `verify`'s own
        // status check.
        let grace = core::time::Duration::from_secs(self.out_of_date_grace_secs);
        let mut policy = QuotePolicy::strict(now_secs)
            .platform_grace_period(grace)
            .qe_grace_period(grace);
        for (bit, status) in Self::STATUSES {
            if self.accepted_statuses & bit != 0 {
                policy = policy.allow_status(status);
            }
        }
        let ids: Vec<String> = self
            .rejected_advisories
            .iter()
            .map(|n| format!("INTEL-SA-{n:05}"))
            .collect();
        policy.reject_advisories(&ids)
    }
}

impl Default for SgxPolicy {
    /// Only fully patched platforms.
    fn default() -> Self {
        Self {
            accepted_statuses: Self::UP_TO_DATE,
            rejected_advisories: Vec::new(),
            out_of_date_grace_secs: 0,
        }
    }
}

/// Verifies an SGX DCAP `quote` with its JSON `collateral` at `now_secs` (the block's time)
/// under `policy`, for an enclave measuring `code` whose report data starts with `binding`.
pub fn verify(
    quote: &[u8],
    collateral: &[u8],
    now_secs: u64,
    policy: &SgxPolicy,
    code: &CodeMeasurement,
    binding: &[u8; 32],
) -> Result<(), String> {
    let collateral: QuoteCollateralV3 =
        serde_json::from_slice(collateral).map_err(|e| format!("collateral: {e}"))?;
    if policy.accepted_statuses == 0 {
        return Err("the SGX policy accepts no TCB status".into());
    }
    let quote_policy = policy.to_quote_policy(now_secs);
    // The verifier is third-party parsing code run on hostile input: a panic in it must
    // reject the registration, not stop the node.
    let claims = std::panic::catch_unwind(|| {
        verifier().verify_with_policy(quote, collateral, now_secs, &quote_policy)
    })
    .map_err(|_| "the quote could not be parsed".to_string())?
    .map_err(|e| format!("quote verification failed: {e:#}"))?;
    if policy.accepted_statuses & status_bit(&claims.tcb.status) == 0 {
        return Err(format!(
            "TCB status {:?} is not accepted by the SGX policy",
            claims.tcb.status
        ));
    }
    let Report::SgxEnclave(report) = &claims.report else {
        return Err("not an SGX enclave quote".into());
    };
    if &report.mr_enclave != code {
        return Err(format!(
            "the quote measures code {}, the registration names {}",
            crust_primitives::account::to_hex(&report.mr_enclave),
            crust_primitives::account::to_hex(code)
        ));
    }
    if report.report_data[..32] != binding[..] {
        return Err(
            "the quote's report data does not bind this account and enclave key".to_string(),
        );
    }
    Ok(())
}

/// The quote verifier, trusting Intel's SGX root CA. Only this crate's own unit tests can
/// name another root (see [`test_root`]); no feature, flag or chain parameter can.
#[cfg(not(test))]
fn verifier() -> QuoteVerifier {
    QuoteVerifier::new_prod()
}

#[cfg(test)]
fn verifier() -> QuoteVerifier {
    test_root::get().map_or_else(QuoteVerifier::new_prod, QuoteVerifier::new)
}

fn status_bit(status: &TcbStatus) -> u16 {
    SgxPolicy::STATUSES
        .iter()
        .find(|(_, s)| s == status)
        .map_or(0, |(bit, _)| *bit)
}

/// A test-only trusted root for this thread (the accepting path's tests build their own PKI,
/// since no quote binding our keys can be signed under Intel's root here).
#[cfg(test)]
pub(crate) mod test_root {
    use std::cell::RefCell;

    thread_local! {
        static ROOT: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
    }

    /// Trusts `root_der` instead of Intel's root for this thread until the guard drops.
    pub(crate) fn trust(root_der: &[u8]) -> Guard {
        ROOT.with(|r| *r.borrow_mut() = Some(root_der.to_vec()));
        Guard(())
    }

    pub(super) fn get() -> Option<Vec<u8>> {
        ROOT.with(|r| r.borrow().clone())
    }

    /// Restores Intel's root when dropped.
    pub(crate) struct Guard(());

    impl Drop for Guard {
        fn drop(&mut self) {
            ROOT.with(|r| *r.borrow_mut() = None);
        }
    }
}
