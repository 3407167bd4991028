//! sWork types, errors and events.

use crate::balances::BalancesError;
use crate::benefits::BenefitsError;
use crate::market::{Anchor, MarketError};
use crate::state::StateError;
use crate::system::SystemError;
use crust_primitives::codec::max_items;
use crust_primitives::{AccountId, BlockHeight, Cid, Signature};
use serde::{Deserialize, Serialize};

/// A storage worker's enclave public key (ed25519). Once bound by a first report it is the
/// worker's anchor.
pub type EnclaveKey = [u8; 32];
/// An enclave code measurement (e.g. MRENCLAVE).
pub type CodeMeasurement = [u8; 32];
/// A 32-byte root or hash.
pub type Root = [u8; 32];

/// Most files added (and, separately, deleted) in one report (reference `FILES_COUNT_LIMIT`).
pub const FILES_COUNT_LIMIT: usize = 300;
/// Reports must claim less SRD than 2 PiB (reference `SRD_LIMIT`).
pub const SRD_LIMIT: u64 = 1 << 51;
/// Reports must claim fewer file bytes than 8 PiB (reference `FILES_LIMIT`).
pub const FILES_LIMIT: u64 = 1 << 53;
/// Most members, and separately most allowlisted accounts, per group (reference `MaxGroupSize`).
pub const MAX_GROUP_SIZE: usize = 1000;
/// Most attestation authorities.
pub const MAX_AUTHORITIES: usize = 64;
/// A new identity's first slot-end check always passes (reference `NEW_IDENTITY`).
pub const NEW_IDENTITY: u64 = 1;
/// Slots of history kept for "reported in slot" records (reference `HistorySlotDepth` = 6).
pub const HISTORY_SLOT_DEPTH: u64 = 6;
/// Replica changes applied to the market per block at most (D5: the rest wait, none dropped).
pub const REPLICA_BATCH: usize = 1000;
/// Identities evaluated per block during slot-end consolidation (reference 500).
pub const IDENTITY_BATCH: usize = 500;
/// Longest peer ID text in a [`PeerRecord`] (a base58 ed25519 peer ID is 52 characters).
pub const MAX_PEER_ID_BYTES: usize = 64;
/// Most addresses in a [`PeerRecord`].
pub const MAX_PEER_ADDRS: usize = 4;
/// Longest address text in a [`PeerRecord`].
pub const MAX_PEER_ADDR_BYTES: usize = 128;

/// A registered enclave key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PubKeyInfo {
    /// The code measurement it attested.
    pub code: CodeMeasurement,
    /// The anchor it reports for: `None` until its first report (or A/B upgrade) binds it.
    pub anchor: Option<Anchor>,
    /// How it was attested (D31).
    pub kind: AttestationKind,
}
crust_primitives::impl_codec_struct!(PubKeyInfo { code, anchor, kind });

/// How an enclave key was attested (D31): what the chain may take its word for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttestationKind {
    /// Signed by attestation authorities (D17a): people vouch for the enclave, no hardware.
    Authorities {},
    /// An SGX DCAP quote checked on chain (D17b): the hardware vouches for the enclave.
    SgxDcap {},
}
crust_primitives::impl_codec_enum!(AttestationKind {
    0 => Authorities {},
    1 => SgxDcap {},
});

impl Default for AttestationKind {
    fn default() -> Self {
        Self::Authorities {}
    }
}

impl AttestationKind {
    /// Its name in RPC answers and CLI output.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Authorities {} => "authorities",
            Self::SgxDcap {} => "sgx-dcap",
        }
    }
}

/// Where a storage identity serves its replicas on the data network: its libp2p peer ID and
/// dialable multiaddrs, as text (`12D3Koo…`, `/ip4/…/tcp/…`). Not in the reference network
/// (it leaves retrieval to IPFS routing); here it maps an order's replica holders to peers, so
/// fetchers look there first and servers credit those peers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerRecord {
    /// The peer ID, base58 or CID text.
    pub peer_id: Vec<u8>,
    /// Multiaddrs without the `/p2p/…` suffix.
    pub addrs: Vec<Vec<u8>>,
}
crust_primitives::impl_codec_struct!(PeerRecord {
    peer_id: max_items(MAX_PEER_ID_BYTES),
    addrs: (
        crust_primitives::codec::RangeCfg::from(..=MAX_PEER_ADDRS),
        max_items(MAX_PEER_ADDR_BYTES)
    ),
});

impl PeerRecord {
    /// The peer ID as text (records are checked to be ASCII when set).
    pub fn peer_id_text(&self) -> String {
        String::from_utf8_lossy(&self.peer_id).into_owned()
    }

    /// The addresses as text.
    pub fn addr_texts(&self) -> Vec<String> {
        self.addrs
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }
}

/// A reporting account's storage identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The anchor (first enclave key bound; kept across A/B upgrades).
    pub anchor: Anchor,
    /// Slot until which its workload counts as zero (1 = new, 0 = none).
    pub punishment_deadline: u64,
    /// The group owner it belongs to, if any.
    pub group: Option<AccountId>,
    /// How its reporting key was attested (D31): decides whether its SRD counts.
    pub attestation: AttestationKind,
}
crust_primitives::impl_codec_struct!(Identity {
    anchor,
    punishment_deadline,
    group,
    attestation
});

/// The last accepted report of a worker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkReportRecord {
    /// The slot it was for.
    pub report_slot: u64,
    /// Sealed random data (spare space) in bytes.
    pub free: u64,
    /// Bytes of files held.
    pub reported_files_size: u64,
    /// Merkle root over SRD units (D13).
    pub srd_root: Root,
    /// Merkle root over held files sorted by CID (D13).
    pub files_root: Root,
    /// Hash of the accepted report; the next report must name it (D14).
    pub report_hash: Root,
    /// Files under `files_root`, counted by the chain from the change lists (the storage
    /// challenges' trees are checked against this count, never the prover's, D18).
    pub files_count: u64,
}
crust_primitives::impl_codec_struct!(WorkReportRecord {
    report_slot,
    free,
    reported_files_size,
    srd_root,
    files_root,
    report_hash,
    files_count,
});

/// A file in a report's change lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedFile {
    /// The file's CID.
    pub cid: Cid,
    /// Its size in bytes (must equal the ordered size, D10).
    pub size: u64,
}
crust_primitives::impl_codec_struct!(ReportedFile { cid, size });

/// A work report, as the enclave signs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkReport {
    /// The reporting enclave's key.
    pub curr_pk: EnclaveKey,
    /// The previous enclave's key during an A/B upgrade.
    pub ab_upgrade_pk: Option<EnclaveKey>,
    /// The report slot (its first block's height).
    pub slot: u64,
    /// The hash of block `slot`.
    pub slot_hash: Root,
    /// SRD bytes.
    pub srd_size: u64,
    /// File bytes held after this report's changes.
    pub files_size: u64,
    /// SRD Merkle root.
    pub srd_root: Root,
    /// Files Merkle root (sorted by CID).
    pub files_root: Root,
    /// Files added since the last accepted report.
    pub added: Vec<ReportedFile>,
    /// Files deleted since the last accepted report.
    pub deleted: Vec<ReportedFile>,
    /// Hash of the last accepted report (zero for the first report of an anchor).
    pub prev_report_hash: Root,
}
crust_primitives::impl_codec_struct!(WorkReport {
    curr_pk,
    ab_upgrade_pk,
    slot,
    slot_hash,
    srd_size,
    files_size,
    srd_root,
    files_root,
    added: max_items(FILES_COUNT_LIMIT),
    deleted: max_items(FILES_COUNT_LIMIT),
    prev_report_hash,
});

/// A storage group: an owner (usually a validator stash) pooling members' workload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Members, sorted.
    pub members: Vec<AccountId>,
    /// Accounts allowed to join, sorted.
    pub allowlist: Vec<AccountId>,
}
crust_primitives::impl_codec_struct!(Group {
    members: max_items(MAX_GROUP_SIZE),
    allowlist: max_items(MAX_GROUP_SIZE),
});

/// Proof that an enclave key belongs to genuine, allowed code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attestation {
    /// Signatures of distinct registered attestation authorities (D17a).
    Authorities {
        /// (authority key, signature over the registration payload).
        signatures: Vec<(AccountId, Signature)>,
    },
    /// An SGX DCAP quote with its collateral (D17b, see [`super::dcap`]).
    SgxDcap {
        /// The quote (version 3 or 4, ECDSA-P256).
        quote: Vec<u8>,
        /// Its collateral as JSON (TCB info, QE identity, CRLs and issuer chains).
        collateral: Vec<u8>,
    },
}
crust_primitives::impl_codec_enum!(Attestation {
    0 => Authorities { signatures: (crust_primitives::codec::RangeCfg::from(..=MAX_AUTHORITIES), ((), ())) },
    1 => SgxDcap { quote: max_items(16 * 1024), collateral: max_items(44 * 1024) },
});

/// Governance-set sWork parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SworkParams {
    /// Whether missed slots are punished.
    pub enable_punishment: bool,
    /// Slots a missed report zeroes the identity's workload for (reference `PunishmentSlots` = 8).
    pub punishment_slots: u64,
    /// Distinct authority signatures a registration needs (never 0).
    pub authority_threshold: u32,
    /// Whether reports must answer storage challenges (D18).
    pub challenges: bool,
    /// Whether SRD of authority-attested workers counts toward stake limits (D31). The chain
    /// cannot check SRD; only an attestation that vouches for the enclave makes it count.
    pub srd_counts_authorities: bool,
    /// Whether SRD of DCAP-attested workers counts toward stake limits (D31).
    pub srd_counts_dcap: bool,
}
crust_primitives::impl_codec_struct!(SworkParams {
    enable_punishment,
    punishment_slots,
    authority_threshold,
    challenges,
    srd_counts_authorities,
    srd_counts_dcap,
});

impl SworkParams {
    /// Whether SRD of a worker attested as `kind` counts toward stake limits (D31).
    pub fn srd_counts(&self, kind: AttestationKind) -> bool {
        match kind {
            AttestationKind::Authorities {} => self.srd_counts_authorities,
            AttestationKind::SgxDcap {} => self.srd_counts_dcap,
        }
    }
}

impl Default for SworkParams {
    fn default() -> Self {
        Self {
            enable_punishment: true,
            punishment_slots: 8,
            authority_threshold: 1,
            challenges: true,
            srd_counts_authorities: false,
            srd_counts_dcap: true,
        }
    }
}

/// A replica change waiting to be applied to the market.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedReplica {
    /// File.
    pub cid: Cid,
    /// Reported size.
    pub size: u64,
    /// Reporting account.
    pub reporter: AccountId,
    /// Its owner at report time.
    pub owner: AccountId,
    /// The worker's anchor.
    pub anchor: Anchor,
    /// The block the report was accepted in (the replica's `valid_at`, D15).
    pub report_block: BlockHeight,
    /// Added (true) or deleted (false).
    pub added: bool,
}
crust_primitives::impl_codec_struct!(QueuedReplica {
    cid,
    size,
    reporter,
    owner,
    anchor,
    report_block,
    added
});

/// Progress of the slot-end workload consolidation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consolidation {
    /// The slot being evaluated, while a round is in progress.
    pub evaluating: Option<u64>,
    /// The last identity account visited in the current round.
    pub cursor: Option<AccountId>,
    /// Running totals of the current round.
    pub running: RoundTotals,
    /// Totals of the last completed round.
    pub completed: Option<RoundTotals>,
}
crust_primitives::impl_codec_struct!(Consolidation {
    evaluating,
    cursor,
    running,
    completed
});

/// Totals of one consolidation round: the same record the chain's history keeps per slot
/// (defined there, below sWork in the runtime's layers).
pub use crate::history::StorageTotals as RoundTotals;

impl RoundTotals {
    /// Total workload: free + spower.
    pub fn workload(&self) -> u128 {
        self.free.saturating_add(self.spower)
    }
}

/// Why an sWork call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SworkError {
    /// The attestation does not prove genuine, allowed code.
    #[error("attestation rejected: {0}")]
    AttestationRejected(String),
    /// The enclave key is not registered, or the reporter's identity is bound to another anchor.
    #[error("reporter not registered, or its identity is bound to another enclave")]
    IllegalReporter,
    /// The enclave's code is no longer allowed for this slot.
    #[error("enclave code expired or not on the allowlist; upgrade the storage worker")]
    OutdatedReporter,
    /// The report is not for the current slot, or the slot hash is wrong.
    #[error("report for slot {slot} with that hash is not acceptable now (current slot {current})")]
    InvalidReportTime {
        /// Slot claimed.
        slot: u64,
        /// Current slot.
        current: u64,
    },
    /// The enclave's signature over the report is invalid.
    #[error("work report signature is invalid")]
    IllegalWorkReportSig,
    /// The A/B upgrade conditions are not met.
    #[error("A/B upgrade rejected: {0}")]
    AbUpgradeFailed(&'static str),
    /// Files size does not follow from the previous report and the change lists.
    #[error(
        "files transition rejected: previous {previous} + added {added} − deleted {deleted} ≠ reported {reported}"
    )]
    IllegalFilesTransition {
        /// Previous files size.
        previous: u64,
        /// Σ added sizes.
        added: u64,
        /// Σ deleted sizes.
        deleted: u64,
        /// Reported files size.
        reported: u64,
    },
    /// The report's sizes are out of range.
    #[error("work report out of range: {0}")]
    IllegalWorkReport(&'static str),
    /// The report does not name the last accepted report's hash (D14).
    #[error("report must follow the last accepted report (expected previous hash {expected})")]
    PreviousReportMismatch {
        /// Expected previous hash (hex).
        expected: String,
    },
    /// A different report for this slot was already accepted (resending the same one is a no-op).
    #[error("a different report for slot {slot} was already accepted")]
    AlreadyReportedInSlot {
        /// Slot.
        slot: u64,
    },
    /// The caller has no storage identity (it has never reported).
    #[error("no storage identity: report works at least once first")]
    IdentityNotExist,
    /// Already a member of a group.
    #[error("already a member of a group")]
    AlreadyJoint,
    /// The target owns no group.
    #[error("{0} owns no group")]
    NotOwner(AccountId),
    /// The worker still holds spower; it must quit or drop its files before joining (D19).
    #[error("identity still has {spower} spower; it cannot join a group until it has none")]
    IllegalSpower {
        /// Current spower.
        spower: u64,
    },
    /// The caller already owns a group.
    #[error("group already exists")]
    GroupAlreadyExist,
    /// Group owners may not report works or register enclaves.
    #[error("group owners cannot register enclaves or report works")]
    GroupOwnerForbidden,
    /// Not a member of that group.
    #[error("not a member of this group")]
    NotJoint,
    /// The group is full.
    #[error("group is full ({max} members)")]
    ExceedGroupLimit {
        /// Maximum.
        max: usize,
    },
    /// The caller is not on the group's allowlist.
    #[error("not on the group's allowlist")]
    NotInAllowlist,
    /// The allowlist is full.
    #[error("allowlist is full ({max})")]
    ExceedAllowlistLimit {
        /// Maximum.
        max: usize,
    },
    /// A code may only be cleared after it expired.
    #[error("code has not expired yet")]
    CodeNotExpired,
    /// Attestation authority set changes that would break registration.
    #[error("authority set: {0}")]
    AuthoritySet(&'static str),
    /// A storage challenge was not answered correctly (D18).
    #[error("storage challenge {challenge} failed: {why}")]
    ChallengeFailed {
        /// Which challenge (0-based).
        challenge: u64,
        /// What was wrong.
        why: &'static str,
    },
    /// A pending replica's proof was wrong or came too early (D30).
    #[error("replica proof {proof} failed: {why}")]
    IllegalProof {
        /// Which proof (0-based).
        proof: u64,
        /// What was wrong.
        why: &'static str,
    },
    /// A peer record that is not printable text of the right shape.
    #[error("peer record rejected: {0}")]
    IllegalPeer(&'static str),
    /// An SGX policy that would accept no quote.
    #[error("SGX policy: {0}")]
    SgxPolicy(&'static str),
    /// A governance or system check failed.
    #[error(transparent)]
    System(#[from] SystemError),
    /// A market operation failed.
    #[error(transparent)]
    Market(#[from] MarketError),
    /// A balances operation failed.
    #[error(transparent)]
    Balances(#[from] BalancesError),
    /// A benefits operation failed.
    #[error(transparent)]
    Benefits(#[from] BenefitsError),
    /// The state is corrupt.
    #[error(transparent)]
    State(#[from] StateError),
}

/// What sWork reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SworkEvent {
    /// Pending replicas passed their first challenge and earn from now on (D30).
    ReplicasProven {
        /// Reporter.
        who: AccountId,
        /// How many proofs the call carried.
        count: u32,
    },
    /// A storage identity announced (or, with an empty record, withdrew) where it serves.
    PeerSet {
        /// Reporter.
        who: AccountId,
    },
    /// An enclave key was registered.
    RegisterSuccess {
        /// Applier.
        who: AccountId,
        /// Enclave key.
        pk: EnclaveKey,
    },
    /// A work report was accepted.
    WorksReportSuccess {
        /// Reporter.
        who: AccountId,
        /// Enclave key.
        pk: EnclaveKey,
        /// Slot.
        slot: u64,
    },
    /// An anchor moved to a new enclave key.
    AbUpgradeSuccess {
        /// Reporter.
        who: AccountId,
        /// Old key.
        old_pk: EnclaveKey,
        /// New key.
        new_pk: EnclaveKey,
    },
    /// A code was allowed until `expire_block`.
    SetCodeSuccess {
        /// Code.
        code: CodeMeasurement,
        /// Expiry.
        expire_block: BlockHeight,
    },
    /// An expired code was removed.
    RemoveCodeSuccess {
        /// Code.
        code: CodeMeasurement,
    },
    /// A group was created.
    CreateGroupSuccess {
        /// Owner.
        owner: AccountId,
    },
    /// An account was allowlisted.
    AddIntoAllowlistSuccess {
        /// Owner.
        owner: AccountId,
        /// Target.
        who: AccountId,
    },
    /// An account was removed from the allowlist.
    RemoveFromAllowlistSuccess {
        /// Owner.
        owner: AccountId,
        /// Target.
        who: AccountId,
    },
    /// A member joined.
    JoinGroupSuccess {
        /// Member.
        member: AccountId,
        /// Owner.
        owner: AccountId,
    },
    /// A member quit.
    QuitGroupSuccess {
        /// Member.
        member: AccountId,
        /// Owner.
        owner: AccountId,
    },
    /// A member was removed by the owner.
    KickOutSuccess {
        /// Member.
        member: AccountId,
    },
    /// Punishment was switched on or off.
    SetPunishmentSuccess {
        /// New value.
        enabled: bool,
    },
    /// The attestation authority set changed.
    AuthoritiesChanged {
        /// Number of authorities.
        count: u32,
        /// Signatures required.
        threshold: u32,
    },
    /// An identity missed a report and counts zero until `until_slot`.
    IdentityPunished {
        /// Reporter.
        who: AccountId,
        /// Slot from which it counts again.
        until_slot: u64,
    },
    /// Slot-end workloads were consolidated.
    WorkloadConsolidated {
        /// The slot evaluated.
        slot: u64,
        /// Identities visited.
        identities: u64,
        /// Total workload.
        workload: u128,
    },
}
