//! `crust chain-spec`: making a new network's genesis with operators on separate machines.
//!
//! One coordinator runs `new`, then adds what each operator sends: a validator's stash and
//! session *addresses* (each operator generates keys locally with `crust key new`; no secret
//! leaves its machine), balances, attestation authorities and bootnodes. `build` checks the
//! whole spec, stamps the genesis time, and prints the genesis hash every operator compares
//! before starting. A draft may be incomplete (no validators yet); a built spec is what
//! `crust node --chain FILE` loads.

use crust_chain::spec::{ChainSpec, SpecBalance, SpecValidator, parse_account};
use crust_primitives::balance::parse_balance;
use std::path::{Path, PathBuf};

/// `crust chain-spec …`
#[derive(clap::Subcommand)]
pub(crate) enum ChainSpecCommand {
    /// Start a draft spec with a built-in spec's timing and fees, and no accounts.
    New {
        /// Where to write it.
        file: PathBuf,
        /// Human name of the network.
        #[arg(long)]
        name: String,
        /// Short identifier (letters, digits, '-'); part of every signature's domain.
        #[arg(long)]
        id: String,
        /// The built-in spec whose timing, storage term and fees to start from.
        #[arg(long, default_value = "local")]
        timing: String,
        /// A council member (an address; repeat for each). The council can only cancel
        /// proposals before they run; there is no sudo key: privileged calls come from passed
        /// proposals only.
        #[arg(long = "council", value_name = "ADDRESS")]
        council: Vec<String>,
        /// Council approvals a cancellation needs (default: a majority of the members).
        #[arg(long)]
        council_threshold: Option<u32>,
        /// Committee seats (default: the number of genesis validators, set at `build`).
        #[arg(long)]
        seats: Option<u32>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Add a genesis validator from the addresses its operator sent.
    AddValidator {
        /// The draft spec.
        file: PathBuf,
        /// Stash (and controller) account address; it is endowed with the bond.
        #[arg(long)]
        stash: String,
        /// Session (consensus) key address, from `crust key new` on the validator's machine.
        #[arg(long)]
        session: String,
        /// Bonded amount, e.g. `10000 CRU`.
        #[arg(long, default_value = "10000 CRU")]
        bond: String,
        /// Also list this validator as a bootnode at `host:port` (its chain network address).
        #[arg(long)]
        bootnode: Option<String>,
    },
    /// Add (or raise) a genesis balance.
    AddBalance {
        /// The draft spec.
        file: PathBuf,
        /// Account address.
        account: String,
        /// Amount, e.g. `1000 CRU`.
        amount: String,
    },
    /// Add an sWork attestation authority (registers storage workers).
    AddAuthority {
        /// The draft spec.
        file: PathBuf,
        /// Authority account address.
        account: String,
        /// How many authorities must sign a registration (default: unchanged).
        #[arg(long)]
        threshold: Option<u32>,
    },
    /// Add a bootnode, `<session address>@<host:port>`.
    AddBootnode {
        /// The draft spec.
        file: PathBuf,
        /// The bootnode.
        bootnode: String,
    },
    /// Check the spec, stamp its genesis time, and print its genesis hash.
    Build {
        /// The draft spec (rewritten in place unless `--out` is given).
        file: PathBuf,
        /// Where to write the built spec.
        #[arg(long = "out")]
        out: Option<PathBuf>,
        /// Genesis time in milliseconds since the Unix epoch (default: now, rounded down to the
        /// second).
        #[arg(long)]
        genesis_time_ms: Option<u64>,
    },
    /// Print a spec's genesis hash, validators and bootnodes (a built-in name or a file).
    Inspect {
        /// `dev`, `local`, `mainnet-like` or a path.
        spec: String,
    },
}

/// Runs a `crust chain-spec` command.
pub(crate) fn run(command: ChainSpecCommand, output: crate::Output) -> Result<(), String> {
    match command {
        ChainSpecCommand::New {
            file,
            name,
            id,
            timing,
            council,
            council_threshold,
            seats,
            force,
        } => {
            if file.exists() && !force {
                return Err(format!(
                    "{} exists (use --force to overwrite)",
                    file.display()
                ));
            }
            valid_id(&id)?;
            let mut spec = ChainSpec::builtin(&timing).map_err(|e| e.to_string())?;
            spec.name = name;
            spec.id = id;
            spec.sudo = None;
            // A new network starts under the newest rules its binaries speak.
            spec.protocol_version = Some(crust_runtime::system::LATEST_PROTOCOL_VERSION);
            spec.council = council
                .iter()
                .map(|c| public_account(c, "--council"))
                .collect::<Result<_, _>>()?;
            spec.council_threshold = match council_threshold {
                Some(t) => t,
                None => {
                    u32::try_from(spec.council.len() / 2 + usize::from(!spec.council.is_empty()))
                        .unwrap_or(1)
                }
            };
            spec.validator_count = seats.unwrap_or(0);
            spec.balances.clear();
            spec.validators.clear();
            spec.swork_authorities.clear();
            spec.swork_authority_threshold = 1;
            spec.bootnodes.clear();
            spec.genesis_time_ms = 0;
            write(&file, &spec)?;
            println!(
                "draft spec {} written (timing of '{timing}'); add validators, balances and authorities, then build",
                file.display()
            );
            Ok(())
        }
        ChainSpecCommand::AddValidator {
            file,
            stash,
            session,
            bond,
            bootnode,
        } => {
            let mut spec = read_draft(&file)?;
            let stash = public_account(&stash, "--stash")?;
            let session = public_account(&session, "--session")?;
            parse_balance(&bond).map_err(|e| format!("--bond '{bond}': {e}"))?;
            if spec
                .validators
                .iter()
                .any(|v| v.stash == stash || v.session_key == session)
            {
                return Err(format!(
                    "a validator with stash {stash} or session key {session} is already in the spec"
                ));
            }
            if let Some(addr) = bootnode {
                let entry = format!("{session}@{addr}");
                crust_chain::peers::parse_bootnode(&entry)
                    .map_err(|e| format!("--bootnode {e}"))?;
                spec.bootnodes.push(entry);
            }
            spec.validators.push(SpecValidator {
                stash,
                session_key: session,
                bond,
            });
            write(&file, &spec)?;
            println!("{} genesis validators", spec.validators.len());
            Ok(())
        }
        ChainSpecCommand::AddBalance {
            file,
            account,
            amount,
        } => {
            let mut spec = read_draft(&file)?;
            let account = public_account(&account, "account")?;
            parse_balance(&amount).map_err(|e| format!("amount '{amount}': {e}"))?;
            spec.balances.retain(|b| b.account != account);
            spec.balances.push(SpecBalance { account, amount });
            write(&file, &spec)
        }
        ChainSpecCommand::AddAuthority {
            file,
            account,
            threshold,
        } => {
            let mut spec = read_draft(&file)?;
            let account = public_account(&account, "account")?;
            if !spec.swork_authorities.contains(&account) {
                spec.swork_authorities.push(account);
            }
            if let Some(t) = threshold {
                spec.swork_authority_threshold = t;
            }
            write(&file, &spec)
        }
        ChainSpecCommand::AddBootnode { file, bootnode } => {
            let mut spec = read_draft(&file)?;
            let parsed = crust_chain::peers::parse_bootnode(&bootnode)?;
            if parsed.account.to_ss58() != bootnode.rsplit_once('@').map_or("", |(a, _)| a) {
                return Err(format!(
                    "'{bootnode}': name the session key by its address ({})",
                    parsed.account
                ));
            }
            if !spec.bootnodes.contains(&bootnode) {
                spec.bootnodes.push(bootnode);
            }
            write(&file, &spec)
        }
        ChainSpecCommand::Build {
            file,
            out,
            genesis_time_ms,
        } => {
            let mut spec = read_draft(&file)?;
            if spec.validators.is_empty() {
                return Err(format!(
                    "{}: no genesis validators (crust chain-spec add-validator)",
                    file.display()
                ));
            }
            let validators = u32::try_from(spec.validators.len()).unwrap_or(u32::MAX);
            if spec.validator_count == 0 {
                spec.validator_count = validators;
            }
            spec.genesis_time_ms = match genesis_time_ms {
                Some(ms) => ms,
                None => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_err(|e| e.to_string())?;
                    now.as_secs().saturating_mul(1000)
                }
            };
            // Everything a node checks when it loads the spec.
            let text = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
            let spec = ChainSpec::from_json(&text).map_err(|e| e.to_string())?;
            let target = out.unwrap_or(file);
            write(&target, &spec)?;
            inspect(&spec, &target.display().to_string(), output)
        }
        ChainSpecCommand::Inspect { spec } => {
            let loaded = match std::fs::read_to_string(&spec) {
                Ok(text) => ChainSpec::from_json(&text).map_err(|e| format!("{spec}: {e}"))?,
                Err(_) => ChainSpec::builtin(&spec).map_err(|e| e.to_string())?,
            };
            inspect(&loaded, &spec, output)
        }
    }
}

/// Prints the genesis hash, the committee and the bootnodes.
fn inspect(spec: &ChainSpec, name: &str, output: crate::Output) -> Result<(), String> {
    let hash = crust_chain::service::genesis_hash(spec, &std::env::temp_dir())
        .map_err(|e| e.to_string())?;
    match output {
        crate::Output::Json => crate::print_json(&serde_json::json!({
            "spec": name,
            "id": spec.id,
            "genesis_hash": hash.to_string(),
            "genesis_time_ms": spec.genesis_time_ms,
            "validator_count": spec.validator_count,
            "validators": spec.validators,
            "bootnodes": spec.bootnodes,
            "sudo": spec.sudo,
            "protocol_version": spec.protocol_version.unwrap_or(1),
            "council": spec.council,
            "council_threshold": spec.council_threshold,
        })),
        crate::Output::Text => {
            println!("spec         {name} ({}, id {})", spec.name, spec.id);
            println!("genesis hash {hash}");
            println!("genesis time {} ms", spec.genesis_time_ms);
            println!(
                "validators   {} at genesis, {} seats",
                spec.validators.len(),
                spec.validator_count
            );
            for v in &spec.validators {
                println!(
                    "  stash {}  session {}  bond {}",
                    v.stash, v.session_key, v.bond
                );
            }
            for b in &spec.bootnodes {
                println!("bootnode     {b}");
            }
            println!(
                "protocol     version {}",
                spec.protocol_version.unwrap_or(1)
            );
            match &spec.sudo {
                Some(sudo) => println!(
                    "sudo         {sudo} (privileged calls without a vote: dev and local chains only)"
                ),
                None => println!("sudo         none: privileged calls need passed proposals"),
            }
            if spec.council.is_empty() {
                println!("council      none");
            } else {
                println!(
                    "council      {} of {}: {}",
                    spec.council_threshold,
                    spec.council.len(),
                    spec.council.join(", ")
                );
            }
        }
    }
    Ok(())
}

/// An account for a public network's spec: an address or hex key, never a secret URI (which
/// anyone can derive) or a stored key (whose secret is on this machine).
fn public_account(text: &str, what: &str) -> Result<String, String> {
    if text.starts_with("//") || text.contains(' ') {
        return Err(format!(
            "{what} '{text}': give an address (SS58 or 0x hex), not a secret; generate keys on their own machine with `crust key new NAME`"
        ));
    }
    let account = parse_account(text).map_err(|e| format!("{what}: {e}"))?;
    Ok(account.to_ss58())
}

fn valid_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!("--id '{id}': 1–32 letters, digits or '-'"))
    }
}

/// A draft: the spec's JSON without the checks a complete spec passes.
fn read_draft(file: &Path) -> Result<ChainSpec, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))
}

/// Writes a spec atomically (a temporary file renamed over the old one).
fn write(file: &Path, spec: &ChainSpec) -> Result<(), String> {
    let text = serde_json::to_string_pretty(spec).map_err(|e| e.to_string())?;
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, text + "\n").map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, file).map_err(|e| format!("{}: {e}", file.display()))
}
