//! The chain's RPC methods, each defined once: its name, what it takes and what it answers.
//! The node's server (`crust-chain`'s `rpc` module) decodes [`Method::Params`] and encodes
//! [`Method::Output`]; every client decodes the same types, so the two cannot drift apart.
//!
//! Parameters are a JSON object (a missing or `null` `params` means `{}`); amounts in
//! top-level answers are decimal strings (they exceed JSON's safe integers), runtime records
//! keep the runtime's own serde form.

use crust_light::block::{Evidence, Receipt};
use crust_light::hash::Hash;
use crust_light::proof::QueryProof;
use crust_primitives::{AccountId, Balance, Cid};
use crust_runtime::market::{FileInfo, MarketParams};
use crust_runtime::staking::CommitteeMember;
use crust_runtime::swork::WorkReportRecord;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One RPC method: its name and the types it takes and answers.
pub trait Method {
    /// The JSON-RPC method name.
    const NAME: &'static str;
    /// The `params` object.
    type Params: Serialize + DeserializeOwned;
    /// The `result`.
    type Output: Serialize + DeserializeOwned;
}

macro_rules! method {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $params:ty => $output:ty) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $ty;
        impl Method for $ty {
            const NAME: &'static str = $name;
            type Params = $params;
            type Output = $output;
        }
    };
}

/// Balances as decimal strings in JSON (`u128` overflows JavaScript's numbers).
pub mod amount {
    use crust_primitives::Balance;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the amount as a decimal string.
    pub fn serialize<S: Serializer>(v: &Balance, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    /// Reads a decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Balance, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom(format!("'{text}' is not an amount")))
    }
}

/// No parameters.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NoParams {}

/// Asks for proofs of what a query read (`prove: true`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Prove {
    /// Whether to prove every state entry the query read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prove: bool,
}

method!(
    /// The hash every transaction must be signed over.
    GenesisHash, "genesis_hash", NoParams => Hash
);

/// The last finalized block.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeadInfo {
    /// Its height.
    pub height: u64,
    /// Its hash.
    pub hash: Hash,
    /// The root of the state after it (the node's committed state).
    pub state_root: Hash,
}
method!(
    /// The last finalized block.
    ChainHead, "chain_head", NoParams => HeadInfo
);

/// Which chain a node serves.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChainInfo {
    /// The genesis hash.
    pub genesis_hash: Hash,
    /// The consensus signature namespace (`crust/consensus/<chain id>`).
    pub namespace: String,
    /// Blocks per era.
    pub era_blocks: u64,
    /// Blocks per report slot (work reports, consolidation, the history's records).
    #[serde(default)]
    pub slot_blocks: u64,
}
method!(
    /// Which chain the node serves.
    SystemChain, "system_chain", NoParams => ChainInfo
);

/// How full the node's load-following caches and pools are, against their limits (set by its
/// `--memory` budget), so growth in resident memory can be told from caches filling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryInfo {
    /// Transactions in the mempool.
    pub mempool_txs: u64,
    /// Their encoded bytes.
    pub mempool_bytes: u64,
    /// The most the mempool holds.
    pub mempool_max_bytes: u64,
    /// Finalized blocks kept in memory.
    pub recent_blocks: u64,
    /// Their approximate bytes.
    pub recent_block_bytes: u64,
    /// The most those may take.
    pub recent_block_max_bytes: u64,
    /// Transactions in the hash index (`author_txStatus`).
    pub indexed_txs: u64,
    /// The most it holds.
    pub indexed_txs_max: u64,
}
method!(
    /// How full the node's caches and pools are.
    SystemMemory, "system_memory", NoParams => MemoryInfo
);

/// A height.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AtHeight {
    /// The block height.
    pub height: u64,
}

/// A finalization certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FinalityInfo {
    /// The certified block's height (the first at or above the one asked with a certificate).
    pub height: u64,
    /// Its hash.
    pub hash: Hash,
    /// The era whose committee signed it.
    pub era: u64,
    /// The encoded certificate.
    #[serde(with = "crust_light::hex")]
    pub certificate: Vec<u8>,
}
method!(
    /// The first finalization certificate at or above a height.
    ChainFinality, "chain_finality", AtHeight => FinalityInfo
);

/// Which finalized block to read, and how much of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockParams {
    /// The block height.
    pub height: u64,
    /// Include the encoded transactions (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bodies: Option<bool>,
    /// Include the receipts (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipts: Option<bool>,
}

/// A finalized block: the header's fields, the transaction hashes, and (unless asked not to)
/// the encoded transactions and their receipts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockInfo {
    /// The block hash (recompute it from the header fields rather than trust it).
    pub hash: Hash,
    /// The parent's hash.
    pub parent: Hash,
    /// The height.
    pub height: u64,
    /// When it was proposed.
    pub timestamp_ms: u64,
    /// Its era.
    pub era: u64,
    /// Who proposed it.
    pub proposer: AccountId,
    /// The state root after it.
    pub state_root: Hash,
    /// The root over its transactions.
    pub tx_root: Hash,
    /// The root over its receipts ([`crust_light::block::Receipt::leaf`]).
    pub receipts_root: Hash,
    /// Each transaction's hash, in order.
    pub transactions: Vec<Hash>,
    /// The root over its slashing evidence.
    pub evidence_root: Hash,
    /// Its slashing evidence.
    pub evidence: Vec<Evidence>,
    /// The encoded transactions, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bodies: Option<Vec<HexBytes>>,
    /// One receipt per transaction, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipts: Option<Vec<Receipt>>,
}

impl BlockInfo {
    /// The header these fields describe.
    pub fn header(&self) -> crust_light::Header {
        crust_light::Header {
            parent: self.parent,
            height: self.height,
            timestamp_ms: self.timestamp_ms,
            era: self.era,
            proposer: self.proposer,
            state_root: self.state_root,
            tx_root: self.tx_root,
            receipts_root: self.receipts_root,
            evidence_root: self.evidence_root,
        }
    }
}
method!(
    /// A finalized block.
    ChainBlock, "chain_block", BlockParams => BlockInfo
);

/// Bytes written as `0x` hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HexBytes(#[serde(with = "crust_light::hex")] pub Vec<u8>);

/// A signed transaction to queue.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubmitParams {
    /// The encoded signed transaction.
    pub tx: HexBytes,
}
method!(
    /// Queues a transaction: its hash, or the mempool's reason for refusing it.
    AuthorSubmit, "author_submit", SubmitParams => Hash
);

/// Signed transactions to queue, in order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubmitBatchParams {
    /// The encoded signed transactions (at most 1000).
    pub txs: Vec<HexBytes>,
}

/// One transaction's fate in a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Submitted {
    /// Queued, with this hash.
    Queued {
        /// The transaction hash.
        hash: Hash,
    },
    /// Refused, for this reason.
    Refused {
        /// The reason.
        error: String,
    },
}
method!(
    /// Queues transactions in order: per transaction its hash or the reason it was refused.
    AuthorSubmitBatch, "author_submitBatch", SubmitBatchParams => Vec<Submitted>
);

/// A transaction hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TxHashParams {
    /// The transaction hash.
    pub hash: Hash,
    /// Also send the receipt's Merkle path to the block's receipts root.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prove: bool,
}

/// Where a transaction is, as far as the node knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum TxStatus {
    /// Waiting in the node's mempool.
    Pending,
    /// In a finalized block.
    Finalized {
        /// The block's height.
        height: u64,
        /// Whether the call succeeded (a failed call still paid its fee).
        success: bool,
        /// Why the call failed.
        error: Option<String>,
        /// The fee paid.
        #[serde(with = "amount")]
        paid: Balance,
        /// With `prove`: what proves these fields under the block's receipts root.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof: Option<ReceiptProof>,
    },
    /// Never seen, dropped, or finalized before the transactions the node indexes.
    Unknown,
}

/// What proves a finalized transaction's status: with the status's `success`, `error` and
/// `paid` and the transaction's hash, the rest of its receipt and the receipt's Merkle path to
/// the receipts root of the block that holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptProof {
    /// The hash of the events the transaction emitted.
    pub events_hash: Hash,
    /// The receipt's position among the block's receipts.
    pub index: u64,
    /// How many receipts the block has.
    pub count: u64,
    /// Sibling hashes up to the root ([`crust_light::hash::merkle_path`]).
    pub path: Vec<Hash>,
}

impl ReceiptProof {
    /// The receipt that a status of `tx` with these fields stands for.
    pub fn receipt(
        &self,
        tx: &Hash,
        success: bool,
        error: Option<String>,
        paid: Balance,
    ) -> crust_light::block::Receipt {
        crust_light::block::Receipt {
            tx_hash: *tx,
            success,
            error,
            paid,
            events_hash: self.events_hash,
        }
    }

    /// Whether `receipt` is under `receipts_root` by this proof.
    pub fn verify(&self, receipt: &crust_light::block::Receipt, receipts_root: &Hash) -> bool {
        crust_light::hash::verify_merkle_path(
            receipts_root,
            &receipt.leaf(),
            self.index,
            self.count,
            &self.path,
        )
    }
}

method!(
    /// Where a transaction is.
    AuthorTxStatus, "author_txStatus", TxHashParams => TxStatus
);

/// An account, optionally with proofs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountParams {
    /// SS58 or 0x-hex.
    pub account: AccountId,
    /// Prove the balance and nonce.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prove: bool,
}

/// An account's balance and nonces.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountInfo {
    /// Spendable balance.
    #[serde(with = "amount")]
    pub free: Balance,
    /// Reserved balance (collateral, deposits).
    #[serde(with = "amount")]
    pub reserved: Balance,
    /// The committed nonce: how many of its transactions blocks included.
    pub nonce: u64,
    /// The nonce its next transaction should take here: past its transactions this node holds
    /// queued (not proven: the pool is the node's own).
    pub next_nonce: u64,
    /// The finalized height answered at.
    pub height: u64,
    /// Proofs of the balance and nonce, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<QueryProof>,
}
method!(
    /// An account's balance and nonce.
    StateAccount, "state_account", AccountParams => AccountInfo
);

/// An answer read from the finalized state: the record under `$field`, the height, and proofs
/// when asked.
macro_rules! proven {
    ($(#[$doc:meta])* $ty:ident { $field:ident: $value:ty }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Serialize, Deserialize)]
        pub struct $ty {
            /// The answer.
            pub $field: $value,
            /// The finalized height answered at.
            pub height: u64,
            /// Proofs of every state entry the query read, when asked.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub proof: Option<QueryProof>,
        }
    };
}

/// A named lock on an account's free balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The lock's name (e.g. `staking`), as text.
    pub id: String,
    /// The amount it freezes.
    #[serde(with = "amount")]
    pub amount: Balance,
}

/// What an account has locked, bonded and to claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOverview {
    /// Locks on its free balance (they overlap: the largest counts).
    pub locks: Vec<LockInfo>,
    /// Its active bond, if it is a stash.
    #[serde(with = "amount")]
    pub bonded: Balance,
    /// Stake being unbonded.
    #[serde(with = "amount")]
    pub unbonding: Balance,
    /// Replica rewards earned and not yet claimed (`market::RewardMerchant`).
    #[serde(with = "amount")]
    pub replica_rewards: Balance,
    /// Its merchant collateral.
    #[serde(with = "amount")]
    pub collateral: Balance,
}
proven!(
    /// An account's locks, bond and rewards to claim.
    OverviewAnswer { overview: AccountOverview }
);
method!(
    /// An account's locks, bond and rewards to claim.
    StateOverview, "state_overview", AccountParams => OverviewAnswer
);

/// A file by CID.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileParams {
    /// The CID.
    pub cid: Cid,
    /// Prove the record (or its absence).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prove: bool,
}
proven!(
    /// A file's market record (`null` if nobody ordered it).
    FileAnswer { file: Option<FileInfo> }
);
method!(
    /// A file's market record.
    MarketFile, "market_file", FileParams => FileAnswer
);

proven!(
    /// The market's prices and parameters.
    PricesAnswer { prices: MarketParams }
);
method!(
    /// The market's prices and parameters.
    MarketPrices, "market_prices", Prove => PricesAnswer
);

/// A work report by the anchor of the identity that sent it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReportParams {
    /// The identity's anchor.
    pub anchor: Hash,
    /// Prove the record.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prove: bool,
}
proven!(
    /// The last accepted work report of an identity.
    ReportAnswer { report: Option<WorkReportRecord> }
);
method!(
    /// The last accepted work report of an identity.
    SworkWorkReport, "swork_workReport", ReportParams => ReportAnswer
);

/// Where a storage identity serves its replicas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The worker's account.
    pub account: AccountId,
    /// Its IPFS peer ID.
    pub peer_id: String,
    /// Its multiaddrs.
    pub addrs: Vec<String>,
    /// Bytes of files its identity last reported (0 if none).
    pub files_size: u64,
}

/// One account's record, optionally proven.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WhoParams {
    /// SS58 or 0x-hex.
    pub account: AccountId,
    /// Prove the record.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prove: bool,
}
proven!(
    /// A storage account's peer record.
    PeerAnswer { peer: Option<PeerInfo> }
);
method!(
    /// A storage account's peer record.
    SworkPeer, "swork_peer", WhoParams => PeerAnswer
);

/// A storage account's identity and its last accepted work report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// The reporting account.
    pub account: AccountId,
    /// Its storage identity (anchor, attestation kind, group, punishment).
    pub identity: crust_runtime::swork::Identity,
    /// Its last accepted work report, if any.
    pub report: Option<WorkReportRecord>,
    /// Its track record: challenges answered, refusals, missed slots (all zero before the
    /// chain kept history, protocol version 3).
    #[serde(default)]
    pub record: crust_runtime::history::WorkerRecord,
}
proven!(
    /// A storage account's identity and last report.
    WorkerAnswer { worker: Option<WorkerInfo> }
);
method!(
    /// A storage account's identity, last accepted work report and track record (`null` if it
    /// has no identity).
    SworkWorker, "swork_worker", WhoParams => WorkerAnswer
);

proven!(
    /// The runtime configuration's encoded bytes.
    ConfigAnswer { config: Option<HexBytes> }
);
method!(
    /// The runtime configuration as stored (encoded): what a signer computes the fee from.
    /// Proven, so a light client can check the fee it is asked to pay.
    SystemConfig, "system_config", Prove => ConfigAnswer
);

/// Which slots of the chain's history to read.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HistoryParams {
    /// Only slots that start before this height (all kept ones if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// Most slots (default and at most [`HISTORY_PAGE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Prove every record.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prove: bool,
}

/// Most slot records one `network_history` answer carries.
pub const HISTORY_PAGE: u32 = 60;

/// A run of the chain's per-slot history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Blocks per report slot (slots are named by their first block).
    pub slot_blocks: u64,
    /// The slot in progress, counted so far.
    pub current: crust_runtime::history::SlotRecord,
    /// Closed slots, newest first.
    pub slots: Vec<crust_runtime::history::SlotRecord>,
}
proven!(
    /// A run of the chain's history.
    HistoryAnswer { history: History }
);
method!(
    /// The chain's own record per report slot — orders, fees, pots, proofs, proven storage,
    /// slashes — newest first (empty before protocol version 3).
    NetworkHistory, "network_history", HistoryParams => HistoryAnswer
);

/// Which eras' pending slashes to read.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SlashesParams {
    /// The first era to read (the one after the active era if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    /// Prove every entry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prove: bool,
}

/// Eras of pending slashes one `staking_slashes` answer covers.
pub const SLASH_ERAS_PAGE: u64 = 32;

/// The slashes due at one era's start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EraSlashes {
    /// The era they are applied at.
    pub era: u64,
    /// The slashes.
    pub slashes: Vec<crust_runtime::staking::PendingSlash>,
}

/// Slashes waiting to be applied (governance may still cancel them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSlashes {
    /// The active era.
    pub active_era: u64,
    /// Eras with slashes due, soonest first.
    pub eras: Vec<EraSlashes>,
    /// Where the next page starts (`from`), if later eras may still hold slashes.
    pub next: Option<u64>,
}
proven!(
    /// Pending slashes.
    SlashesAnswer { pending: PendingSlashes }
);
method!(
    /// Slashes reported and waiting for their era ([`SLASH_ERAS_PAGE`] eras per answer; follow
    /// `next` for the rest).
    StakingSlashes, "staking_slashes", SlashesParams => SlashesAnswer
);

/// Where a listing continues.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PeersParams {
    /// The last account of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<AccountId>,
}

/// A page of peer records.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeersPage {
    /// The finalized height answered at.
    pub head: u64,
    /// The records, in account order.
    pub peers: Vec<PeerInfo>,
    /// Where the next page starts (`after`), if there may be more.
    pub next: Option<AccountId>,
}
method!(
    /// A page of peer records.
    SworkPeers, "swork_peers", PeersParams => PeersPage
);

/// A validator's stash, optionally proven.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StashParams {
    /// SS58 or 0x-hex.
    pub stash: AccountId,
    /// Prove every record the limit is computed from.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prove: bool,
}

/// A stake limit and the workload it comes from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StakeLimit {
    /// The most stake the validator may have counted.
    #[serde(with = "amount")]
    pub stake_limit: Balance,
    /// The storage its identities proved.
    #[serde(with = "amount")]
    pub workload: u128,
}
proven!(
    /// A validator's stake limit.
    StakeLimitAnswer { stake_limit: StakeLimit }
);
method!(
    /// A validator's stake limit from its proven storage.
    StakingStakeLimit, "staking_stakeLimit", StashParams => StakeLimitAnswer
);

/// An era (the active one if absent), optionally proven.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EraParams {
    /// The era.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub era: Option<u64>,
    /// Prove the committee.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prove: bool,
}

/// An era's committee.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Committee {
    /// The era.
    pub era: u64,
    /// Its members (`null` if not elected yet).
    pub members: Option<Vec<Member>>,
}

/// A committee member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The validator's stash.
    pub stash: AccountId,
    /// Its consensus (session) key.
    pub session_key: AccountId,
    /// Its effective stake.
    #[serde(with = "amount")]
    pub stake: Balance,
}

impl From<&CommitteeMember> for Member {
    fn from(m: &CommitteeMember) -> Self {
        Self {
            stash: m.stash,
            session_key: m.session_key,
            stake: m.stake,
        }
    }
}
proven!(
    /// An era's committee.
    CommitteeAnswer { committee: Committee }
);
method!(
    /// An era's committee.
    StakingCommittee, "staking_committee", EraParams => CommitteeAnswer
);

/// A page of files, optionally one orderer's.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FilesParams {
    /// Only this orderer's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orderer: Option<AccountId>,
    /// The last CID of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Cid>,
}

/// A file in a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    /// Its CID.
    pub cid: Cid,
    /// Its size.
    pub size_bytes: u64,
    /// The block its order expires at.
    pub expires_at: u64,
    /// How many replicas hold it.
    pub replica_count: usize,
    /// Who ordered it.
    pub orderer: AccountId,
    /// What its storage pays in all.
    #[serde(with = "amount")]
    pub amount: Balance,
    /// Prepaid for renewals.
    #[serde(with = "amount")]
    pub prepaid: Balance,
}

/// A page of files.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FilesPage {
    /// The finalized height answered at.
    pub head: u64,
    /// The files, in CID order.
    pub files: Vec<FileSummary>,
    /// Where the next page starts (`after`), if there may be more.
    pub next: Option<Cid>,
}
method!(
    /// A page of files (scans at most 10 000 records per call).
    MarketFiles, "market_files", FilesParams => FilesPage
);

/// A validator candidate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    /// Its stash.
    pub stash: AccountId,
    /// Its own bonded stake.
    #[serde(with = "amount")]
    pub bonded: Balance,
    /// The most stake its proven storage allows.
    #[serde(with = "amount")]
    pub stake_limit: Balance,
    /// Its own stake that counts (bond capped by the limit).
    #[serde(with = "amount")]
    pub effective_own: Balance,
    /// Commission, in parts per billion.
    pub commission_ppb: u32,
    /// Storage its identities proved.
    #[serde(with = "amount")]
    pub workload: u128,
}

/// The staking picture at the finalized head.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StakingView {
    /// The finalized height answered at.
    pub height: u64,
    /// The active era.
    pub era: u64,
    /// Its committee.
    pub committee: Option<Vec<Member>>,
    /// The next era's, if already elected.
    pub next_committee: Option<Vec<Member>>,
    /// Every candidate.
    pub candidates: Vec<Candidate>,
}
method!(
    /// The staking picture: committees and candidates.
    StakingValidators, "staking_validators", NoParams => StakingView
);

/// A proposal as the console and tools show it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProposalView {
    /// Its number.
    pub id: u32,
    /// `Parameter`, `Treasury`, `Authority`, `Slash` or `Upgrade`.
    pub kind: String,
    /// Who proposed it.
    pub proposer: AccountId,
    /// The call, in its debug form.
    pub call: String,
    /// Stake voting aye.
    #[serde(with = "amount")]
    pub aye: Balance,
    /// Stake voting nay.
    #[serde(with = "amount")]
    pub nay: Balance,
    /// Accounts that voted.
    pub voters: u32,
    /// Turnout it needs, in parts per billion of all active bond.
    pub turnout_ppb: u32,
    /// Approval it needs (more than), in parts per billion of votes cast.
    pub approval_ppb: u32,
    /// Whether it would pass if voting ended now.
    pub passing: bool,
    /// Block it was made in.
    pub submitted_at: u64,
    /// First block after voting.
    pub voting_ends: u64,
    /// Where it is, in words (`voting`, `passed, runs at block N`, `enacted at block N`, …).
    pub status: String,
}

/// Governance at the finalized head: the protocol version, the council, the rules and the
/// newest proposals.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GovernanceView {
    /// The finalized height answered at.
    pub height: u64,
    /// The protocol version in effect.
    pub protocol_version: u32,
    /// The scheduled upgrade as `{version, at}`, if any.
    pub scheduled_upgrade: Option<(u32, u64)>,
    /// The dev chains' sudo key, if this chain has one.
    pub sudo: Option<AccountId>,
    /// Council members.
    pub council: Vec<AccountId>,
    /// Approvals a council cancellation needs.
    pub council_threshold: u32,
    /// All active bonded stake (what turnout is measured against).
    #[serde(with = "amount")]
    pub electorate: Balance,
    /// The treasury's free balance.
    #[serde(with = "amount")]
    pub treasury: Balance,
    /// The proposal deposit.
    #[serde(with = "amount")]
    pub proposal_deposit: Balance,
    /// Blocks a vote lasts.
    pub voting_period: u64,
    /// Blocks from passing to running.
    pub enactment_delay: u64,
    /// How many proposals were ever made.
    pub proposal_count: u32,
    /// The newest proposals (at most 50), newest first.
    pub proposals: Vec<ProposalView>,
}
method!(
    /// Governance: protocol version, council, rules, newest proposals.
    GovernanceOverview, "governance_overview", NoParams => GovernanceView
);

/// A state key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyParams {
    /// The key.
    pub key: HexBytes,
}

/// A proven state entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyProof {
    /// The value (`null` if absent).
    #[serde(with = "crust_light::hex::opt")]
    pub value: Option<Vec<u8>>,
    /// The encoded proof.
    #[serde(with = "crust_light::hex")]
    pub proof: Vec<u8>,
    /// The root it is under.
    pub root: Hash,
    /// The finalized height of that root.
    pub height: u64,
}
method!(
    /// A state entry with its proof.
    StateProofOf, "state_proof", KeyParams => KeyProof
);

/// Where a light client's walk of committee handoffs continues.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HandoffsParams {
    /// The first era whose committee to prove (0: from genesis).
    pub from: u64,
    /// Most eras in one answer (at most [`MAX_HANDOFFS`], the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// Most handoffs one `staking_handoffs` answer carries.
pub const MAX_HANDOFFS: u32 = 16;

/// How a light client learns an era's committee from the one before it, trusting no node:
/// the committee, proven under the state root of a block of the previous era, that block's
/// header linked by parent hashes to a block whose finalization certificate the previous
/// era's committee signed. Era 0's proof is under the genesis block's state root instead (the
/// genesis hash is the trust anchor), with no certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Handoff {
    /// The era whose committee this proves.
    pub era: u64,
    /// The committee read ([`crate::queries::committee`]) with its proof.
    pub proof: QueryProof,
    /// Headers (no bodies or receipts) from the proof's height up to the certified block.
    pub headers: Vec<BlockInfo>,
    /// The certificate of the last header (`None` for era 0, proven under genesis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finality: Option<FinalityInfo>,
}
method!(
    /// Committee handoffs from an era on, as far as this node recorded them (a node records
    /// each era's committee as it is elected; one started from an older data directory lacks
    /// the eras before).
    StakingHandoffs, "staking_handoffs", HandoffsParams => Vec<Handoff>
);

/// Subscribes to finalized headers; notifications are [`HEAD_NOTICE`].
pub const SUBSCRIBE_HEADS: &str = "chain_subscribeFinalizedHeads";
/// Subscribes to finalized events; notifications are [`EVENTS_NOTICE`].
pub const SUBSCRIBE_EVENTS: &str = "chain_subscribeEvents";
/// Ends a subscription (`{subscription}` → whether it existed).
pub const UNSUBSCRIBE: &str = "chain_unsubscribe";
/// A finalized header notification ([`HeadNotice`]).
pub const HEAD_NOTICE: &str = "chain_finalizedHead";
/// A finalized block's events ([`EventsNotice`]).
pub const EVENTS_NOTICE: &str = "chain_events";
/// A slow reader missed notifications (`{missed}`).
pub const LAGGED_NOTICE: &str = "chain_lagged";

/// A subscription to end.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UnsubscribeParams {
    /// Its id.
    pub subscription: u64,
}

/// A finalized header, as pushed to subscribers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeadNotice {
    /// Its height.
    pub height: u64,
    /// Its hash.
    pub hash: Hash,
    /// Its parent's hash.
    pub parent: Hash,
    /// When it was proposed.
    pub timestamp_ms: u64,
    /// Its era.
    pub era: u64,
    /// Who proposed it.
    pub proposer: AccountId,
    /// The state root after it.
    pub state_root: Hash,
    /// The root over its transactions.
    pub tx_root: Hash,
    /// The root over its receipts.
    pub receipts_root: Hash,
    /// The root over its evidence.
    pub evidence_root: Hash,
    /// How many transactions it holds.
    pub transactions: usize,
    /// How much slashing evidence it holds.
    pub evidence: usize,
}

/// A finalized block's events, as pushed to subscribers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventsNotice {
    /// The block's height.
    pub height: u64,
    /// Its hash.
    pub hash: Hash,
    /// Each event with the index of the transaction that emitted it (`null` for block hooks).
    pub events: Vec<serde_json::Value>,
}
