//! Accounts and staking from the command line: `crust balance`, `crust transfer`, `crust stake
//! …` (bond, unbond, validate, guarantee, cut, chill, payout) and the read commands `crust
//! validators` and `crust era`.

use crate::chain_client::ChainClient;
use crate::orders::ChainArgs;
use crate::{Output, print_json};
use crust_client::api;
use crust_primitives::balance::{Cru, parse_balance};
use crust_primitives::{AccountId, Balance, Keypair, Perbill};
use crust_runtime::Call;
use crust_runtime::balances::BalancesCall;
use crust_runtime::staking::{StakingCall, ValidatorPrefs};
use serde_json::json;

/// Staking transactions.
#[derive(clap::Subcommand)]
pub enum StakeCommand {
    /// Bond funds of the signing stash (its own controller).
    Bond {
        /// Amount, e.g. `1000 CRU`.
        amount: String,
    },
    /// Start unbonding (withdrawable after the bonding duration).
    Unbond {
        /// Amount.
        amount: String,
    },
    /// Offer to validate with this session key and commission.
    Validate {
        /// The node's session (consensus) key: secret URI, SS58 or 0x-hex.
        #[arg(long)]
        session_key: String,
        /// Commission in percent (0–100).
        #[arg(long, default_value_t = 0)]
        commission: u32,
    },
    /// Guarantee (nominate) a validator with part of the bond.
    Guarantee {
        /// The validator's stash.
        validator: String,
        /// Amount.
        amount: String,
    },
    /// Reduce a guarantee.
    Cut {
        /// The validator's stash.
        validator: String,
        /// Amount.
        amount: String,
    },
    /// Stop validating and guaranteeing.
    Chill,
    /// Pay out a validator's and its guarantors' rewards for an era (anyone may).
    Payout {
        /// The validator's stash.
        validator: String,
        /// Era.
        era: u64,
    },
}

fn account(text: &str) -> Result<AccountId, String> {
    crate::keys::account(text)
}

fn amount(text: &str) -> Result<Balance, String> {
    parse_balance(text).map_err(|e| format!("amount '{text}': {e}"))
}

fn signer(from: &str) -> Result<Keypair, String> {
    crate::keys::signer(from)
}

/// `crust stake …`: signs and submits one staking call.
pub fn stake(command: StakeCommand, from: &str, chain: &ChainArgs) -> Result<(), String> {
    let signer = signer(from)?;
    let call = match command {
        StakeCommand::Bond { amount: a } => StakingCall::Bond {
            controller: signer.public(),
            value: amount(&a)?,
        },
        StakeCommand::Unbond { amount: a } => StakingCall::Unbond { value: amount(&a)? },
        StakeCommand::Validate {
            session_key,
            commission,
        } => {
            if commission > 100 {
                return Err("--commission is a percentage (0–100)".into());
            }
            StakingCall::Validate {
                prefs: ValidatorPrefs {
                    commission: Perbill::from_percent(commission),
                    session_key: account(&session_key)?,
                },
            }
        }
        StakeCommand::Guarantee {
            validator,
            amount: a,
        } => StakingCall::Guarantee {
            target: account(&validator)?,
            value: amount(&a)?,
        },
        StakeCommand::Cut {
            validator,
            amount: a,
        } => StakingCall::CutGuarantee {
            target: account(&validator)?,
            value: amount(&a)?,
        },
        StakeCommand::Chill => StakingCall::Chill {},
        StakeCommand::Payout { validator, era } => StakingCall::RewardStakers {
            validator: account(&validator)?,
            era,
        },
    };
    let (tx, height) =
        ChainClient::new(&chain.chain)?.submit_and_wait(&signer, Call::Staking(call))?;
    println!("{tx}");
    eprintln!("included in block {height}");
    Ok(())
}

/// `crust balance [ACCOUNT]`.
pub fn balance(who: &str, chain: &ChainArgs, output: Output) -> Result<(), String> {
    let who = account(who)?;
    let (free, reserved, nonce) = ChainClient::new(&chain.chain)?.account(&who)?;
    match output {
        Output::Json => print_json(&json!({
            "account": who.to_ss58(),
            "free": free.to_string(),
            "reserved": reserved.to_string(),
            "nonce": nonce,
        })),
        Output::Text => {
            println!("account   {}", who.to_ss58());
            println!("free      {}", Cru(free));
            println!("reserved  {}", Cru(reserved));
            println!("nonce     {nonce}");
        }
    }
    Ok(())
}

/// `crust transfer TO AMOUNT`.
pub fn transfer(to: &str, value: &str, from: &str, chain: &ChainArgs) -> Result<(), String> {
    let signer = signer(from)?;
    let call = Call::Balances(BalancesCall::Transfer {
        dest: account(to)?,
        amount: amount(value)?,
    });
    let (tx, height) = ChainClient::new(&chain.chain)?.submit_and_wait(&signer, call)?;
    println!("{tx}");
    eprintln!("included in block {height}");
    Ok(())
}

/// `crust validators`: the committee, the next one if elected, and every candidate's stake limit.
pub fn validators(chain: &ChainArgs, output: Output) -> Result<(), String> {
    let client = ChainClient::new(&chain.chain)?;
    let view = client.request::<api::StakingValidators>(api::NoParams {})?;
    // D31: what a stake limit is made of. Proven files always; SRD only where the worker's
    // attestation vouches for it.
    let swork: crust_runtime::swork::SworkParams = client
        .read(&crust_runtime::swork::params_key())?
        .unwrap_or_default();
    let counted: Vec<&str> = [
        (swork.srd_counts_authorities, "authorities"),
        (swork.srd_counts_dcap, "sgx-dcap"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if output == Output::Json {
        let mut out = json!(view);
        out["srd_counts_under"] = json!(counted);
        print_json(&out);
        return Ok(());
    }
    println!("era {} at block {}", view.era, view.height);
    println!(
        "stake limits count proven files, and SRD of workers attested by: {}",
        if counted.is_empty() {
            "none".to_owned()
        } else {
            counted.join(", ")
        }
    );
    for (title, committee) in [
        ("committee", &view.committee),
        ("next committee", &view.next_committee),
    ] {
        match committee {
            None => println!("{title}: not elected yet"),
            Some(list) => {
                println!("{title} ({} members):", list.len());
                for m in list {
                    println!("  {}  stake {}", m.stash, Cru(m.stake));
                }
            }
        }
    }
    println!("candidates:");
    for c in &view.candidates {
        println!(
            "  {}  bonded {}  stake limit {}  effective own {}  commission {}%",
            c.stash,
            Cru(c.bonded),
            Cru(c.stake_limit),
            Cru(c.effective_own),
            c.commission_ppb / 10_000_000
        );
    }
    Ok(())
}

/// `crust era`: the active era and where the chain is in it.
pub fn era(chain: &ChainArgs, output: Output) -> Result<(), String> {
    let client = ChainClient::new(&chain.chain)?;
    let view = client.request::<api::StakingValidators>(api::NoParams {})?;
    let config: crust_runtime::system::RuntimeConfig = client
        .read(&crust_runtime::system::config_key())?
        .ok_or("the chain has no runtime config")?;
    let height = view.height;
    let era_blocks = (config.report_slot_blocks * config.slots_per_era).max(1);
    let next_at = (height / era_blocks + 1) * era_blocks;
    let out = json!({
        "era": view.era,
        "height": height,
        "era_blocks": era_blocks,
        "next_era_at": next_at,
        "committee_size": view.committee.as_ref().map_or(0, Vec::len),
        "next_committee_elected": view.next_committee.is_some(),
    });
    match output {
        Output::Json => print_json(&out),
        Output::Text => println!(
            "era {} · block {height} · next era at block {next_at} ({} blocks of {}) · committee {} · next committee {}",
            out["era"],
            next_at - height,
            era_blocks,
            out["committee_size"],
            if out["next_committee_elected"] == true {
                "elected"
            } else {
                "not yet elected"
            }
        ),
    }
    Ok(())
}
