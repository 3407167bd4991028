//! The command line's shape: every command, subcommand and flag (clap derives the parser and
//! the help text from these types). `main.rs` dispatches them; each command's work lives in
//! its own module.

use crate::{content, devnet, governance, log, orders, parse_bytes, pinning, staking, storage};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "crust",
    version = crate::VERSION,
    about = "Crust in Rust: a decentralized storage network"
)]
pub(crate) struct Cli {
    /// Output format of read commands.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
    /// How the long-running roles (node, sworker, ipfs daemon) write their logs on stderr:
    /// `role: message` lines, or one JSON object per line (`RUST_LOG` sets the filter).
    #[arg(long, global = true, value_enum, default_value_t = log::LogFormat::Text, env = "CRUST_LOG_FORMAT")]
    pub(crate) log_format: log::LogFormat,
    /// A TOML config file for the long-running roles (`[node]`, `[sworker]`, `[ipfs]`, `[pin]`;
    /// every flag is a key). `CRUST_<ROLE>_<FLAG>` overrides it, the command line overrides
    /// both; `crust config show ROLE` prints the result. See docs/operator.md.
    #[arg(long, global = true, env = "CRUST_CONFIG")]
    pub(crate) config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How read commands print their results.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    /// For people.
    Text,
    /// One JSON document on stdout, for scripts.
    Json,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Governance: propose privileged calls, vote with bonded stake, cancel as the council,
    /// and see proposals, thresholds and the protocol version.
    Gov {
        #[command(subcommand)]
        command: governance::GovCommand,
        /// The signing account (a stash to vote; secret URI or stored key name).
        #[arg(long, global = true, default_value = "//Alice")]
        from: String,
        #[command(flatten)]
        chain: orders::ChainArgs,
    },
    /// What the treasury and the market's reserved pot hold.
    Treasury {
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
    /// Config files: `crust config show ROLE` prints every key of a role with its effective
    /// value and where it came from (config file, environment, default).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Make a new network's chain spec with operators on separate machines (docs/testnet.md).
    #[command(subcommand, name = "chain-spec")]
    ChainSpec(crate::chain_spec::ChainSpecCommand),
    /// Pinning service (IPFS Pinning Service API): serve one, make tokens, approve its orders.
    #[command(subcommand)]
    Pin(pinning::PinCommand),
    /// S3-compatible API (docs/s3.md): serve one, make access keys, approve its orders.
    #[command(subcommand)]
    S3(crate::s3::S3Command),
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
pub(crate) enum ConfigCommand {
    /// Every key of ROLE (node, sworker, ipfs, pin) as TOML, with its value and source.
    Show {
        /// node, sworker, ipfs or pin.
        role: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum SworkerCommand {
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
pub(crate) enum IpfsCommand {
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
pub(crate) enum TxCommand {
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
pub(crate) struct NodeArgs {
    /// Chain spec: dev, local, mainnet-like, or a path to a JSON spec.
    #[arg(long, default_value = "dev")]
    pub(crate) chain: String,
    /// The validator's session (consensus) key as a secret URI, e.g. `//Alice//session`.
    #[arg(long)]
    pub(crate) validator: String,
    /// Where the node keeps its state (default: ./crust-data/<chain>/<account>).
    #[arg(long)]
    pub(crate) data_dir: Option<std::path::PathBuf>,
    /// Chain network address to listen on.
    #[arg(long, default_value = "127.0.0.1:30333")]
    pub(crate) listen: std::net::SocketAddr,
    /// A node to dial at start, as `<session account>@<host:port>` (account: SS58, 0x-hex, or
    /// a dev URI like `//Bob//session`; host: an IP address or DNS name). Repeatable; added to
    /// the chain spec's `bootnodes`. The other validators are found through them.
    #[arg(long = "bootnode", alias = "peer")]
    pub(crate) bootnodes: Vec<String>,
    /// The address other nodes dial to reach this one, as `host:port`, when it differs from
    /// `--listen` (behind NAT, a port forward or a proxy).
    #[arg(long)]
    pub(crate) public_addr: Option<String>,
    /// JSON-RPC address.
    #[arg(long, default_value = "127.0.0.1:9933")]
    pub(crate) rpc: std::net::SocketAddr,
    /// Prometheus metrics address (`GET /metrics`), e.g. `127.0.0.1:9615`.
    #[arg(long)]
    pub(crate) metrics: Option<std::net::SocketAddr>,
    /// Memory budget (at least 128MiB): sizes the mempool, the recent-block cache, the
    /// transaction index and the state cache, and must hold the chain state; the node warns
    /// when it grows past it. See docs/operator.md, "Sizing memory".
    #[arg(long, default_value = "512MiB", value_parser = parse_bytes)]
    pub(crate) memory: u64,
    /// Follow protocol versions only up to N, exactly as a release that speaks no newer
    /// version would (at an upgrade to N+1 the node stops with a message). For testing
    /// upgrade paths; operators never need it.
    #[arg(long, hide = true)]
    pub(crate) max_protocol_version: Option<u32>,
    /// Do not serve the web console at `/` of the RPC address.
    #[arg(long)]
    pub(crate) no_console: bool,
    /// A gateway the console links file downloads to, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    pub(crate) console_gateway: Option<String>,
    /// A pinning service the console's upload page sends files to, e.g.
    /// `http://127.0.0.1:5005` (run it with `--cors-origin` naming this console's address).
    #[arg(long)]
    pub(crate) console_pinning: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum KeyCommand {
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
