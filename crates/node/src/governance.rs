//! Governance from the command line: `crust gov propose|vote|cancel|status|list` and
//! `crust treasury`.
//!
//! A proposal names one privileged call; the common ones have their own subcommand, and any
//! other can be given as its encoded bytes (`raw 0x…`). Votes are cast by stashes with their
//! active bond; the council can only cancel.

use crate::chain_client::ChainClient;
use crate::orders::ChainArgs;
use crate::{Output, print_json};
use crust_primitives::balance::{Cru, parse_balance};
use crust_primitives::{AccountId, Balance, Keypair};
use crust_runtime::governance::{
    self, GovParams, GovernanceCall, Proposal, ProposalKind, ProposalStatus, RootCall,
};
use crust_runtime::market::{MarketCall, MarketParameter};
use crust_runtime::staking::{Forcing, StakingCall};
use crust_runtime::swork::SworkCall;
use crust_runtime::{Call, ProposedCall, system};
use serde_json::json;

/// `crust gov …`
#[derive(clap::Subcommand)]
pub enum GovCommand {
    /// Propose a privileged call (reserves the proposal deposit until it closes).
    Propose {
        #[command(subcommand)]
        call: ProposeCommand,
    },
    /// Vote on an open proposal with the signing stash's active bond (a later vote replaces
    /// an earlier one).
    Vote {
        /// Proposal number.
        id: u32,
        /// `aye` or `nay`.
        #[arg(value_parser = ["aye", "nay"])]
        choice: String,
    },
    /// As a council member, approve cancelling a proposal before it runs.
    Cancel {
        /// Proposal number.
        id: u32,
        /// Forfeit the proposer's deposit to the treasury (for spam or malice).
        #[arg(long)]
        kill: bool,
    },
    /// One proposal: its call, tally against the thresholds, and where it is.
    Status {
        /// Proposal number.
        id: u32,
    },
    /// Proposals (newest first), the council, the parameters and the protocol version.
    List {
        /// How many of the newest proposals to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

/// The privileged calls a proposal can make.
#[derive(clap::Subcommand)]
pub enum ProposeCommand {
    /// Pay from the treasury.
    TreasurySpend {
        /// Recipient address.
        to: String,
        /// Amount, e.g. `100 CRU`.
        amount: String,
    },
    /// Pay from the market's reserved pot (D11).
    SpendReserved {
        /// Recipient address.
        to: String,
        /// Amount.
        amount: String,
    },
    /// Committee seats.
    ValidatorCount {
        /// Seats.
        count: u32,
    },
    /// Minimum self-bond to be elected.
    MinSelfBond {
        /// Amount.
        amount: String,
    },
    /// Force era changes: `new`, `none` or `normal`.
    ForceEra {
        /// Mode.
        #[arg(value_parser = ["new", "none", "normal"])]
        mode: String,
    },
    /// Cancel deferred slashes of an era by index.
    CancelSlash {
        /// Era the slashes apply in.
        era: u64,
        /// Indices in that era's list.
        #[arg(required = true)]
        indices: Vec<u32>,
    },
    /// Switch storage challenges on or off.
    Challenges {
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        switch: String,
    },
    /// Switch punishment for missed work reports on or off.
    Punishment {
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        switch: String,
    },
    /// Replace the attestation authorities.
    Authorities {
        /// Authority addresses.
        #[arg(required = true)]
        authorities: Vec<String>,
        /// Signatures a registration needs.
        #[arg(long)]
        threshold: u32,
    },
    /// Allow an sWork code measurement until a block.
    AllowCode {
        /// `0x` + 64 hex digits.
        code: String,
        /// Last block it is allowed.
        #[arg(long)]
        expire_block: u64,
    },
    /// A market parameter: `base-fee`, `byte-fee`, `keys-fee` (amounts), `target-replicas`
    /// (a count) or `enable-market` (`true`/`false`).
    MarketParam {
        /// Parameter name.
        #[arg(value_parser = ["base-fee", "byte-fee", "keys-fee", "target-replicas", "enable-market"])]
        name: String,
        /// Value.
        value: String,
    },
    /// Replace the council.
    Council {
        /// Member addresses (none: no council).
        members: Vec<String>,
        /// Approvals a cancellation needs.
        #[arg(long)]
        threshold: u32,
    },
    /// Governance's own parameters (unchanged ones keep their value).
    Params {
        /// Proposal deposit.
        #[arg(long)]
        deposit: Option<String>,
        /// Voting period in blocks.
        #[arg(long)]
        voting_period: Option<u64>,
        /// Enactment delay in blocks.
        #[arg(long)]
        enactment_delay: Option<u64>,
    },
    /// Schedule the next protocol version at a block height.
    Upgrade {
        /// The version (the next after the current one).
        #[arg(long)]
        version: u32,
        /// Its first block.
        #[arg(long)]
        at: u64,
    },
    /// Drop the scheduled upgrade.
    CancelUpgrade,
    /// Any privileged call, SCALE-like encoded as the chain encodes calls (`0x…`).
    Raw {
        /// The encoded call.
        call: String,
    },
}

fn account(text: &str) -> Result<AccountId, String> {
    crate::keys::account(text)
}

fn amount(text: &str) -> Result<Balance, String> {
    parse_balance(text).map_err(|e| format!("amount '{text}': {e}"))
}

fn on(switch: &str) -> bool {
    switch == "on"
}

/// The call a `propose` subcommand describes (`client` reads current values where a call
/// replaces a whole record).
fn proposed_call(cmd: ProposeCommand, client: &ChainClient) -> Result<Call, String> {
    Ok(match cmd {
        ProposeCommand::TreasurySpend { to, amount: a } => Call::Root(RootCall::TreasurySpend {
            to: account(&to)?,
            amount: amount(&a)?,
        }),
        ProposeCommand::SpendReserved { to, amount: a } => {
            Call::Market(MarketCall::SpendReserved {
                to: account(&to)?,
                amount: amount(&a)?,
            })
        }
        ProposeCommand::ValidatorCount { count } => {
            Call::Staking(StakingCall::SetValidatorCount { count })
        }
        ProposeCommand::MinSelfBond { amount: a } => Call::Staking(StakingCall::SetMinSelfBond {
            amount: amount(&a)?,
        }),
        ProposeCommand::ForceEra { mode } => Call::Staking(StakingCall::ForceEra {
            mode: match mode.as_str() {
                "new" => Forcing::ForceNew,
                "none" => Forcing::ForceNone,
                _ => Forcing::NotForcing,
            },
        }),
        ProposeCommand::CancelSlash { era, indices } => {
            Call::Staking(StakingCall::CancelDeferredSlash { era, indices })
        }
        ProposeCommand::Challenges { switch } => Call::Swork(SworkCall::SetChallenges {
            enabled: on(&switch),
        }),
        ProposeCommand::Punishment { switch } => Call::Swork(SworkCall::SetPunishment {
            enabled: on(&switch),
        }),
        ProposeCommand::Authorities {
            authorities,
            threshold,
        } => Call::Swork(SworkCall::SetAuthorities {
            authorities: authorities
                .iter()
                .map(|a| account(a))
                .collect::<Result<_, _>>()?,
            threshold,
        }),
        ProposeCommand::AllowCode { code, expire_block } => {
            let code = crust_chain::Hash::from_hex(&code)
                .ok_or_else(|| format!("code '{code}' is not 0x + 64 hex digits"))?;
            Call::Swork(SworkCall::SetCode {
                code: code.0,
                expire_block,
            })
        }
        ProposeCommand::MarketParam { name, value } => {
            let param = match name.as_str() {
                "base-fee" => MarketParameter::BaseFee {
                    fee: amount(&value)?,
                },
                "byte-fee" => MarketParameter::ByteFee {
                    fee: amount(&value)?,
                },
                "keys-fee" => MarketParameter::KeysFee {
                    fee: amount(&value)?,
                },
                "target-replicas" => MarketParameter::TargetReplicas {
                    replicas: value
                        .parse()
                        .map_err(|_| format!("target-replicas '{value}' is not a count"))?,
                },
                _ => MarketParameter::EnableMarket {
                    enabled: value
                        .parse()
                        .map_err(|_| format!("enable-market '{value}': true or false"))?,
                },
            };
            Call::Market(MarketCall::SetParameter { param })
        }
        ProposeCommand::Council { members, threshold } => Call::Root(RootCall::SetCouncil {
            members: members
                .iter()
                .map(|a| account(a))
                .collect::<Result<_, _>>()?,
            threshold,
        }),
        ProposeCommand::Params {
            deposit,
            voting_period,
            enactment_delay,
        } => {
            let mut params: GovParams = client
                .read(&governance::params_key())?
                .ok_or("the chain has no governance parameters")?;
            if let Some(d) = deposit {
                params.proposal_deposit = amount(&d)?;
            }
            if let Some(v) = voting_period {
                params.voting_period = v;
            }
            if let Some(d) = enactment_delay {
                params.enactment_delay = d;
            }
            Call::Root(RootCall::SetParams { params })
        }
        ProposeCommand::Upgrade { version, at } => {
            Call::Root(RootCall::ScheduleUpgrade { version, at })
        }
        ProposeCommand::CancelUpgrade => Call::Root(RootCall::CancelUpgrade {}),
        ProposeCommand::Raw { call } => {
            let hex = call.strip_prefix("0x").unwrap_or(&call);
            let bytes = crust_primitives::account::from_hex(hex)
                .ok_or_else(|| format!("'{call}' is not hex"))?;
            let proposed: ProposedCall = crust_primitives::codec::decode(&bytes)
                .map_err(|e| format!("'{call}' is not an encoded call: {e}"))?;
            *proposed.0
        }
    })
}

/// `crust gov …`
pub fn gov(
    command: GovCommand,
    from: &str,
    chain: &ChainArgs,
    output: Output,
) -> Result<(), String> {
    let client = ChainClient::new(&chain.chain)?;
    let signer = || -> Result<Keypair, String> { crate::keys::signer(from) };
    match command {
        GovCommand::Propose { call } => {
            let call = proposed_call(call, &client)?;
            if governance::kind_of(&call).is_none() {
                return Err(
                    "that call needs no governance; send it as an ordinary transaction".into(),
                );
            }
            let signer = signer()?;
            let (tx, height) = client.submit_and_wait(
                &signer,
                Call::Governance(GovernanceCall::Propose {
                    call: ProposedCall::new(call),
                }),
            )?;
            let id = find_proposal(&client, &signer.public(), height)?;
            match output {
                Output::Json => print_json(&json!({"tx": tx, "block": height, "proposal": id})),
                Output::Text => {
                    println!("proposal #{id}");
                    eprintln!("{tx} included in block {height}");
                }
            }
            Ok(())
        }
        GovCommand::Vote { id, choice } => {
            let aye = choice == "aye";
            let (tx, height) = client.submit_and_wait(
                &signer()?,
                Call::Governance(GovernanceCall::Vote { proposal: id, aye }),
            )?;
            println!("{tx}");
            eprintln!("voted {choice} on #{id} in block {height}");
            Ok(())
        }
        GovCommand::Cancel { id, kill } => {
            let (tx, height) = client.submit_and_wait(
                &signer()?,
                Call::Governance(GovernanceCall::CouncilCancel { proposal: id, kill }),
            )?;
            println!("{tx}");
            let p = read_proposal(&client, id)?;
            eprintln!(
                "approved in block {height}; #{id} is now {}",
                status_text(&p.status)
            );
            Ok(())
        }
        GovCommand::Status { id } => status(&client, id, output),
        GovCommand::List { limit } => list(&client, limit, output),
    }
}

/// The proposal `proposer` made in block `height` (the newest such).
fn find_proposal(client: &ChainClient, proposer: &AccountId, height: u64) -> Result<u32, String> {
    let count: u32 = client.read(&governance::next_id_key())?.unwrap_or(0);
    for id in (0..count).rev() {
        let p = read_proposal(client, id)?;
        if p.proposer == *proposer && p.submitted_at == height {
            return Ok(id);
        }
    }
    Err(format!("the proposal made in block {height} was not found"))
}

fn read_proposal(client: &ChainClient, id: u32) -> Result<Proposal, String> {
    client
        .read(&governance::proposal_key(id))?
        .ok_or_else(|| format!("no proposal #{id}"))
}

use governance::status_text;

fn percent(part: Balance, whole: Balance) -> String {
    if whole == 0 {
        return "0%".into();
    }
    let bp = part.saturating_mul(10_000) / whole;
    format!("{}.{:02}%", bp / 100, bp % 100)
}

fn proposal_json(
    id: u32,
    p: &Proposal,
    params: &GovParams,
    electorate: Balance,
) -> serde_json::Value {
    let t = params.threshold(p.kind);
    json!({
        "id": id,
        "kind": p.kind,
        "proposer": p.proposer.to_ss58(),
        "call": format!("{:?}", p.call.0),
        "deposit": p.deposit.to_string(),
        "submitted_at": p.submitted_at,
        "voting_ends": p.voting_ends,
        "aye": p.aye.to_string(),
        "nay": p.nay.to_string(),
        "voters": p.voters,
        "electorate": electorate.to_string(),
        "turnout_needed_ppb": t.turnout.deconstruct(),
        "approval_needed_ppb": t.approval.deconstruct(),
        "passing": governance::passes(t, p.aye, p.nay, electorate),
        "status": status_text(&p.status),
    })
}

fn status(client: &ChainClient, id: u32, output: Output) -> Result<(), String> {
    let p = read_proposal(client, id)?;
    let params: GovParams = client
        .read(&governance::params_key())?
        .ok_or("the chain has no governance parameters")?;
    let electorate = electorate(client)?;
    let head = client.head()?.height;
    if output == Output::Json {
        print_json(&proposal_json(id, &p, &params, electorate));
        return Ok(());
    }
    let t = params.threshold(p.kind);
    let cast = p.aye.saturating_add(p.nay);
    println!("proposal #{id}  {:?}  by {}", p.kind, p.proposer.to_ss58());
    println!("call      {:?}", p.call.0);
    println!("deposit   {}", Cru(p.deposit));
    println!("status    {}", status_text(&p.status));
    if p.status == (ProposalStatus::Voting {}) {
        println!(
            "voting    ends at block {} ({} blocks from #{head})",
            p.voting_ends,
            p.voting_ends.saturating_sub(head)
        );
    }
    println!(
        "aye       {} ({} of votes; needs more than {})",
        Cru(p.aye),
        percent(p.aye, cast),
        t.approval
    );
    println!("nay       {}", Cru(p.nay));
    println!(
        "turnout   {} of {} bonded by {} voters ({}; needs {})",
        Cru(cast),
        Cru(electorate),
        p.voters,
        percent(cast, electorate),
        t.turnout
    );
    if p.status == (ProposalStatus::Voting {}) {
        let passing = governance::passes(t, p.aye, p.nay, electorate);
        println!(
            "if voting ended now it would {}",
            if passing { "pass" } else { "be rejected" }
        );
    }
    Ok(())
}

fn electorate(client: &ChainClient) -> Result<Balance, String> {
    Ok(client
        .read(&crust_runtime::staking::total_active_key())?
        .unwrap_or(0))
}

fn list(client: &ChainClient, limit: u32, output: Output) -> Result<(), String> {
    let count: u32 = client.read(&governance::next_id_key())?.unwrap_or(0);
    let params: GovParams = client
        .read(&governance::params_key())?
        .ok_or("the chain has no governance parameters")?;
    let council: governance::Council = client.read(&governance::council_key())?.unwrap_or_default();
    let config: system::RuntimeConfig = client
        .read(&system::config_key())?
        .ok_or("the chain has no runtime config")?;
    let version: u32 = client.read(&system::version_key())?.unwrap_or(1);
    let scheduled: Option<system::ScheduledUpgrade> = client.read(&system::scheduled_key())?;
    let electorate = electorate(client)?;
    let mut proposals = Vec::new();
    for id in (count.saturating_sub(limit)..count).rev() {
        proposals.push((id, read_proposal(client, id)?));
    }
    if output == Output::Json {
        print_json(&json!({
            "protocol_version": version,
            "scheduled_upgrade": scheduled,
            "sudo": config.sudo.map(|s| s.to_ss58()),
            "council": council.members.iter().map(|m| m.to_ss58()).collect::<Vec<_>>(),
            "council_threshold": council.threshold,
            "params": params,
            "electorate": electorate.to_string(),
            "proposals": proposals.iter().map(|(id, p)| proposal_json(*id, p, &params, electorate)).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    println!("protocol  version {version}");
    if let Some(up) = scheduled {
        println!("upgrade   to version {} at block {}", up.version, up.at);
    }
    match config.sudo {
        Some(s) => println!("sudo      {s} (this chain lets one key bypass votes: dev/local only)"),
        None => println!("sudo      none"),
    }
    if council.members.is_empty() {
        println!("council   none");
    } else {
        println!(
            "council   {} of {}: {}",
            council.threshold,
            council.members.len(),
            council
                .members
                .iter()
                .map(|m| m.to_ss58())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "rules     deposit {}, voting {} blocks, enactment after {} blocks",
        Cru(params.proposal_deposit),
        params.voting_period,
        params.enactment_delay
    );
    for kind in ProposalKind::ALL {
        let t = params.threshold(kind);
        println!(
            "          {kind:?}: turnout {} of {}, approval more than {}",
            t.turnout,
            Cru(electorate),
            t.approval
        );
    }
    if proposals.is_empty() {
        println!("no proposals yet");
    }
    for (id, p) in &proposals {
        println!(
            "#{id:<4} {:<10} aye {} nay {}  {}",
            format!("{:?}", p.kind),
            Cru(p.aye),
            Cru(p.nay),
            status_text(&p.status)
        );
    }
    Ok(())
}

/// `crust treasury`: what the treasury and the market's reserved pot hold.
pub fn treasury(chain: &ChainArgs, output: Output) -> Result<(), String> {
    let client = ChainClient::new(&chain.chain)?;
    let treasury = system::treasury_account();
    let reserved = crust_runtime::market::reserved_pot();
    let (t_free, _, _) = client.account(&treasury)?;
    let (r_free, _, _) = client.account(&reserved)?;
    match output {
        Output::Json => print_json(&json!({
            "treasury": {"account": treasury.to_ss58(), "free": t_free.to_string()},
            "reserved_pot": {"account": reserved.to_ss58(), "free": r_free.to_string()},
        })),
        Output::Text => {
            println!("treasury      {} ({treasury})", Cru(t_free));
            println!("reserved pot  {} ({reserved})", Cru(r_free));
            println!(
                "the treasury gets 80% of transaction fees and what slashes take; only passed \
                 proposals spend it (`crust gov propose treasury-spend`)"
            );
        }
    }
    Ok(())
}
