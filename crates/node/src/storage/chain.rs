//! What the worker reads from and brings about on chain besides reports: its anchor and
//! group, registration, collateral, peer records and replica holders.

use super::*;

/// This account's group, if it is a member of one: the owner and the members.
pub(super) fn my_group(
    client: &ChainClient,
    me: &AccountId,
) -> Result<Option<(AccountId, Vec<AccountId>)>, String> {
    let Some(owner) = client
        .read::<swork::Identity>(&swork::identity_key(me))?
        .and_then(|i| i.group)
    else {
        return Ok(None);
    };
    Ok(client
        .read::<swork::Group>(&swork::group_key(&owner))?
        .map(|g| (owner, g.members)))
}

/// The anchor reports are filed under: the enclave key the identity was first bound to.
pub(super) fn anchor(client: &ChainClient, key: &[u8; 32]) -> Result<[u8; 32], String> {
    Ok(client
        .read::<PubKeyInfo>(&swork::pubkey_key(key))?
        .and_then(|i| i.anchor)
        .unwrap_or(*key))
}

/// Registers the enclave key unless the chain already knows it, and waits for it to land.
/// Tops the owner's market collateral up to `wanted`.
pub(super) fn ensure_collateral(
    client: &ChainClient,
    account: &Keypair,
    wanted: &str,
) -> Result<(), String> {
    use crust_runtime::benefits::{self, BenefitsCall, FundsType, MarketBenefit};
    let wanted = crust_primitives::balance::parse_balance(wanted)
        .map_err(|e| format!("--collateral: {e}"))?;
    let active = || -> Result<u128, String> {
        Ok(client
            .read::<MarketBenefit>(&benefits::market_key(&account.public()))?
            .map_or(0, |b| b.active_funds))
    };
    let call = |have: u128| {
        Call::Benefits(BenefitsCall::AddBenefitFunds {
            value: wanted - have,
            funds_type: FundsType::Market,
        })
    };
    land(client, account, "the collateral", || {
        let have = active()?;
        Ok((have < wanted).then(|| call(have)))
    })?;
    tracing::info!(
        target: "crust::sworker", "collateral {}",
        crust_primitives::balance::Cru(wanted)
    );
    Ok(())
}

pub(super) fn register(
    client: &ChainClient,
    account: &Keypair,
    enclave: &dyn Enclave,
) -> Result<(), String> {
    let key = enclave.public_key();
    land(client, account, "the enclave registration", || {
        if client
            .read::<PubKeyInfo>(&swork::pubkey_key(&key))?
            .is_some()
        {
            return Ok(None);
        }
        let (enclave_sig, attestation) = enclave
            .attest(&account.public())
            .map_err(|e| e.to_string())?;
        Ok(Some(Call::Swork(SworkCall::Register {
            code: enclave.code(),
            enclave_key: key,
            enclave_sig,
            attestation,
        })))
    })
    .map_err(|e| format!("{e} (is the enclave's code allowlisted and the authority right?)"))?;
    tracing::info!(target: "crust::sworker", "enclave registered");
    Ok(())
}

/// Brings about a start-up change on chain. `needed` reads the chain and returns the call still
/// needed, if any. A slow or restarting chain, or a dropped transaction, is logged and retried
/// with back-off for as long as it takes (the worker is no use without it); the chain refusing
/// the call ends the worker with the chain's reason (a configuration error to fix).
pub(super) fn land(
    client: &ChainClient,
    account: &Keypair,
    what: &str,
    mut needed: impl FnMut() -> Result<Option<Call>, String>,
) -> Result<(), String> {
    let mut backoff = Duration::from_secs(1);
    let mut retry = |e: String| {
        tracing::warn!(target: "crust::sworker", "{what}: {e}; retrying in {} s", backoff.as_secs());
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(30));
    };
    // The nonce of the last attempt: a retry signs with it again while the chain has not used
    // it, so an attempt that lands late and its retry cannot both take effect.
    let mut last_nonce: Option<u64> = None;
    loop {
        // The nonce is read before the state: if the last attempt lands in between, the nonce
        // still says unused, and the retry signed with it is refused as stale.
        let committed = match client.committed_nonce(&account.public()) {
            Ok(committed) => committed,
            Err(e) => {
                retry(e);
                continue;
            }
        };
        let call = match needed() {
            Ok(None) => return Ok(()),
            Ok(Some(call)) => call,
            Err(e) => {
                retry(e);
                continue;
            }
        };
        let nonce = last_nonce.filter(|n| committed <= *n);
        let hash = match client.submit_with_nonce(account, call, nonce) {
            Ok((nonce, hash)) => {
                last_nonce = Some(nonce);
                hash
            }
            Err(e) => {
                retry(e);
                continue;
            }
        };
        match client.outcome(&hash, Duration::from_secs(120)) {
            // Landed: the next look at the chain sees it.
            Ok(crate::chain_client::Outcome::Succeeded(_)) => {}
            Ok(crate::chain_client::Outcome::Failed(height, reason)) => {
                return Err(format!("{what} failed in block {height}: {reason}"));
            }
            Err(e) => retry(e),
        }
    }
}

/// This worker's peer record: its peer ID and up to four announced addresses.
pub(super) fn own_peer_record(host: &crust_net::Host) -> swork::PeerRecord {
    swork::PeerRecord {
        peer_id: host.peer_id().to_base58().into_bytes(),
        addrs: host
            .announce_addrs()
            .iter()
            .map(|a| a.to_string().into_bytes())
            .filter(|a| a.len() <= swork::MAX_PEER_ADDR_BYTES)
            .take(swork::MAX_PEER_ADDRS)
            .collect(),
    }
}

/// Dialable addresses (`…/p2p/<id>`) of the other workers the chain lists as holding `cid`:
/// the first place to fetch it from.
pub(crate) fn replica_addrs(
    client: &ChainClient,
    info: Option<&FileInfo>,
    me: &AccountId,
) -> Vec<String> {
    let mut out = Vec::new();
    let holders = info.map(|f| f.replicas.as_slice()).unwrap_or_default();
    for who in holders.iter().map(|r| r.who).filter(|w| w != me) {
        let Ok(Some(record)) = client.read::<swork::PeerRecord>(&swork::peer_key(&who)) else {
            continue;
        };
        let Ok(peer) = record.peer_id_text().parse::<crust_net::PeerId>() else {
            continue;
        };
        for addr in record.addr_texts() {
            if let Ok(addr) = addr.parse::<crust_net::Multiaddr>() {
                out.push(format!("{addr}/p2p/{peer}"));
            }
        }
    }
    out
}

/// The peers of every worker that reports holding files, from the chain's peer records.
pub(super) fn replica_holders(client: &ChainClient) -> Result<Vec<crust_net::PeerId>, String> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = client
            .request::<crust_client::api::SworkPeers>(crust_client::api::PeersParams { after })?;
        out.extend(
            page.peers
                .iter()
                .filter(|p| p.files_size > 0)
                .filter_map(|p| p.peer_id.parse::<crust_net::PeerId>().ok()),
        );
        match page.next {
            Some(next) if out.len() < 100_000 => after = Some(next),
            _ => return Ok(out),
        }
    }
}
