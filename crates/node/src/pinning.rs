//! `crust pin`: the pinning service (`serve`), the account's side of it (`token
//! create|list|revoke`, `approve`), and the ports the service's processor runs on: the local
//! IPFS daemon for content, the chain client for orders.

use crate::chain_client::ChainClient;
use crate::orders::ChainArgs;
use crust_pinning::process::{self, Chain, Content, OnChain, OrderError, Prepared};
use crust_primitives::balance::{Cru, parse_balance};
use crust_primitives::{AccountId, Cid, Keypair};
use crust_runtime::Call;
use crust_runtime::market::{self, FileInfo, MarketCall};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `crust pin …`.
#[derive(clap::Subcommand)]
pub enum PinCommand {
    /// Run the pinning service (IPFS Pinning Service API) for accounts that approved it.
    Serve(ServeArgs),
    /// Access tokens for a pinning service, signed by the account.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Let a pinning service place orders paid from this account, up to a cap (on chain).
    Approve {
        /// The service's URL.
        #[arg(long, default_value = "http://127.0.0.1:5005")]
        service: String,
        /// The most it may spend in all (e.g. `10CRU`); `0` revokes.
        #[arg(long)]
        cap: String,
        /// Blocks the approval lasts.
        #[arg(long, default_value_t = 1_000_000)]
        blocks: u64,
        /// The paying account (secret URI or stored key).
        #[arg(long, default_value = "//Alice")]
        from: String,
        #[command(flatten)]
        chain: ChainArgs,
    },
}

/// `crust pin token …`.
#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Make a token (printed once; the service keeps only its hash).
    Create {
        /// A name for the device or app that will hold it.
        label: String,
        /// Days until it stops working (1–365).
        #[arg(long)]
        days: Option<u32>,
        #[command(flatten)]
        who: TokenArgs,
    },
    /// The account's tokens (labels and expiry, never the tokens).
    List {
        #[command(flatten)]
        who: TokenArgs,
    },
    /// Revoke a token by label.
    Revoke {
        /// Its label.
        label: String,
        #[command(flatten)]
        who: TokenArgs,
    },
    /// Print the account's web3 token (the reference network's format: its signature over its
    /// own address). Made offline; a service honours it only while the account's on-chain
    /// approval of the service lasts (`crust pin approve`; `--cap 0` ends it).
    Web3 {
        /// The account (secret URI or stored key).
        #[arg(long, default_value = "//Alice")]
        from: String,
    },
}

/// Who asks which service.
#[derive(clap::Args)]
pub struct TokenArgs {
    /// The service's URL.
    #[arg(long, default_value = "http://127.0.0.1:5005")]
    service: String,
    /// The account (secret URI or stored key).
    #[arg(long, default_value = "//Alice")]
    from: String,
}

/// How `crust pin serve` runs.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address of the Pinning Service API.
    #[arg(long, default_value = "127.0.0.1:5005")]
    addr: String,
    /// Where the service keeps its database.
    #[arg(long, default_value = "crust-data/pinning")]
    dir: PathBuf,
    /// The key the service signs orders with (it pays only transaction fees).
    #[arg(long)]
    key: String,
    /// The IPFS daemon that fetches and holds pinned content (Kubo RPC API).
    #[arg(long, default_value = "http://127.0.0.1:5001")]
    api: String,
    /// Proven replicas before a pin is `pinned`.
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// Multiaddrs clients should send content to (default: the daemon's own addresses).
    #[arg(long)]
    delegate: Vec<String>,
    /// Pin requests one account may keep (failed ones count until deleted); more are refused
    /// with 403 PIN_LIMIT_REACHED.
    #[arg(long, default_value_t = crust_pinning::api::DEFAULT_PIN_CAP)]
    max_pins_per_account: u64,
    /// Seconds the chain's answer about an account's approval is trusted before it is read
    /// again: a revoked approval stops its web3 tokens within this time, and a request of an
    /// account that could pay may be taken for this long after it no longer can (its order is
    /// then refused by the chain and the request fails, nothing charged). An account that could
    /// not pay is asked again after a fifth of it.
    #[arg(long, default_value_t = 30)]
    web3_recheck: u64,
    /// Web origins (`scheme://host:port`) whose pages may call the service from a browser,
    /// e.g. a node's console (`http://127.0.0.1:9933`); repeat for several. None by default.
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
    /// Largest upload to `/api/v0/add` or `/api/v0/dag/import` (the service's authenticated
    /// uploads, kept on its IPFS daemon until the replicas are proven).
    #[arg(long, default_value = "8GiB", value_parser = crate::parse_bytes)]
    max_upload: u64,
    #[command(flatten)]
    chain: ChainArgs,
}

/// Runs a `crust pin` command.
pub fn run(command: PinCommand) -> Result<(), String> {
    match command {
        PinCommand::Serve(args) => serve(args),
        PinCommand::Token(command) => token(command),
        PinCommand::Approve {
            service,
            cap,
            blocks,
            from,
            chain,
        } => approve(&service, &cap, blocks, &from, &chain),
    }
}

fn http() -> Result<reqwest::blocking::Client, String> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())
}

/// The account a service orders with (`GET /`).
fn service_account(service: &str) -> Result<AccountId, String> {
    let url = service.trim_end_matches('/');
    let text = http()?
        .get(format!("{url}/"))
        .send()
        .and_then(|r| r.text())
        .map_err(|e| format!("pinning service at {url}: {e}"))?;
    let body: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("pinning service at {url}: {e}"))?;
    body["account"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("{url} does not describe a crust pinning service"))
}

fn token(command: TokenCommand) -> Result<(), String> {
    let (action, label, days, who) = match command {
        TokenCommand::Web3 { from } => {
            let keypair = crate::keys::signer(&from)?;
            println!("{}", crust_pinning::auth::web3_token(&keypair));
            eprintln!(
                "web3 token of {}: it does not expire by itself; a service honours it only while {0}'s approval of the service lasts on chain",
                keypair.public().to_ss58()
            );
            return Ok(());
        }
        TokenCommand::Create { label, days, who } => ("create", label, days, who),
        TokenCommand::List { who } => ("list", String::new(), None, who),
        TokenCommand::Revoke { label, who } => ("revoke", label, None, who),
    };
    let keypair = crate::keys::signer(&who.from)?;
    let audience = service_account(&who.service)?;
    let request = crust_pinning::auth::sign_request(
        &keypair,
        &audience,
        action,
        &label,
        days,
        crust_pinning::time::now_ms(),
    );
    let url = format!("{}/tokens", who.service.trim_end_matches('/'));
    let r = http()?
        .post(&url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&request).map_err(|e| e.to_string())?)
        .send()
        .map_err(|e| format!("{url}: {e}"))?;
    let status = r.status();
    let text = r.text().unwrap_or_default();
    if !status.is_success() {
        let details = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"]["details"].as_str().map(str::to_owned))
            .unwrap_or(text);
        return Err(format!("{url}: {status}: {details}"));
    }
    match action {
        "create" => {
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            println!("{}", v["token"].as_str().unwrap_or_default());
            eprintln!(
                "token '{label}' for {} expires {}; it is shown only now. With Kubo:\n  ipfs pin remote service add crust {}/ <token>",
                keypair.public().to_ss58(),
                v["expires"].as_str().unwrap_or("?"),
                who.service.trim_end_matches('/')
            );
        }
        "list" => {
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            for t in v["tokens"].as_array().into_iter().flatten() {
                println!(
                    "{}  created {}  expires {}",
                    t["label"].as_str().unwrap_or("?"),
                    t["created"].as_str().unwrap_or("?"),
                    t["expires"].as_str().unwrap_or("?")
                );
            }
        }
        _ => eprintln!("token '{label}' revoked"),
    }
    Ok(())
}

fn approve(
    service: &str,
    cap: &str,
    blocks: u64,
    from: &str,
    chain: &ChainArgs,
) -> Result<(), String> {
    approve_orderer(service_account(service)?, cap, blocks, from, chain)
}

/// Lets `delegate` (a pinning or S3 service's ordering account) place orders paid by `from`,
/// up to `cap`, for `blocks` blocks (`market::ApproveOrderer`); `0` revokes.
pub(crate) fn approve_orderer(
    delegate: AccountId,
    cap: &str,
    blocks: u64,
    from: &str,
    chain: &ChainArgs,
) -> Result<(), String> {
    let signer = crate::keys::signer(from)?;
    let (tx, height, expires_at) = submit_approval(delegate, cap, blocks, &signer, &chain.chain)?;
    let cap = parse_balance(cap).map_err(|e| format!("--cap: {e}"))?;
    println!("{tx}");
    if cap == 0 {
        eprintln!(
            "the service {} may no longer order for {} (block {height})",
            delegate.to_ss58(),
            signer.public().to_ss58()
        );
    } else {
        eprintln!(
            "the service {} may spend up to {} of {} on orders until block {expires_at} (block {height})",
            delegate.to_ss58(),
            Cru(cap),
            signer.public().to_ss58()
        );
    }
    Ok(())
}

/// Submits `market::ApproveOrderer` for `delegate` from `signer` and waits until it is applied:
/// `(transaction, block, expiry block)`.
pub(crate) fn submit_approval(
    delegate: AccountId,
    cap: &str,
    blocks: u64,
    signer: &Keypair,
    chain: &str,
) -> Result<(String, u64, u64), String> {
    let cap = parse_balance(cap).map_err(|e| format!("--cap: {e}"))?;
    let client = ChainClient::new(chain)?;
    let expires_at = client.head()?.height.saturating_add(blocks);
    let call = Call::Market(MarketCall::ApproveOrderer {
        delegate,
        cap,
        expires_at,
    });
    let (tx, height) = client.submit_and_wait(signer, call)?;
    Ok((tx, height, expires_at))
}

/// Content through the local IPFS daemon: pin the DAG there (fetching it from the network),
/// then size and commit to it from its canonical CAR.
pub(crate) struct Daemon {
    pub(crate) api: String,
}

impl Content for Daemon {
    fn prepare(&self, cid: &Cid, origins: &[String]) -> Result<Prepared, String> {
        // The client's own node first (where the content usually is), then the network.
        crate::content::connect_via_api(&self.api, origins);
        crate::content::pin_via_api(&self.api, cid)?;
        let size = crate::content::dag_size(&self.api, cid)?;
        let commitment = crate::content::commitment_via_api(&self.api, cid)?;
        Ok(Prepared { size, commitment })
    }

    fn release(&self, cid: &Cid) -> Result<(), String> {
        crate::content::unpin_via_api(&self.api, cid)
    }
}

/// Orders through the chain client, signed by the service's key.
pub(crate) struct Orders {
    pub(crate) client: ChainClient,
    pub(crate) key: Keypair,
    /// Addresses of the daemon that holds the content (first in each order's memo).
    pub(crate) delegates: Vec<String>,
}

impl Chain for Orders {
    fn place_order(
        &self,
        payer: &AccountId,
        cid: &Cid,
        prepared: &Prepared,
        origins: &[String],
    ) -> Result<u64, OrderError> {
        let hints: Vec<String> = self.delegates.iter().chain(origins).cloned().collect();
        let call = Call::Market(MarketCall::PlaceStorageOrderFor {
            payer: *payer,
            cid: *cid,
            file_size: prepared.size,
            tips: 0,
            memo: crate::storage::providers_memo_fitting(&hints),
            commitment: prepared.commitment,
        });
        match self.client.submit_and_wait_typed(&self.key, call) {
            Ok((_, height)) => Ok(height),
            Err(crust_client::ClientError::Failed { reason, .. }) => {
                Err(OrderError::Refused(reason))
            }
            Err(crust_client::ClientError::Rpc { error, .. })
                if error.code == crust_client::wire::code::REFUSED =>
            {
                Err(OrderError::Refused(error.message))
            }
            Err(e) => Err(OrderError::Unavailable(e.to_string())),
        }
    }

    fn on_chain(&self, cid: &Cid) -> Result<Option<OnChain>, String> {
        let Some(file) = self.client.read::<FileInfo>(&market::file_key(cid))? else {
            return Ok(None);
        };
        let holders =
            crate::storage::replica_addrs(&self.client, Some(&file), &AccountId::default());
        Ok(Some(OnChain {
            replicas: file.replicas.len(),
            expires_at: file.expired_at,
            commitment: file.commitment,
            holders,
        }))
    }
}

/// Accounts' approvals of this service, read from the chain node (web3 tokens' expiry rule).
struct ChainApprovals {
    client: ChainClient,
    service: AccountId,
}

impl crust_pinning::web3::Approvals for ChainApprovals {
    fn live(&self, payer: &AccountId) -> Result<bool, String> {
        let key = market::allowance_key(payer, &self.service);
        let Some(approval) = self.client.read::<market::Allowance>(&key)? else {
            return Ok(false);
        };
        let head = self.client.head()?.height;
        // The next order would be in the next block; an approval ends at `expires_at`.
        Ok(approval.remaining > 0 && head.saturating_add(1) < approval.expires_at)
    }
}

impl crust_pinning::funds::Funds for ChainApprovals {
    fn shortfall(&self, payer: &AccountId) -> Result<Option<String>, String> {
        let key = market::allowance_key(payer, &self.service);
        let Some(approval) = self.client.read::<market::Allowance>(&key)? else {
            return Ok(Some(format!(
                "{} has not approved this service to order storage for it (crust pin approve)",
                payer.to_ss58()
            )));
        };
        let head = self.client.head()?.height;
        if head.saturating_add(1) >= approval.expires_at {
            return Ok(Some(format!(
                "{}'s approval of this service ended at block {} (crust pin approve renews it)",
                payer.to_ss58(),
                approval.expires_at
            )));
        }
        let Some(params) = self
            .client
            .read::<market::MarketParams>(&market::params_key())?
        else {
            return Err("the chain has no market parameters".into());
        };
        // The smallest order (one byte: prices go by started MiB) costs the base fee, the keys
        // fee and one MiB's byte fee.
        let (base, value) = market::file_fee(&params, 1);
        let least = base.saturating_add(value);
        if approval.remaining < least {
            return Ok(Some(format!(
                "{}'s approval of this service has {} left; the smallest order costs {} (crust pin approve sets a new cap)",
                payer.to_ss58(),
                Cru(approval.remaining),
                Cru(least)
            )));
        }
        // What the chain lets it spend: its free balance less any lock.
        let usable = self
            .client
            .read::<crust_runtime::balances::AccountInfo>(&crust_runtime::balances::account_key(
                payer,
            ))?
            .map_or(0, |a| a.usable());
        if usable < least {
            return Ok(Some(format!(
                "{} can spend {}; the smallest order costs {}",
                payer.to_ss58(),
                Cru(usable),
                Cru(least)
            )));
        }
        Ok(None)
    }
}

/// The daemon's own dialable addresses (`/api/v0/id`).
pub(crate) fn daemon_addrs(api: &str) -> Result<Vec<String>, String> {
    let url = format!("{}/api/v0/id", api.trim_end_matches('/'));
    let text = http()?
        .post(&url)
        .send()
        .and_then(|r| r.text())
        .map_err(|e| format!("the IPFS daemon at {api}: {e}"))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("the IPFS daemon at {api}: {e}"))?;
    Ok(v["Addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect())
}

fn serve(args: ServeArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.dir).map_err(|e| format!("{}: {e}", args.dir.display()))?;
    let key = crate::keys::signer(&args.key)?;
    let delegates = if args.delegate.is_empty() {
        daemon_addrs(&args.api)?
    } else {
        args.delegate.clone()
    };
    if delegates.is_empty() {
        return Err("no delegate addresses: the IPFS daemon reports none; pass --delegate".into());
    }
    let store =
        crust_pinning::Store::open(&args.dir.join("pins.redb")).map_err(|e| e.to_string())?;
    let approvals = Arc::new(ChainApprovals {
        client: ChainClient::new(&args.chain.chain)?,
        service: key.public(),
    });
    let service = Arc::new(
        crust_pinning::Service::new(store, key.public(), delegates.clone())
            .with_pin_cap(args.max_pins_per_account)
            .with_web3(approvals.clone(), args.web3_recheck.saturating_mul(1000))
            .with_funds(approvals, args.web3_recheck.saturating_mul(1000))
            .with_uploads(&args.api, args.max_upload),
    );
    let client = ChainClient::new(&args.chain.chain)?;
    // The chain node may still be starting: wait up to a minute for its RPC.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while let Err(e) = client.head() {
        if std::time::Instant::now() >= deadline {
            return Err(e);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let settings = process::Settings {
        replicas: args.replicas.max(1),
        ..process::Settings::default()
    };
    let cors = crust_pinning::api::cors(&args.cors_origins)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(&args.addr))
        .map_err(|e| format!("--addr {}: {e}", args.addr))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    std::fs::write(args.dir.join("addr"), format!("http://{bound}\n"))
        .map_err(|e| format!("{}: {e}", args.dir.display()))?;
    tracing::info!(
        target: "crust::pinning",
        "Pinning Service API on http://{bound} (orders signed by {}, content at {})",
        key.public().to_ss58(),
        delegates.join(" ")
    );
    // The processor: a pass every second over the requests that are due (content retried every
    // 30 s, pinning requests read from the chain every 3 s, pinned ones every minute).
    let processor = service.clone();
    let orders = Orders {
        client,
        key,
        delegates,
    };
    let daemon = Daemon {
        api: args.api.clone(),
    };
    std::thread::spawn(move || {
        let mut schedule = process::Schedule::new();
        loop {
            if let Err(e) = process::step(
                &processor.store,
                &daemon,
                &orders,
                &settings,
                crust_pinning::time::now_ms(),
                &mut schedule,
            ) {
                tracing::error!(target: "crust::pinning", "{e}");
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    rt.block_on(async move {
        axum::serve(listener, crust_pinning::router(service).layer(cors))
            .await
            .map_err(|e| e.to_string())
    })
}
