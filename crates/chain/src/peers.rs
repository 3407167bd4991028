//! Which validators a node connects to on the chain network, and where it first finds them.
//!
//! Nodes find each other through bootnodes (Commonware's `discovery` network): a node dials the
//! bootnodes it was given, learns the signed addresses of the others from them, and keeps
//! connections to the peers of the sets it tracks. The set a node tracks for era `e` is read
//! from its own finalized state, so every node of a network tracks the same set at the same
//! era: the committees of `e` and `e + 1` (primary), then this node's bootnodes and the first
//! [`EXTRA_CANDIDATES`] other validator candidates in account order (secondary), so a candidate
//! can sync before it is elected. A peer that is in none of a node's recent sets is refused.
//!
//! Every retained peer costs one quota burst per channel in the network's mailboxes
//! (`consensus::node::channel_quota`), so the sets are bounded by the committee size and
//! [`EXTRA_CANDIDATES`], not by the number of candidates.

use crate::consensus::core::ChainCore;
use crate::consensus::{PublicKey, public_key_of};
use commonware_p2p::{Ingress, TrackedPeers};
use commonware_runtime::{Clock, Spawner};
use commonware_utils::ordered::Set;
use crust_primitives::AccountId;
use futures::lock::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// Candidates beyond the committees a node keeps room for (see the module docs).
pub const EXTRA_CANDIDATES: usize = 4;

/// Recent peer sets a node keeps: the current era's and the previous one's, so a node a little
/// behind or ahead at an era boundary is still accepted.
pub const TRACKED_SETS: usize = 2;

/// A bootnode: a validator's session account and an address to dial it at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bootnode {
    /// The node's session (consensus) account.
    pub account: AccountId,
    /// Where to dial it: an IP socket address or a DNS name with a port.
    pub addr: Ingress,
}

/// Parses `<account>@<host:port>`: the account as SS58, `0x` hex or a dev URI (`//Bob//session`),
/// the host as an IP address or a DNS name.
pub fn parse_bootnode(text: &str) -> Result<Bootnode, String> {
    let (account, addr) = text
        .rsplit_once('@')
        .ok_or_else(|| format!("'{text}': expected <account>@<host:port>"))?;
    let account = crate::spec::parse_account(account).map_err(|e| format!("'{text}': {e}"))?;
    public_key_of(&account).ok_or_else(|| format!("'{text}': not an ed25519 session key"))?;
    let addr = parse_ingress(addr).map_err(|e| format!("'{text}': {e}"))?;
    Ok(Bootnode { account, addr })
}

/// Parses `ip:port`, `[ipv6]:port` or `dns-name:port`.
pub fn parse_ingress(text: &str) -> Result<Ingress, String> {
    if let Ok(socket) = text.parse::<std::net::SocketAddr>() {
        return Ok(Ingress::Socket(socket));
    }
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("'{text}' has no port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{port}' is not a port number"))?;
    let host = commonware_utils::Hostname::new(host)
        .map_err(|e| format!("'{host}' is not an IP address or host name: {e:?}"))?;
    Ok(Ingress::Dns { host, port })
}

/// The most peers one tracked set may hold: both committees, the bootnodes, the extra
/// candidates and this node.
pub fn max_peers_per_set(committee_seats: usize, bootnodes: usize) -> usize {
    committee_seats
        .saturating_mul(2)
        .saturating_add(bootnodes)
        .saturating_add(EXTRA_CANDIDATES)
        .saturating_add(1)
        .max(4)
}

/// The peers to track for `era`, from the node's committed state: the committees of `era` and
/// `era + 1` as primary; `fixed` (this node and its bootnodes), then other candidates up to
/// `cap` peers in all, as secondary.
pub fn peer_set<S>(
    core: &ChainCore<S>,
    era: u64,
    fixed: &[AccountId],
    cap: usize,
) -> TrackedPeers<PublicKey>
where
    S: commonware_storage::Context + Spawner,
{
    let committees: Vec<AccountId> = [era, era.saturating_add(1)]
        .into_iter()
        .flat_map(|e| core.committee(e).unwrap_or_default())
        .collect();
    let candidates: Vec<AccountId> = crust_runtime::staking::validators(&core.view())
        .unwrap_or_default()
        .into_iter()
        .map(|(_, prefs)| prefs.session_key)
        .collect();
    choose(&committees, fixed, &candidates, cap)
}

/// [`peer_set`]'s rule over plain lists: `committees` first (primary), then `fixed`, then
/// `candidates` in order, at most [`EXTRA_CANDIDATES`] of them and `cap` peers in all
/// (secondary). Duplicates count once.
pub fn choose(
    committees: &[AccountId],
    fixed: &[AccountId],
    candidates: &[AccountId],
    cap: usize,
) -> TrackedPeers<PublicKey> {
    let mut primary: Vec<AccountId> = Vec::new();
    for key in committees {
        if !primary.contains(key) {
            primary.push(*key);
        }
    }
    let mut secondary: Vec<AccountId> = Vec::new();
    for key in fixed {
        if !primary.contains(key) && !secondary.contains(key) {
            secondary.push(*key);
        }
    }
    let room = cap
        .saturating_sub(primary.len().saturating_add(secondary.len()))
        .min(EXTRA_CANDIDATES);
    let mut extra = 0;
    for key in candidates {
        if extra >= room {
            break;
        }
        if !primary.contains(key) && !secondary.contains(key) {
            secondary.push(*key);
            extra += 1;
        }
    }
    let keys = |accounts: Vec<AccountId>| -> Set<PublicKey> {
        Set::from_iter_dedup(accounts.iter().filter_map(public_key_of))
    };
    TrackedPeers::new(keys(primary), keys(secondary))
}

/// Tracks each era's peer set from the moment the node's finalized state reaches it (checked
/// every `every`), for as long as the node runs.
pub async fn track_eras<S, E, M>(
    ctx: E,
    core: Arc<Mutex<ChainCore<S>>>,
    mut manager: M,
    fixed: Vec<AccountId>,
    cap: usize,
    every: Duration,
) where
    S: commonware_storage::Context + Spawner,
    E: Clock,
    M: commonware_p2p::Manager<PublicKey = PublicKey>,
{
    let mut tracked: Option<u64> = None;
    loop {
        let (era, set) = {
            let c = core.lock().await;
            let era = c.era_of(c.last_finalized.0.saturating_add(1));
            if tracked.is_some_and(|t| t >= era) {
                (era, None)
            } else {
                (era, Some(peer_set(&c, era, &fixed, cap)))
            }
        };
        if let Some(set) = set {
            tracing::info!(
                target: "crust::chain",
                "era {era}: tracking {} committee peers and {} others",
                set.primary.len(),
                set.secondary.len()
            );
            let _ = manager.track(era, set);
            tracked = Some(era);
        }
        ctx.sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootnodes_parse_with_ip_or_dns_and_refuse_junk() {
        let ok = parse_bootnode("//Bob//session@10.0.0.2:30333").unwrap();
        assert_eq!(ok.addr, Ingress::Socket("10.0.0.2:30333".parse().unwrap()));
        let dns = parse_bootnode("//Bob//session@boot-1.example.org:30333").unwrap();
        assert!(matches!(dns.addr, Ingress::Dns { port: 30333, .. }));
        let v6 = parse_bootnode("//Bob//session@[::1]:1").unwrap();
        assert_eq!(v6.addr, Ingress::Socket("[::1]:1".parse().unwrap()));
        for bad in [
            "10.0.0.2:30333",
            "//Bob//session@10.0.0.2",
            "//Bob//session@10.0.0.2:port",
            "//Bob//session@bad host:1",
            "nobody@10.0.0.2:1",
        ] {
            assert!(parse_bootnode(bad).is_err(), "{bad}");
        }
    }

    fn account(suri: &str) -> AccountId {
        crust_primitives::Keypair::from_suri(suri).unwrap().public()
    }

    fn key(a: &AccountId) -> PublicKey {
        public_key_of(a).unwrap()
    }

    #[test]
    fn a_set_holds_the_committees_then_fixed_peers_then_some_candidates() {
        let v: Vec<AccountId> = (0..30)
            .map(|i| account(&format!("//V{i}//session")))
            .collect();
        // Era committee 0..4, next committee 2..6; this node (24) and its bootnode (0, also in
        // the committee); candidates: everyone.
        let committees: Vec<AccountId> = v[0..4].iter().chain(&v[2..6]).copied().collect();
        let cap = max_peers_per_set(4, 1);
        let set = choose(&committees, &[v[24], v[0]], &v, cap);
        assert_eq!(set.primary.len(), 6);
        assert!(
            v[0..6]
                .iter()
                .all(|a| set.primary.position(&key(a)).is_some())
        );
        // The bootnode is primary already; this node, then 4 candidates in order (6..10).
        assert_eq!(set.secondary.len(), 1 + EXTRA_CANDIDATES);
        assert!(set.secondary.position(&key(&v[24])).is_some());
        assert!(
            v[6..10]
                .iter()
                .all(|a| set.secondary.position(&key(a)).is_some())
        );
        assert!(set.secondary.position(&key(&v[10])).is_none());
        assert!(set.primary.len() + set.secondary.len() <= cap);
        // A tight cap keeps the committees and the fixed peers first.
        let small = choose(&committees, &[v[24], v[0]], &v, 8);
        assert_eq!((small.primary.len(), small.secondary.len()), (6, 2));
        assert!(small.secondary.position(&key(&v[24])).is_some());
    }

    #[test]
    fn every_node_tracks_the_same_set_from_the_same_state() {
        use commonware_runtime::{Runner as _, Supervisor as _, deterministic};
        deterministic::Runner::default().start(|ctx| async move {
            let spec = crate::spec::ChainSpec::builtin("local").unwrap();
            let (core, _) = crate::service::open_chain(ctx.child("store"), &spec, "peers")
                .await
                .unwrap();
            let c = core.lock().await;
            let committee = c.committee(0).unwrap();
            assert_eq!(committee.len(), 4);
            let (me, other) = (committee[1], committee[2]);
            let boot = account("//Bootnode//session");
            let cap = max_peers_per_set(4, 1);
            let mine = peer_set(&c, 0, &[me, boot], cap);
            let theirs = peer_set(&c, 0, &[other, boot], cap);
            assert_eq!(mine.primary, theirs.primary);
            assert_eq!(mine.primary.len(), 4);
            assert_eq!(
                mine.secondary.len(),
                1,
                "only the bootnode is outside the committee"
            );
        });
    }

    #[test]
    fn sets_are_bounded_by_seats_not_candidates() {
        assert_eq!(max_peers_per_set(4, 2), 4 * 2 + 2 + EXTRA_CANDIDATES + 1);
        assert_eq!(max_peers_per_set(0, 0), EXTRA_CANDIDATES + 1);
    }
}
