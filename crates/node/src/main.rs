//! The `crust` command line.
//!
//! Chain commands (`devnet`, `node`, `tx`), the content layer (`add`, `cat`, `get`, `ipfs …`)
//! and key tools.

mod chain_client;
mod content;
mod devnet;
mod keys;
mod log;
mod memory;
mod orders;
mod pinning;
mod staking;
mod storage;

use clap::{Parser, Subcommand};
use crust_primitives::AccountId;
use crust_primitives::account::{self, AccountError, Keypair, SS58_PREFIX, to_hex};
use crust_primitives::balance::Cru;
use crust_runtime::market::{self, MarketParams};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "crust",
    version,
    about = "Crust in Rust: a decentralized storage network"
)]
struct Cli {
    /// Output format of read commands.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// How the long-running roles (node, sworker, ipfs daemon) write their logs on stderr:
    /// `role: message` lines, or one JSON object per line (`RUST_LOG` sets the filter).
    #[arg(long, global = true, value_enum, default_value_t = log::LogFormat::Text, env = "CRUST_LOG_FORMAT")]
    log_format: log::LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How read commands print their results.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    /// For people.
    Text,
    /// One JSON document on stdout, for scripts.
    Json,
}

/// Prints one JSON document on stdout.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

#[derive(Subcommand)]
enum Command {
    /// Run a whole network on this machine: validators, storage nodes and an IPFS node on
    /// loopback (default 4 + 6 + 1), with a status ticker; Ctrl-C stops it, running it again
    /// resumes.
    Devnet(devnet::DevnetArgs),
    /// Run a chain node (validator).
    Node(NodeArgs),
    /// Account keys: generate and inspect.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Build and sign transactions (printed as hex, ready for the `author_submit` RPC).
    #[command(subcommand)]
    Tx(TxCommand),
    /// Add files or directories to the content layer (same CIDs as `ipfs add`).
    Add(content::AddArgs),
    /// Print a file's bytes.
    Cat {
        /// CID or /ipfs/ path.
        path: String,
        /// First byte to print.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Bytes to print (default: to the end).
        #[arg(long)]
        length: Option<u64>,
        #[command(flatten)]
        repo: content::RepoArgs,
    },
    /// Write a file or directory tree to disk.
    Get {
        /// CID or /ipfs/ path.
        path: String,
        /// Output path (default: the last path segment).
        #[arg(short = 'o', long = "out")]
        out: Option<std::path::PathBuf>,
        /// Fetch over Bitswap from this node (`/ip4/…/tcp/…/p2p/<id>`, repeatable), e.g. any
        /// storage node holding a replica, instead of reading the local repository.
        #[arg(long = "peer")]
        peers: Vec<String>,
        /// Find providers through this DHT peer and fetch from them (repeatable; `default`:
        /// Kubo's public bootstrap peers).
        #[arg(long = "bootstrap")]
        bootstrap: Vec<String>,
        #[command(flatten)]
        repo: content::RepoArgs,
    },
    /// Place a storage order for a file on the chain.
    Order {
        /// The file's root CID.
        cid: String,
        /// The file's size in bytes (fixed by the first order); by default the DAG size the
        /// IPFS node at --api reports, which is what storage workers report.
        #[arg(long)]
        size: Option<u64>,
        /// The IPFS node (Kubo API) holding the file, to size it (default: $CRUST_API or
        /// http://127.0.0.1:5001).
        #[arg(long, default_value_t = content::default_api())]
        api: String,
        /// Size the order from a local copy of the file instead (it must import to CID with
        /// `ipfs add` defaults).
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        /// A node holding the file (`/ip4/…/p2p/<id>`, repeatable), e.g. the Kubo node it was
        /// added to: written into the order's memo for storage nodes to fetch from.
        #[arg(long = "provider")]
        providers: Vec<String>,
        /// The content commitment as `0xROOT:SIZE` (what `crust ipfs commitment CID` prints);
        /// by default computed from the CAR the IPFS node at --api exports, checked to be
        /// canonical.
        #[arg(long)]
        commitment: Option<String>,
        /// Extra pay for the replicas, e.g. `0.1 CRU`.
        #[arg(long, default_value = "0 CRU")]
        tips: String,
        /// The paying account (secret URI or stored key).
        #[arg(long, default_value = "//Alice")]
        from: String,
        /// Chain RPC.
        #[arg(long, default_value = "http://127.0.0.1:9933")]
        chain: String,
    },
    /// Store a file: add it to the IPFS node, show the price, order it, and follow the order
    /// until it has replicas.
    Put {
        #[command(flatten)]
        put: orders::PutArgs,
        #[command(flatten)]
        chain: orders::ChainArgs,
    },
    /// The files an account ordered (default //Alice), with state and replicas.
    Orders {
        /// Account: stored key name, secret URI, SS58 or 0x-hex.
        #[arg(long, default_value = "//Alice")]
        from: String,
        #[command(flatten)]
        chain: orders::ChainArgs,
    },
    /// A file's order: state, expiry, replicas with their owners, what was paid.
    #[command(alias = "file")]
    Status {
        /// The file's root CID.
        cid: String,
        #[command(flatten)]
        chain: orders::ChainArgs,
    },
    /// Order a stored file again at today's price, extending its storage.
    Renew {
        /// The file's root CID.
        cid: String,
        /// Extra pay for the replicas.
        #[arg(long, default_value = "0 CRU")]
        tip: String,
        /// Do not ask before paying.
        #[arg(short, long)]
        yes: bool,
        /// The paying account (secret URI).
        #[arg(long, default_value = "//Alice")]
        from: String,
        #[command(flatten)]
        chain: orders::ChainArgs,
    },
    /// Add funds to a file's renewal pool (renewed automatically when it expires).
    Prepay {
        /// The file's root CID.
        cid: String,
        /// Amount, e.g. `1 CRU`.
        amount: String,
        /// The paying account (secret URI).
        #[arg(long, default_value = "//Alice")]
        from: String,
        #[command(flatten)]
        chain: orders::ChainArgs,
    },
    /// A storage owner's unclaimed replica rewards and collateral; `--claim` pays them out.
    Rewards {
        /// The storage owner (secret URI).
        #[arg(long, default_value = "//Alice")]
        from: String,
        /// Claim them.
        #[arg(long)]
        claim: bool,
        #[command(flatten)]
        chain: orders::ChainArgs,
    },
    /// An account's balance and nonce.
    Balance {
        /// Account: SS58, 0x-hex or secret URI.
        #[arg(default_value = "//Alice")]
        account: String,
        #[command(flatten)]
        chain: orders::ChainArgs,
    },
    /// Send funds.
    Transfer {
        /// Recipient: SS58, 0x-hex or secret URI.
        to: String,
        /// Amount, e.g. `1.5 CRU`.
        amount: String,
        /// The sender (secret URI).
        #[arg(long, default_value = "//Alice")]
        from: String,
        #[command(flatten)]
        chain: orders::ChainArgs,
    },
    /// Staking (GPoS): bond, unbond, validate, guarantee, cut, chill, payout.
    Stake {
        #[command(subcommand)]
        command: staking::StakeCommand,
        /// The signing stash (secret URI).
        #[arg(long, global = true, default_value = "//Alice")]
        from: String,
        #[command(flatten)]
        chain: orders::ChainArgs,
    },
    /// The committee, the next era's if elected, and every candidate's bond and stake limit.
    Validators {
        #[command(flatten)]
        chain: orders::ChainArgs,
    },
    /// The active era and when the next begins.
    Era {
        #[command(flatten)]
        chain: orders::ChainArgs,
    },
    /// Pinning service (IPFS Pinning Service API): serve one, make tokens, approve its orders.
    #[command(subcommand)]
    Pin(pinning::PinCommand),
    /// Storage-owner groups: create, allow, disallow, join, quit, kick.
    Group {
        #[command(subcommand)]
        command: storage::GroupCommand,
        /// The signing account (secret URI or stored key).
        #[arg(long, global = true, default_value = "//Alice")]
        from: String,
        #[command(flatten)]
        chain: orders::ChainArgs,
    },
    /// Storage worker: run one, or ask a running one for its status.
    #[command(subcommand)]
    Sworker(SworkerCommand),
    /// The daemon's data-network peers and their credit accounts (bytes each way, standing).
    Peers {
        #[command(flatten)]
        repo: content::RepoArgs,
    },
    /// Fetch a whole DAG over Bitswap from the given peers into the repository (pinned).
    Fetch {
        /// Root CID.
        cid: String,
        /// A peer to fetch from, as `/ip4/…/tcp/…/p2p/<peer id>` (repeatable).
        #[arg(long = "peer")]
        peers: Vec<String>,
        /// A DHT bootstrap peer to look up providers through when no --peer is given
        /// (repeatable; `default`: Kubo's public bootstrap peers).
        #[arg(long = "bootstrap")]
        bootstrap: Vec<String>,
        /// Wants in flight, spread over the peers.
        #[arg(long, default_value_t = 64)]
        window: usize,
        #[command(flatten)]
        repo: content::RepoArgs,
    },
    /// Content-layer node: daemon, CAR import/export, garbage collection.
    #[command(subcommand)]
    Ipfs(IpfsCommand),
    /// Price a storage order at the reference network's initial fees.
    Price {
        /// File size in bytes.
        size_bytes: u64,
    },
}

#[derive(Subcommand)]
enum SworkerCommand {
    /// Run a storage worker: follow orders, fetch and seal files, report every slot.
    Run(Box<storage::SworkerArgs>),
    /// A running worker's status (files, SRD, reports), from its control API.
    Status {
        /// The worker's data directory.
        #[arg(long, default_value = "./crust-data/sworker")]
        dir: std::path::PathBuf,
    },
    /// Change a running worker's capacity (SRD shrinks or grows; needs its control token).
    Capacity {
        /// New capacity (suffixes KiB, MiB, GiB, TiB).
        #[arg(value_parser = parse_bytes)]
        bytes: u64,
        /// The worker's data directory.
        #[arg(long, default_value = "./crust-data/sworker")]
        dir: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum IpfsCommand {
    /// Serve the Kubo RPC API and the HTTP gateway over the repository.
    Daemon {
        #[command(flatten)]
        addrs: content::DaemonArgs,
        #[command(flatten)]
        repo: content::RepoArgs,
    },
    /// Import CAR files (every block is verified).
    DagImport {
        /// CAR files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Pin each CAR's roots recursively (default true).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        pin_roots: bool,
        #[command(flatten)]
        repo: content::RepoArgs,
    },
    /// Write the DAG under a CID as a CARv1 to stdout.
    DagExport {
        /// Root CID.
        cid: String,
        #[command(flatten)]
        repo: content::RepoArgs,
    },
    /// The content commitment of the DAG under a CID (D29): the Merkle root over 2 KiB pieces
    /// of its canonical CARv1, and the CAR's size. Through a daemon the CAR it sends is checked
    /// to be the canonical one before it counts.
    Commitment {
        /// Root CID.
        cid: String,
        #[command(flatten)]
        repo: content::RepoArgs,
    },
    /// Store an IPNS record (verified first) for `/ipns/<name>`.
    RoutingPut {
        /// `/ipns/<name>`.
        key: String,
        /// The record file.
        record: std::path::PathBuf,
        #[command(flatten)]
        repo: content::RepoArgs,
    },
    /// Remove every block no pin reaches.
    Gc {
        #[command(flatten)]
        repo: content::RepoArgs,
    },
}

#[derive(Subcommand)]
enum TxCommand {
    /// A balance transfer.
    Transfer {
        /// Signer's secret URI (e.g. `//Alice` on dev chains).
        #[arg(long)]
        from: String,
        /// Recipient (SS58, 0x-hex, or a dev URI).
        #[arg(long)]
        to: String,
        /// Amount, e.g. `1.5 CRU`.
        #[arg(long)]
        amount: String,
        /// The signer's nonce (see `state_account`).
        #[arg(long)]
        nonce: u64,
        /// The chain's genesis hash (see `genesis_hash`).
        #[arg(long)]
        genesis: String,
        /// Fee, e.g. `0.001 CRU`.
        #[arg(long, default_value = "0.001 CRU")]
        fee: String,
        /// First block the transaction is valid in (use the current head; it stays valid for
        /// 4096 blocks).
        #[arg(long, default_value_t = 0)]
        birth: u64,
        /// Also print this many more transactions with the following nonces, one per line.
        #[arg(long, default_value_t = 0)]
        more: u64,
    },
}

#[derive(clap::Args)]
struct NodeArgs {
    /// Chain spec: dev, local, mainnet-like, or a path to a JSON spec.
    #[arg(long, default_value = "dev")]
    chain: String,
    /// The validator's session (consensus) key as a secret URI, e.g. `//Alice//session`.
    #[arg(long)]
    validator: String,
    /// Where the node keeps its state (default: ./crust-data/<chain>/<account>).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Chain network address to listen on.
    #[arg(long, default_value = "127.0.0.1:30333")]
    listen: std::net::SocketAddr,
    /// A validator peer as `<account>@<ip:port>` (account: SS58, 0x-hex, or a dev URI like
    /// `//Bob//session`). List every validator, this node included.
    #[arg(long = "peer")]
    peers: Vec<String>,
    /// JSON-RPC address.
    #[arg(long, default_value = "127.0.0.1:9933")]
    rpc: std::net::SocketAddr,
    /// Memory budget (at least 128MiB): sizes the mempool, the recent-block cache, the
    /// transaction index and the state cache, and must hold the chain state; the node warns
    /// when it grows past it. See docs/operator.md, "Sizing memory".
    #[arg(long, default_value = "512MiB", value_parser = parse_bytes)]
    memory: u64,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Generate a new account: a BIP39 phrase, its public key and SS58 address.
    Generate {
        /// Words in the phrase: 12, 15, 18, 21 or 24.
        #[arg(long, default_value_t = 12)]
        words: usize,
    },
    /// Show the account of a secret URI (`phrase`, `//Alice`, `phrase//hard///password`,
    /// `0x<seed>`), a stored key, or decode an SS58 address.
    #[command(alias = "show")]
    Inspect {
        /// Secret URI, stored key name, or address.
        input: String,
    },
    /// Generate a new account and store it under NAME (usable as `--from NAME`).
    New {
        /// Name in the keystore (~/.crust/keys, or $CRUST_KEYS).
        name: String,
        /// Words in the phrase: 12, 15, 18, 21 or 24.
        #[arg(long, default_value_t = 12)]
        words: usize,
    },
    /// Store an existing secret (phrase or secret URI, read from stdin) under NAME.
    Import {
        /// Name in the keystore.
        name: String,
    },
    /// Stored keys and their addresses.
    List,
}

fn main() -> ExitCode {
    // `crust … | head` closes stdout early: end quietly, like other command-line tools, instead
    // of reporting a panic from `println!`.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
    let cli = Cli::parse();
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
        Command::Group {
            command,
            from,
            chain,
        } => storage::group(command, &from, &chain.chain),
        Command::Pin(command) => pinning::run(command),
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
    use crust_chain::spec::{ChainSpec, parse_account};
    let spec = match std::fs::read_to_string(&args.chain) {
        Ok(text) => ChainSpec::from_json(&text),
        Err(_) => ChainSpec::builtin(&args.chain),
    }
    .map_err(|e| e.to_string())?;
    let session = keys::signer(&args.validator).map_err(|e| format!("--validator: {e}"))?;
    let mut peers = Vec::new();
    for p in &args.peers {
        let (account, addr) = p
            .rsplit_once('@')
            .ok_or_else(|| format!("--peer {p}: expected <account>@<ip:port>"))?;
        let account = parse_account(account).map_err(|e| format!("--peer {p}: {e}"))?;
        let addr = addr.parse().map_err(|e| format!("--peer {p}: {e}"))?;
        peers.push((account, addr));
    }
    if !peers.iter().any(|(a, _)| *a == session.public()) {
        peers.push((session.public(), args.listen));
    }
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
        peers,
        rpc: Some(args.rpc),
        memory: crust_chain::memory::NodeMemory::plan(args.memory).map_err(|e| e.to_string())?,
    };
    memory::watch("validator", args.memory);
    crust_chain::service::run(config).map_err(|e| e.to_string())
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
