//! `crust order` and `crust group`: placing storage orders (with provider hints in the
//! memo) and managing storage-owner groups.

use super::*;

/// The first line of an order memo that carries provider hints; each further line is a
/// multiaddr (ending in `/p2p/<peer id>`) of a node that holds the file. Storage workers fetch
/// from these besides their own peers and the DHT, so a file added to any IPFS node (Kubo,
/// Helia, …) can be ordered before it is announced anywhere.
pub(super) const PROVIDERS_MEMO: &str = "crust/providers/v1";

/// The memo for `providers` (at most the chain's 256 bytes).
pub(super) fn providers_memo(providers: &[String]) -> Result<Vec<u8>, String> {
    if providers.is_empty() {
        return Ok(Vec::new());
    }
    for p in providers {
        let addr: crust_net::Multiaddr = p.parse().map_err(|e| format!("--provider {p}: {e}"))?;
        if !addr
            .iter()
            .any(|c| matches!(c, crust_net::multiaddr::Protocol::P2p(_)))
        {
            return Err(format!("--provider {p}: must end in /p2p/<peer id>"));
        }
    }
    let memo = std::iter::once(PROVIDERS_MEMO.to_owned())
        .chain(providers.iter().cloned())
        .collect::<Vec<_>>()
        .join("\n");
    if memo.len() > 256 {
        return Err(format!(
            "the provider addresses take {} bytes; an order memo holds 256",
            memo.len()
        ));
    }
    Ok(memo.into_bytes())
}

/// A providers memo with as many of `addrs` (in order) as fit in the chain's 256 bytes;
/// addresses without `/p2p/<peer id>` are left out (a worker could not dial them). Empty if
/// none fits.
pub fn providers_memo_fitting(addrs: &[String]) -> Vec<u8> {
    let mut memo = PROVIDERS_MEMO.to_owned();
    for a in addrs {
        let dialable = a.parse::<crust_net::Multiaddr>().is_ok_and(|m| {
            m.iter()
                .any(|c| matches!(c, crust_net::multiaddr::Protocol::P2p(_)))
        });
        if dialable && memo.len() + 1 + a.len() <= 256 && !memo.lines().any(|l| l == a) {
            memo.push('\n');
            memo.push_str(a);
        }
    }
    if memo == PROVIDERS_MEMO {
        return Vec::new();
    }
    memo.into_bytes()
}

/// The provider hints in an order memo (none if it is not a providers memo).
pub(super) fn provider_hints(memo: &[u8]) -> Vec<String> {
    let Ok(text) = std::str::from_utf8(memo) else {
        return Vec::new();
    };
    let mut lines = text.lines();
    if lines.next() != Some(PROVIDERS_MEMO) {
        return Vec::new();
    }
    lines
        .filter(|l| l.parse::<crust_net::Multiaddr>().is_ok())
        .map(str::to_owned)
        .collect()
}

/// What `crust order` orders.
pub struct OrderArgs<'a> {
    /// Chain RPC.
    pub chain: &'a str,
    /// The IPFS node to size the file with.
    pub api: &'a str,
    /// The payer.
    pub from: &'a str,
    /// The root CID.
    pub cid: &'a str,
    /// The size, if given.
    pub size: Option<u64>,
    /// A local copy of the file to size it from.
    pub file: Option<&'a Path>,
    /// Tips.
    pub tips: &'a str,
    /// Nodes holding the file.
    pub providers: &'a [String],
    /// The content commitment (`0xROOT:SIZE`), if given.
    pub commitment: Option<&'a str>,
}

/// `crust order CID`: places a storage order signed by `--from`. The size is `--size`, or
/// computed from `--file` (which must import to the same CID), or the DAG's as the IPFS node at
/// `api` reports it — what storage workers will report. `--provider` addresses go into the memo.
pub fn order(args: OrderArgs<'_>) -> Result<(), String> {
    let cid: Cid = args.cid.parse().map_err(|e| format!("{}: {e}", args.cid))?;
    let size = match (args.size, args.file) {
        (Some(s), _) => s,
        (None, Some(path)) => {
            let (root, size) = crate::content::file_dag(path)?;
            if root != cid {
                return Err(format!(
                    "{} imports to {root} with `ipfs add` defaults, not {cid}; give --size",
                    path.display()
                ));
            }
            size
        }
        (None, None) => crate::content::dag_size(args.api, &cid)?,
    };
    let signer = crate::keys::signer(args.from)?;
    let tips =
        crust_primitives::balance::parse_balance(args.tips).map_err(|e| format!("--tips: {e}"))?;
    let client = ChainClient::new(args.chain)?;
    let commitment = match (args.commitment, args.file) {
        (Some(text), _) => text.parse().map_err(|e| format!("--commitment: {e}"))?,
        (None, Some(path)) => crate::content::file_commitment(path)?.1,
        (None, None) => crate::content::commitment_via_api(args.api, &cid).map_err(|e| {
            format!("{e}; give --commitment 0xROOT:SIZE (`crust ipfs commitment {cid}` prints it)")
        })?,
    };
    let call = Call::Market(MarketCall::PlaceStorageOrder {
        cid,
        file_size: size,
        tips,
        memo: providers_memo(args.providers)?,
        commitment,
    });
    let (hash, height) = client.submit_and_wait(&signer, call)?;
    println!("{hash}");
    eprintln!(
        "order for {cid} ({size} bytes) placed in block {height}; watch it with  crust status {cid}"
    );
    Ok(())
}

/// Storage-owner groups (D19): several workers' storage counts for one owner.
#[derive(clap::Subcommand)]
pub enum GroupCommand {
    /// Make the signing account a group owner.
    Create,
    /// Allow an account to join the signer's group.
    Allow {
        /// The member account (SS58, 0x-hex or secret URI).
        member: String,
    },
    /// Withdraw an allowance.
    Disallow {
        /// The member account.
        member: String,
    },
    /// Join a group (the signer is the worker's account; it must have no spower of its own).
    Join {
        /// The group owner.
        owner: String,
    },
    /// Leave the signer's group.
    Quit,
    /// Remove a member from the signer's group.
    Kick {
        /// The member account.
        member: String,
    },
}

/// `crust group …`: one sWork group call, waiting for its receipt.
pub fn group(command: GroupCommand, from: &str, chain: &str) -> Result<(), String> {
    let signer = crate::keys::signer(from)?;
    let account =
        |text: &str| crust_chain::spec::parse_account(text).map_err(|e| format!("{text}: {e}"));
    let call = match command {
        GroupCommand::Create => SworkCall::CreateGroup {},
        GroupCommand::Allow { member } => SworkCall::AddMemberIntoAllowlist {
            target: account(&member)?,
        },
        GroupCommand::Disallow { member } => SworkCall::RemoveMemberFromAllowlist {
            target: account(&member)?,
        },
        GroupCommand::Join { owner } => SworkCall::JoinGroup {
            owner: account(&owner)?,
        },
        GroupCommand::Quit => SworkCall::QuitGroup {},
        GroupCommand::Kick { member } => SworkCall::KickOut {
            member: account(&member)?,
        },
    };
    let (tx, height) = ChainClient::new(chain)?.submit_and_wait(&signer, Call::Swork(call))?;
    println!("{tx}");
    eprintln!("included in block {height}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_hints_round_trip_through_the_memo() {
        let kubo = "/ip4/127.0.0.1/tcp/4001/p2p/QmVgPq5iP232uJkU4LrD4Gsm1XXH5ky6tEvYCyanurxZgh";
        let memo = providers_memo(&[kubo.to_owned()]).unwrap();
        assert_eq!(provider_hints(&memo), vec![kubo.to_owned()]);
        assert!(providers_memo(&[]).unwrap().is_empty());
        assert!(
            providers_memo(&["/ip4/127.0.0.1/tcp/4001".into()]).is_err(),
            "no peer id"
        );
        assert!(
            providers_memo(&vec![kubo.to_owned(); 4]).is_err(),
            "over 256 bytes"
        );
        // Memos that are not provider lists, or hostile ones, give no hints.
        assert!(provider_hints(b"my holiday photos").is_empty());
        assert!(provider_hints(&[0xff, 0xfe]).is_empty());
        assert!(provider_hints(b"crust/providers/v1\nnot an address").is_empty());
    }

    #[test]
    fn dev_chains_allow_the_software_enclave_and_its_authority() {
        let code = crust_sworker::enclave::software_code_measurement();
        let authority = Keypair::from_suri("//Authority").expect("dev uri").public();
        for name in ["dev", "local"] {
            let genesis = crust_chain::spec::ChainSpec::builtin(name)
                .expect("spec")
                .genesis()
                .expect("genesis");
            assert!(
                genesis.swork_codes.iter().any(|(c, _)| *c == code),
                "{name}.json must allow this build's software enclave (version bump?)"
            );
            assert_eq!(genesis.swork_authorities, (vec![authority], 1));
        }
    }
}
