//! The read-only queries behind the proven RPC methods, in one place for both sides: the node
//! answers each method by running its query on the finalized state (recording every key read,
//! to prove them), and a light client re-runs the very same function on the proven entries
//! ([`crust_light::proof::ProvenState`]). Two copies could drift; one cannot.

use crate::api::{
    AccountOverview, Committee, EraSlashes, History, LockInfo, Member, PeerInfo, PendingSlashes,
    StakeLimit, WorkerInfo,
};
use crust_primitives::{AccountId, Cid};
use crust_runtime::State;
use crust_runtime::balances::AccountInfo;
use crust_runtime::market::{FileInfo, MarketParams};
use crust_runtime::swork::{PeerRecord, WorkReportRecord};

/// `market_file`: a file's market record (`None` if nobody ordered it).
pub fn market_file(s: &impl State, cid: &Cid) -> Result<Option<FileInfo>, String> {
    crust_runtime::market::file(s, cid).map_err(|e| e.to_string())
}

/// `market_prices`: the market's prices and parameters.
pub fn market_prices(s: &impl State) -> Result<MarketParams, String> {
    crust_runtime::market::params(s).map_err(|e| e.to_string())
}

/// `swork_workReport`: the last accepted work report of the identity with this anchor.
pub fn work_report(s: &impl State, anchor: &[u8; 32]) -> Result<Option<WorkReportRecord>, String> {
    crust_runtime::swork::work_report(s, anchor).map_err(|e| e.to_string())
}

/// `swork_peer`: where a storage account serves its replicas.
pub fn swork_peer(s: &impl State, who: &AccountId) -> Result<Option<PeerInfo>, String> {
    let record = crust_runtime::swork::peer(s, who).map_err(|e| e.to_string())?;
    Ok(record.map(|r| peer_info(who, &r, s)))
}

/// A peer record as the RPC shows it, with the bytes of files its identity last reported.
pub fn peer_info(who: &AccountId, record: &PeerRecord, s: &impl State) -> PeerInfo {
    use crust_runtime::swork;
    let files = swork::identity(s, who)
        .ok()
        .flatten()
        .and_then(|id| swork::work_report(s, &id.anchor).ok().flatten())
        .map_or(0, |r| r.reported_files_size);
    PeerInfo {
        account: *who,
        peer_id: record.peer_id_text(),
        addrs: record.addr_texts(),
        files_size: files,
    }
}

/// `swork_worker`: a storage account's identity and its last accepted work report.
pub fn swork_worker(s: &impl State, who: &AccountId) -> Result<Option<WorkerInfo>, String> {
    use crust_runtime::swork;
    let Some(identity) = swork::identity(s, who).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let report = swork::work_report(s, &identity.anchor).map_err(|e| e.to_string())?;
    let record = crust_runtime::history::worker(s, &identity.anchor).map_err(|e| e.to_string())?;
    Ok(Some(WorkerInfo {
        account: *who,
        identity,
        report,
        record,
    }))
}

/// `system_config`: the runtime configuration's encoded bytes.
pub fn system_config(s: &impl State) -> Result<Option<crate::api::HexBytes>, String> {
    Ok(s.get(&crust_runtime::system::config_key())
        .map(crate::api::HexBytes))
}

/// `network_history`: up to `limit` closed slot records (newest first, of slots starting
/// before `before`) and the slot in progress.
pub fn network_history(s: &impl State, before: Option<u64>, limit: u32) -> Result<History, String> {
    use crust_runtime::history;
    let slot_blocks = crust_runtime::system::config(s)
        .map_err(|e| e.to_string())?
        .report_slot_blocks;
    Ok(History {
        slot_blocks,
        current: history::current(s).map_err(|e| e.to_string())?,
        slots: history::recent(s, before, limit as usize).map_err(|e| e.to_string())?,
    })
}

/// `staking_slashes`: the slashes due in up to [`crate::api::SLASH_ERAS_PAGE`] eras from
/// `from` (never before the era after the active one, never past the last a slash reported
/// now could be due at).
pub fn pending_slashes(s: &impl State, from: Option<u64>) -> Result<PendingSlashes, String> {
    use crust_runtime::staking;
    let active = staking::active_era(s).map_err(|e| e.to_string())?;
    let defer = staking::params(s)
        .map_err(|e| e.to_string())?
        .slash_defer_eras;
    let first = active.saturating_add(1);
    let last = first.saturating_add(defer);
    let from = from.unwrap_or(first).max(first);
    let to = from
        .saturating_add(crate::api::SLASH_ERAS_PAGE - 1)
        .min(last);
    let mut eras = Vec::new();
    for era in from..=to {
        let slashes = staking::pending_slashes(s, era).map_err(|e| e.to_string())?;
        if !slashes.is_empty() {
            eras.push(EraSlashes { era, slashes });
        }
    }
    Ok(PendingSlashes {
        active_era: active,
        eras,
        next: (to < last).then(|| to.saturating_add(1)),
    })
}

/// `staking_stakeLimit`: a validator's stake limit and the proven storage it comes from.
pub fn stake_limit(s: &impl State, stash: &AccountId) -> Result<StakeLimit, String> {
    let limit = crust_runtime::staking::stake_limit(s, stash).map_err(|e| e.to_string())?;
    let workload = crust_runtime::swork::workload(s, stash).map_err(|e| e.to_string())?;
    Ok(StakeLimit {
        stake_limit: limit,
        workload,
    })
}

/// `staking_committee`: an era's committee (the active era's if `era` is `None`).
pub fn committee(s: &impl State, era: Option<u64>) -> Result<Committee, String> {
    use crust_runtime::staking;
    let era = match era {
        Some(e) => e,
        None => staking::active_era(s).map_err(|e| e.to_string())?,
    };
    let members = staking::committee(s, era).map_err(|e| e.to_string())?;
    Ok(Committee {
        era,
        members: members.map(|list| list.iter().map(Member::from).collect()),
    })
}

/// `state_overview`: an account's locks, bond and rewards to claim.
pub fn overview(s: &impl State, who: &AccountId) -> Result<AccountOverview, String> {
    let locks = account(s, who)
        .locks
        .iter()
        .map(|l| LockInfo {
            id: String::from_utf8_lossy(&l.id)
                .trim_end_matches('\0')
                .trim()
                .to_owned(),
            amount: l.amount,
        })
        .collect();
    let ledger = crust_runtime::staking::ledger_of_stash(s, who)
        .map_err(|e| e.to_string())?
        .map(|(_, l)| l);
    let benefit = crust_runtime::benefits::market_benefit(s, who)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    Ok(AccountOverview {
        locks,
        bonded: ledger.as_ref().map_or(0, |l| l.active),
        unbonding: ledger.as_ref().map_or(0, |l| {
            l.unlocking
                .iter()
                .fold(0u128, |sum, c| sum.saturating_add(c.value))
        }),
        replica_rewards: benefit.file_reward,
        collateral: benefit.active_funds,
    })
}

/// `state_account`: an account's balances and nonce (zero for an account never seen).
pub fn account(s: &impl State, who: &AccountId) -> AccountInfo {
    crust_runtime::balances::account(s, who).unwrap_or_default()
}
