//! The `crust` command line.
//!
//! Chain commands (`devnet`, `node`, `tx`), the content layer (`add`, `cat`, `get`, `ipfs …`)
//! and key tools.

mod chain_client;
mod chain_spec;
mod cli;
mod config;
mod content;
mod devnet;
mod governance;
mod keys;
mod log;
mod memory;
mod orders;
mod pinning;
mod s3;
mod staking;
mod storage;

use clap::Parser;
pub(crate) use cli::Output;
use cli::{Cli, Command, IpfsCommand, KeyCommand, NodeArgs, SworkerCommand, TxCommand};
use crust_primitives::AccountId;
use crust_primitives::account::{self, AccountError, Keypair, SS58_PREFIX, to_hex};
use crust_primitives::balance::Cru;
use crust_runtime::market::{self, MarketParams};
use std::process::ExitCode;

/// What `crust --version` prints: the release and the protocol versions it speaks, which
/// release notes state the same way (docs/upgrades.md). A test keeps it in step with
/// [`crust_runtime::system::LATEST_PROTOCOL_VERSION`].
pub(crate) const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (protocol versions 1-3)");

/// Prints one JSON document on stdout.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

fn main() -> ExitCode {
    // `crust … | head` (or `2>&1 | head`) closes stdout or stderr early: end quietly, like other
    // command-line tools, instead of reporting a panic from `println!`/`eprintln!`. What the
    // command did before that write is done; nothing after it runs.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("Broken pipe") {
            // A closed stdout: the reader had what it wanted. A closed stderr: the status of a
            // process ended by SIGPIPE, since what it could not say may have been an error.
            if message.starts_with("failed printing to stdout") {
                std::process::exit(0);
            }
            if message.starts_with("failed printing to stderr") {
                std::process::exit(141);
            }
        }
        default_hook(info);
    }));
    let args = match config::expand(std::env::args_os().collect()) {
        Ok(args) => join_bool_values(args),
        Err(message) => {
            eprintln!("error: config: {message}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    log::init(cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Devnet(args) => devnet::run(args),
        Command::Node(args) => run_node(args),
        Command::Add(args) => content::add(args),
        Command::Cat {
            path,
            offset,
            length,
            repo,
        } => content::cat(&path, offset, length, &repo),
        Command::Get {
            path,
            out: output,
            peers,
            bootstrap,
            repo,
        } => {
            if peers.is_empty() && bootstrap.is_empty() {
                content::get(&path, output, &repo)
            } else {
                content::get_from_network(&path, output, &peers, &bootstrap)
            }
        }
        Command::Peers { repo } => content::peers(&repo),
        Command::Order {
            cid,
            size,
            api,
            file,
            providers,
            commitment,
            tips,
            from,
            chain,
        } => storage::order(storage::OrderArgs {
            chain: &chain,
            api: &api,
            from: &from,
            cid: &cid,
            size,
            file: file.as_deref(),
            tips: &tips,
            providers: &providers,
            commitment: commitment.as_deref(),
        }),
        Command::Balance { account, chain } => staking::balance(&account, &chain, cli.output),
        Command::Transfer {
            to,
            amount,
            from,
            chain,
        } => staking::transfer(&to, &amount, &from, &chain),
        Command::Stake {
            command,
            from,
            chain,
        } => staking::stake(command, &from, &chain),
        Command::Gov {
            command,
            from,
            chain,
        } => governance::gov(command, &from, &chain, cli.output),
        Command::Treasury { chain } => governance::treasury(&chain, cli.output),
        Command::Group {
            command,
            from,
            chain,
        } => storage::group(command, &from, &chain.chain),
        Command::Pin(command) => pinning::run(command),
        Command::S3(command) => s3::run(command),
        Command::ChainSpec(command) => chain_spec::run(command, cli.output),
        Command::Config(cli::ConfigCommand::Show { role }) => {
            config::show(&role, cli.config.as_deref())
        }
        Command::Validators { chain } => staking::validators(&chain, cli.output),
        Command::Era { chain } => staking::era(&chain, cli.output),
        Command::Put { put, chain } => orders::put(put, &chain, cli.output),
        Command::Orders { from, chain } => orders::orders(&from, &chain, cli.output),
        Command::Status { cid, chain } => orders::status(&cid, &chain, cli.output),
        Command::Renew {
            cid,
            tip,
            yes,
            from,
            chain,
        } => orders::renew(&cid, &tip, &from, yes, &chain),
        Command::Prepay {
            cid,
            amount,
            from,
            chain,
        } => orders::prepay(&cid, &amount, &from, &chain),
        Command::Rewards { from, claim, chain } => {
            orders::rewards(&from, claim, &chain, cli.output)
        }
        Command::Sworker(SworkerCommand::Run(args)) => storage::sworker(*args),
        Command::Sworker(SworkerCommand::Status { dir }) => {
            storage::control(&dir, None, cli.output)
        }
        Command::Sworker(SworkerCommand::Capacity { bytes, dir }) => {
            storage::control(&dir, Some(bytes), cli.output)
        }
        Command::Fetch {
            cid,
            peers,
            bootstrap,
            window,
            repo,
        } => content::fetch(&cid, &peers, &bootstrap, window, &repo),
        Command::Ipfs(IpfsCommand::Daemon { addrs, repo }) => {
            content::daemon(&repo.repo.unwrap_or_else(content::default_repo), &addrs)
        }
        Command::Ipfs(IpfsCommand::DagImport {
            files,
            pin_roots,
            repo,
        }) => content::dag_import(&files, pin_roots, &repo),
        Command::Ipfs(IpfsCommand::DagExport { cid, repo }) => content::dag_export(&cid, &repo),
        Command::Ipfs(IpfsCommand::Commitment { cid, repo }) => {
            let c = content::commitment(&cid, &repo)?;
            let root = crust_primitives::account::to_hex(&c.root);
            match cli.output {
                Output::Json => print_json(&serde_json::json!({
                    "cid": cid, "root": format!("0x{root}"), "size": c.size, "pieces": c.pieces(),
                    "piece_bytes": crust_primitives::commitment::PIECE_BYTES,
                })),
                Output::Text => {
                    // The form `crust order --commitment` takes.
                    println!("0x{root}:{}", c.size);
                    eprintln!("{} bytes of canonical CAR, {} pieces", c.size, c.pieces());
                }
            }
            Ok(())
        }
        Command::Ipfs(IpfsCommand::Gc { repo }) => content::gc(&repo),
        Command::Ipfs(IpfsCommand::RoutingPut { key, record, repo }) => {
            content::routing_put(&key, &record, &repo)
        }
        Command::Tx(TxCommand::Transfer {
            from,
            to,
            amount,
            nonce,
            genesis,
            fee,
            birth,
            more,
        }) => {
            use crust_chain::tx::{Mortality, UnsignedTransaction};
            let signer = Keypair::from_suri(&from).map_err(|e| format!("--from: {e}"))?;
            let dest = crust_chain::spec::parse_account(&to).map_err(|e| format!("--to: {e}"))?;
            let amount = crust_primitives::balance::parse_balance(&amount)
                .map_err(|e| format!("--amount: {e}"))?;
            let fee = crust_primitives::balance::parse_balance(&fee)
                .map_err(|e| format!("--fee: {e}"))?;
            let genesis = crust_chain::Hash::from_hex(&genesis)
                .ok_or("--genesis: expected 0x + 64 hex digits")?;
            for n in nonce..=nonce + more {
                let tx = UnsignedTransaction {
                    signer: signer.public(),
                    nonce: n,
                    fee,
                    tip: 0,
                    mortality: Mortality::from(birth, crust_chain::tx::MAX_MORTALITY_BLOCKS),
                    call: crust_runtime::Call::Balances(
                        crust_runtime::balances::BalancesCall::Transfer { dest, amount },
                    ),
                }
                .sign(&signer, &genesis);
                println!("0x{}", to_hex(&tx.encode()));
            }
            Ok(())
        }
        Command::Key(KeyCommand::Generate { words }) => {
            let phrase = account::generate_phrase(words).map_err(|e| e.to_string())?;
            let pair = Keypair::from_phrase(&phrase, None).map_err(|e| e.to_string())?;
            println!("Secret phrase: {phrase}");
            print_account(&pair.public());
            println!("Keep the phrase secret and offline: anyone who has it controls the account.");
            Ok(())
        }
        Command::Key(KeyCommand::Inspect { input }) => {
            match account::ss58_decode(input.trim()) {
                Ok((prefix, key)) if cli.output == Output::Text => {
                    println!(
                        "Network prefix: {prefix}{}",
                        if prefix == SS58_PREFIX {
                            " (Crust)"
                        } else {
                            ""
                        }
                    );
                    print_account_as(&AccountId(key), cli.output);
                    return Ok(());
                }
                Ok((_, key)) => {
                    print_account_as(&AccountId(key), cli.output);
                    return Ok(());
                }
                Err(AccountError::BadBase58) | Err(AccountError::BadLength { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
            let pair = keys::signer(&input)?;
            print_account_as(&pair.public(), cli.output);
            Ok(())
        }
        Command::Key(KeyCommand::New { name, words }) => {
            let phrase = account::generate_phrase(words).map_err(|e| e.to_string())?;
            let pair = keys::import(&name, &phrase)?;
            println!("Secret phrase: {phrase}");
            print_account(&pair.public());
            println!(
                "Stored as '{name}' in {}; write the phrase down offline: it is the only backup.",
                keys::dir().display()
            );
            Ok(())
        }
        Command::Key(KeyCommand::Import { name }) => {
            let mut secret = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut secret)
                .map_err(|e| format!("reading the secret from stdin: {e}"))?;
            let pair = keys::import(&name, &secret)?;
            print_account(&pair.public());
            Ok(())
        }
        Command::Key(KeyCommand::List) => {
            let list = keys::list()?;
            if cli.output == Output::Json {
                let rows: Vec<_> = list
                    .iter()
                    .map(|(name, pair)| match pair {
                        Ok(p) => serde_json::json!({"name": name, "address": p.public().to_ss58()}),
                        Err(e) => serde_json::json!({"name": name, "error": e}),
                    })
                    .collect();
                print_json(&serde_json::Value::Array(rows));
                return Ok(());
            }
            if list.is_empty() {
                eprintln!(
                    "no stored keys in {} (see `crust key new`)",
                    keys::dir().display()
                );
            }
            for (name, pair) in list {
                match pair {
                    Ok(p) => println!("{name:<20} {}", p.public().to_ss58()),
                    Err(e) => println!("{name:<20} unreadable: {e}"),
                }
            }
            Ok(())
        }
        Command::Price { size_bytes } => {
            let params = MarketParams::default();
            let (base, value) = market::file_fee(&params, size_bytes);
            println!("Order for {size_bytes} bytes at the reference network's initial fees:");
            println!("  base fee  {}", Cru(base));
            println!("  byte+keys {}", Cru(value));
            println!("  total     {}", Cru(base + value));
            println!(
                "  of which to replicas and the liquidator (18%): {}",
                Cru(market::pricing::STORAGE_RATIO.mul_nearest(value))
            );
            Ok(())
        }
    }
}

/// An account as text or, with `--output json`, `{public_key, address}`.
fn print_account_as(id: &AccountId, output: Output) {
    match output {
        Output::Json => print_json(&serde_json::json!({
            "public_key": format!("0x{}", to_hex(id.as_bytes())),
            "address": id.to_ss58(),
        })),
        Output::Text => print_account(id),
    }
}

fn print_account(id: &AccountId) {
    println!("Public key (hex): 0x{}", to_hex(id.as_bytes()));
    println!("Account (SS58):   {id}");
}

fn run_node(args: NodeArgs) -> Result<(), String> {
    use crust_chain::spec::ChainSpec;
    let spec = match std::fs::read_to_string(&args.chain) {
        Ok(text) => ChainSpec::from_json(&text),
        Err(_) => ChainSpec::builtin(&args.chain),
    }
    .map_err(|e| e.to_string())?;
    let session = keys::signer(&args.validator).map_err(|e| format!("--validator: {e}"))?;
    let mut bootnodes = spec.bootnodes().map_err(|e| e.to_string())?;
    for b in &args.bootnodes {
        bootnodes
            .push(crust_chain::peers::parse_bootnode(b).map_err(|e| format!("--bootnode {e}"))?);
    }
    let public_addr = args
        .public_addr
        .as_deref()
        .map(crust_chain::peers::parse_ingress)
        .transpose()
        .map_err(|e| format!("--public-addr {e}"))?;
    let data_dir = args.data_dir.unwrap_or_else(|| {
        std::path::PathBuf::from("crust-data")
            .join(&spec.id)
            .join(session.public().to_ss58())
    });
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let config = crust_chain::service::NodeConfig {
        spec,
        data_dir,
        session,
        listen: args.listen,
        public_addr,
        bootnodes,
        rpc: Some(args.rpc),
        metrics: args.metrics,
        memory: crust_chain::memory::NodeMemory::plan(args.memory).map_err(|e| e.to_string())?,
        max_protocol_version: args
            .max_protocol_version
            .unwrap_or(crust_runtime::system::LATEST_PROTOCOL_VERSION)
            .clamp(1, crust_runtime::system::LATEST_PROTOCOL_VERSION),
        console: (!args.no_console).then(|| {
            crust_console::router(crust_console::ConsoleInfo {
                version: VERSION.to_owned(),
                gateway: args.console_gateway.clone(),
                pinning: args.console_pinning.clone(),
            })
        }),
    };
    memory::watch("validator", args.memory);
    crust_chain::service::run(config).map_err(|e| e.to_string())
}

/// `--raw-leaves true` / `--raw-leaves false` (a value after a space) become
/// `--raw-leaves=true|false`, so the flag also works bare before paths (`crust add --raw-leaves
/// FILE`, as in Kubo) without swallowing the path.
fn join_bool_values(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter().peekable();
    while let Some(arg) = it.next() {
        if arg == "--raw-leaves"
            && let Some(value) = it.next_if(|v| v == "true" || v == "false")
        {
            let mut joined = arg;
            joined.push("=");
            joined.push(value);
            out.push(joined);
        } else {
            out.push(arg);
        }
    }
    out
}

/// Parses `123`, `4KiB`, `5MiB`, `6GiB`, `1TiB` (also KB/MB/GB/TB as powers of 1000).
pub(crate) fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a byte count"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => return Err(format!("unknown unit '{other}' in '{text}'")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn the_version_names_the_protocol_versions_spoken() {
        let latest = crust_runtime::system::LATEST_PROTOCOL_VERSION;
        assert!(
            super::VERSION.ends_with(&format!("(protocol versions 1-{latest})")),
            "{}",
            super::VERSION
        );
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    #[test]
    fn byte_counts_parse_with_units() {
        assert_eq!(parse_bytes("123"), Ok(123));
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("2 GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("1TB"), Ok(1_000_000_000_000));
        assert!(parse_bytes("12XB").is_err());
        assert!(parse_bytes("GiB").is_err());
        assert!(parse_bytes("99999999999TiB").is_err());
    }
}
