//! Misbehaviour evidence. Simplex reports a validator that signs two different votes for one
//! round (conflicting notarizes, conflicting finalizes, or a nullify beside a finalize). With
//! ed25519 every vote is attributable, so the two signed votes are proof on their own: the
//! engine's reporter puts them in an [`EvidencePool`], the next proposer carries them in its
//! block, every node checks them against the era's committee in the parent state ([`check`]),
//! and executing the block slashes the signer (`staking::report_equivocation`, the reference's
//! `min((3k/n)², 1)` equivocation fraction).

use super::{Scheme, account_of, public_key_of};
use crate::block::{Evidence, MAX_BLOCK_EVIDENCE, MAX_EVIDENCE_BYTES};
use crate::execute::Offence;
use crate::hash::Hash;
use commonware_actor::Feedback;
use commonware_codec::{Decode as _, Encode as _};
use commonware_consensus::simplex::types::{Activity, Attributable as _};
use commonware_consensus::{Epochable as _, Reporter, Viewable as _};
use commonware_cryptography::certificate::Verifier as _;
use commonware_cryptography::sha256::Digest;
use commonware_parallel::Sequential;
use commonware_utils::ordered::{Quorum as _, Set};
use crust_runtime::State;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// Most pieces of evidence waiting for a block; more are dropped until some are included.
pub const MAX_POOLED: usize = 256;

/// Evidence waiting for a block, shared by the engines' reporters and the block builder.
#[derive(Clone, Default)]
pub struct EvidencePool(Arc<Mutex<BTreeMap<Hash, Evidence>>>);

impl EvidencePool {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Hash, Evidence>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `evidence` unless it is already pooled or the pool is full; returns whether added.
    pub fn add(&self, evidence: Evidence) -> bool {
        let mut pool = self.lock();
        if pool.len() >= MAX_POOLED {
            return false;
        }
        pool.insert(evidence.hash(), evidence).is_none()
    }

    /// Everything pooled, in hash order.
    pub fn pending(&self) -> Vec<Evidence> {
        self.lock().values().cloned().collect()
    }

    /// Forgets evidence (included in a finalized block, or no longer usable).
    pub fn remove<'a>(&self, evidence: impl IntoIterator<Item = &'a Evidence>) {
        let mut pool = self.lock();
        for e in evidence {
            pool.remove(&e.hash());
        }
    }

    /// How many pieces wait.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a piece of evidence is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// The era has no committee in state.
    #[error("no committee is known for era {0}")]
    UnknownCommittee(u64),
    /// The bytes are not a consensus activity.
    #[error("malformed evidence: {0}")]
    Malformed(String),
    /// The activity is not a pair of conflicting votes.
    #[error("the activity is not a pair of conflicting votes")]
    NotConflicting,
    /// The votes belong to another era than the evidence claims.
    #[error("the votes are from era {votes}, not {claimed}")]
    WrongEra {
        /// In the votes.
        votes: u64,
        /// In the evidence.
        claimed: u64,
    },
    /// A signature does not verify under the era's committee.
    #[error("a vote's signature does not verify")]
    BadSignature,
}

/// Checks `evidence` against its era's committee in `state` (the including block's parent
/// state) and returns the offence it proves.
pub fn check(
    state: &impl State,
    namespace: &[u8],
    evidence: &Evidence,
) -> Result<Offence, EvidenceError> {
    let members = crust_runtime::staking::committee(state, evidence.era)
        .ok()
        .flatten()
        .ok_or(EvidenceError::UnknownCommittee(evidence.era))?;
    let participants =
        Set::from_iter_dedup(members.iter().filter_map(|m| public_key_of(&m.session_key)));
    let verifier = Scheme::verifier(namespace, participants.clone());
    let activity = Activity::<Scheme, Digest>::decode_cfg(
        commonware_codec::Copying(evidence.proof.as_slice()),
        &verifier.certificate_codec_config(),
    )
    .map_err(|e| EvidenceError::Malformed(e.to_string()))?;
    let (epoch, view, signer) = match &activity {
        Activity::ConflictingNotarize(c) => (c.epoch(), c.view(), c.signer()),
        Activity::ConflictingFinalize(c) => (c.epoch(), c.view(), c.signer()),
        Activity::NullifyFinalize(c) => (c.epoch(), c.view(), c.signer()),
        _ => return Err(EvidenceError::NotConflicting),
    };
    if epoch.get() != evidence.era {
        return Err(EvidenceError::WrongEra {
            votes: epoch.get(),
            claimed: evidence.era,
        });
    }
    let mut rng = VerifyRng::new(&evidence.hash());
    if !activity.verify(&mut rng, &verifier, &Sequential) {
        return Err(EvidenceError::BadSignature);
    }
    let key = participants
        .key(signer)
        .ok_or(EvidenceError::BadSignature)?;
    Ok(Offence {
        era: evidence.era,
        view: view.get(),
        offender: account_of(key),
    })
}

/// Checks a block's evidence in order against its parent state: every piece must verify, be
/// reportable (new, in the bonding window) and differ from the others. Returns the offences.
pub fn check_all(
    state: &impl State,
    namespace: &[u8],
    evidence: &[Evidence],
) -> Result<Vec<Offence>, String> {
    if evidence.len() > MAX_BLOCK_EVIDENCE {
        return Err(format!("{} pieces of evidence", evidence.len()));
    }
    let mut seen = BTreeSet::new();
    let mut offences = Vec::with_capacity(evidence.len());
    for (i, e) in evidence.iter().enumerate() {
        let o = check(state, namespace, e).map_err(|err| format!("evidence {i}: {err}"))?;
        if !seen.insert((o.era, o.view, o.offender)) {
            return Err(format!("evidence {i} repeats an offence of this block"));
        }
        if !reportable(state, &o) {
            return Err(format!("evidence {i} is already reported or out of date"));
        }
        offences.push(o);
    }
    Ok(offences)
}

/// Picks, from the pool, the evidence a block built on `state` may carry (at most
/// [`MAX_BLOCK_EVIDENCE`], each verified, reportable and distinct); drops what never will be.
pub fn select(
    state: &impl State,
    namespace: &[u8],
    pool: &EvidencePool,
) -> (Vec<Evidence>, Vec<Offence>) {
    let mut chosen = Vec::new();
    let mut offences: Vec<Offence> = Vec::new();
    let mut useless = Vec::new();
    for e in pool.pending() {
        if chosen.len() == MAX_BLOCK_EVIDENCE {
            break;
        }
        match check(state, namespace, &e) {
            Ok(o) if reportable(state, &o) && !offences.contains(&o) => {
                offences.push(o);
                chosen.push(e);
            }
            // Not reportable on this parent (already in an unfinalized ancestor that may yet
            // be abandoned, or its era not started here): kept until a finalized block has it
            // or it ages out of the bonding window.
            Ok(o) if !outdated(state, &o) => {}
            // A committee not yet in this state may still come.
            Err(EvidenceError::UnknownCommittee(_)) => {}
            _ => useless.push(e),
        }
    }
    pool.remove(&useless);
    (chosen, offences)
}

/// Whether the offence's era is older than the bonding window (it can never be reported).
fn outdated(state: &impl State, o: &Offence) -> bool {
    let active = crust_runtime::staking::active_era(state).unwrap_or(0);
    let window = crust_runtime::system::config(state)
        .map(|c| c.bonding_duration_eras)
        .unwrap_or(0);
    o.era.saturating_add(window) < active
}

fn reportable(state: &impl State, o: &Offence) -> bool {
    crust_runtime::staking::equivocation_reportable(state, o.era, o.view, &o.offender)
        .unwrap_or(false)
}

/// Simplex's reporter for one era: conflicting votes become evidence in the pool, and every
/// activity goes on to the inner reporter (marshal).
#[derive(Clone)]
pub struct EvidenceReporter<R> {
    inner: R,
    era: u64,
    pool: EvidencePool,
}

impl<R> EvidenceReporter<R> {
    /// Wraps `inner` for era `era`, collecting into `pool`.
    pub fn new(inner: R, era: u64, pool: EvidencePool) -> Self {
        Self { inner, era, pool }
    }
}

impl<R: Reporter<Activity = Activity<Scheme, Digest>>> Reporter for EvidenceReporter<R> {
    type Activity = Activity<Scheme, Digest>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        if matches!(
            activity,
            Activity::ConflictingNotarize(_)
                | Activity::ConflictingFinalize(_)
                | Activity::NullifyFinalize(_)
        ) {
            // Unverified here (the engine reports what it received); checked on inclusion.
            let proof = activity.encode().to_vec();
            if proof.len() <= MAX_EVIDENCE_BYTES
                && self.pool.add(Evidence {
                    era: self.era,
                    proof,
                })
            {
                tracing::warn!(
                    target: "crust::chain",
                    "conflicting votes observed in era {} (evidence pooled)",
                    self.era
                );
            }
        }
        self.inner.report(activity)
    }
}

pub(crate) use crust_light::finality::VerifyRng;
