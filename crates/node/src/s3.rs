//! `crust s3`: the S3-compatible API (`serve`), and an account's access keys for it (`key
//! create|list|revoke`, signed by the account) and its on-chain approval of the service's
//! orders (`approve`).

use crate::chain_client::ChainClient;
use crate::orders::ChainArgs;
use crust_primitives::AccountId;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `crust s3 …`.
#[derive(clap::Subcommand)]
pub enum S3Command {
    /// Run the S3-compatible API over an IPFS daemon.
    Serve(ServeArgs),
    /// Access keys (access key id and secret) for an S3 service, signed by the account.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Let an S3 service place storage orders paid from this account, up to a cap (on chain).
    Approve {
        /// The service's URL.
        #[arg(long, default_value = DEFAULT_URL)]
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

const DEFAULT_URL: &str = "http://127.0.0.1:9000";

/// `crust s3 key …`.
#[derive(clap::Subcommand)]
pub enum KeyCommand {
    /// Make an access key (its secret is printed once; give both to your S3 client).
    Create {
        /// A name for the device or app that will hold it.
        label: String,
        #[command(flatten)]
        who: Who,
    },
    /// The account's access keys (ids and labels, never secrets).
    List {
        #[command(flatten)]
        who: Who,
    },
    /// Revoke an access key by label (requests signed with it fail from then on).
    Revoke {
        /// Its label.
        label: String,
        #[command(flatten)]
        who: Who,
    },
}

/// Who asks which service.
#[derive(clap::Args)]
pub struct Who {
    /// The service's URL.
    #[arg(long, default_value = DEFAULT_URL)]
    service: String,
    /// The account (secret URI or stored key).
    #[arg(long, default_value = "//Alice")]
    from: String,
}

/// How `crust s3 serve` runs.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address of the S3 API.
    #[arg(long, default_value = "127.0.0.1:9000")]
    addr: String,
    /// Where the service keeps its database.
    #[arg(long, default_value = "crust-data/s3")]
    dir: PathBuf,
    /// The service's key: access keys are made by requests signed to its account, and it
    /// signs the storage orders (paying only transaction fees).
    #[arg(long)]
    key: String,
    /// The IPFS daemon that holds the objects (Kubo RPC API).
    #[arg(long, default_value = "http://127.0.0.1:5001")]
    api: String,
    /// The region clients sign for.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Replicas a new bucket's objects are ordered with (a bucket chooses its own with the
    /// `x-crust-bucket-replicas` header when it is made; 0: kept here, not ordered).
    #[arg(long, default_value_t = 3)]
    replicas: u32,
    /// Largest object in one PUT, and largest part of a multipart upload.
    #[arg(long, default_value = "5GiB", value_parser = crate::parse_bytes)]
    max_object: u64,
    /// Buckets one account may have.
    #[arg(long, default_value_t = 1000)]
    max_buckets: usize,
    /// Requests served at once; more are answered 503 SlowDown.
    #[arg(long, default_value_t = 256)]
    max_requests: usize,
    /// Smallest part of a multipart upload but the last (S3's is 5 MiB; tests lower it).
    #[arg(long, default_value = "5MiB", value_parser = crate::parse_bytes, hide = true)]
    min_part_size: u64,
    /// Multiaddrs storage nodes fetch objects from (default: the IPFS daemon's own).
    #[arg(long)]
    delegate: Vec<String>,
    #[command(flatten)]
    chain: ChainArgs,
}

/// Runs a `crust s3` command.
pub fn run(command: S3Command) -> Result<(), String> {
    match command {
        S3Command::Serve(args) => serve(args),
        S3Command::Key(command) => key(command),
        S3Command::Approve {
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

/// The account an S3 service orders with (`GET /.crust/service`).
fn service_account(service: &str) -> Result<AccountId, String> {
    let url = format!("{}/.crust/service", service.trim_end_matches('/'));
    let text = http()?
        .get(&url)
        .send()
        .and_then(|r| r.text())
        .map_err(|e| format!("S3 service at {service}: {e}"))?;
    let body: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("S3 service at {service}: {e}"))?;
    body["account"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("{service} does not describe a crust S3 service"))
}

fn key(command: KeyCommand) -> Result<(), String> {
    let (action, label, who) = match command {
        KeyCommand::Create { label, who } => ("create", label, who),
        KeyCommand::List { who } => ("list", String::new(), who),
        KeyCommand::Revoke { label, who } => ("revoke", label, who),
    };
    let keypair = crate::keys::signer(&who.from)?;
    let audience = service_account(&who.service)?;
    let request = crust_s3::keys::sign_request(
        &keypair,
        &audience,
        action,
        &label,
        crust_s3::http::now_ms(),
    );
    let url = format!("{}/.crust/keys", who.service.trim_end_matches('/'));
    let r = http()?
        .post(&url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&request).map_err(|e| e.to_string())?)
        .send()
        .map_err(|e| format!("{url}: {e}"))?;
    let status = r.status();
    let text = r.text().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if !status.is_success() {
        return Err(format!(
            "{url}: {status}: {}",
            v["error"].as_str().unwrap_or(&text)
        ));
    }
    match action {
        "create" => {
            let id = v["access_key"].as_str().unwrap_or_default();
            let secret = v["secret_key"].as_str().unwrap_or_default();
            println!("{id} {secret}");
            eprintln!(
                "access key '{label}' of {}: the secret is shown only now. For the AWS CLI:\n  AWS_ACCESS_KEY_ID={id} AWS_SECRET_ACCESS_KEY={secret} aws --endpoint-url {} s3 ls",
                keypair.public().to_ss58(),
                who.service.trim_end_matches('/')
            );
        }
        "list" => {
            for k in v["keys"].as_array().into_iter().flatten() {
                println!(
                    "{}  {}  created {}",
                    k["access_key"].as_str().unwrap_or("?"),
                    k["label"].as_str().unwrap_or("?"),
                    k["created"].as_str().unwrap_or("?")
                );
            }
        }
        _ => eprintln!("access key '{label}' revoked"),
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
    crate::pinning::approve_orderer(service_account(service)?, cap, blocks, from, chain)
}

fn serve(args: ServeArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.dir).map_err(|e| format!("{}: {e}", args.dir.display()))?;
    let key = crate::keys::signer(&args.key)?;
    let store = crust_s3::Store::open(&args.dir.join("s3.redb")).map_err(|e| e.to_string())?;
    let settings = crust_s3::Settings {
        region: args.region.clone(),
        max_object: args.max_object,
        max_buckets: args.max_buckets,
        replicas: args.replicas,
        max_requests: args.max_requests.max(1),
        min_part: args.min_part_size,
        ..crust_s3::Settings::default()
    };
    let daemon = crust_s3::content::Daemon::new(&args.api);
    let service = Arc::new(crust_s3::Service::new(
        store,
        daemon,
        key.public(),
        settings,
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // The daemon may still be starting: wait up to a minute for it.
    rt.block_on(async {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            match service.daemon.ping().await {
                Ok(()) => return Ok(()),
                Err(e) if std::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
    })?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(&args.addr))
        .map_err(|e| format!("--addr {}: {e}", args.addr))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    std::fs::write(args.dir.join("addr"), format!("http://{bound}\n"))
        .map_err(|e| format!("{}: {e}", args.dir.display()))?;
    tracing::info!(
        target: "crust::s3",
        "S3 API on http://{bound} (region {}, content on {}, orders on {} signed by {})",
        args.region,
        args.api,
        args.chain.chain,
        key.public().to_ss58()
    );
    rt.spawn(service.clone().release_loop());
    // The order processor: a pass every second over the orders that are due.
    let delegates = if args.delegate.is_empty() {
        crate::pinning::daemon_addrs(&args.api)?
    } else {
        args.delegate.clone()
    };
    let ledger = Ledger {
        orders: crate::pinning::Orders {
            client: ChainClient::new(&args.chain.chain)?,
            key,
            delegates,
        },
    };
    let content = crate::pinning::Daemon {
        api: args.api.clone(),
    };
    let processor = service.clone();
    std::thread::spawn(move || {
        let settings = crust_s3::orders::Settings::default();
        loop {
            if let Err(e) = crust_s3::orders::step(
                &processor.store,
                &content,
                &ledger,
                &settings,
                crust_s3::http::now_ms(),
            ) {
                tracing::error!(target: "crust::s3", "orders: {e}");
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    rt.block_on(async move {
        axum::serve(listener, crust_s3::router(service))
            .await
            .map_err(|e| e.to_string())
    })
}

/// The chain as the order processor sees it: the pinning service's orders (signed by the
/// service, paid through the payer's approval) and the chain's height and order duration.
struct Ledger {
    orders: crate::pinning::Orders,
}

impl crust_s3::orders::Ledger for Ledger {
    fn head(&self) -> Result<(u64, u64), String> {
        let height = self.orders.client.head()?.height;
        let config = self
            .orders
            .client
            .read::<crust_runtime::system::RuntimeConfig>(&crust_runtime::system::config_key())?
            .ok_or("the chain has no runtime configuration")?;
        Ok((height, config.file_duration_blocks))
    }

    fn place_order(
        &self,
        payer: &AccountId,
        cid: &crust_primitives::Cid,
        prepared: &crust_pinning::process::Prepared,
    ) -> Result<u64, crust_pinning::process::OrderError> {
        use crust_pinning::process::Chain as _;
        self.orders.place_order(payer, cid, prepared, &[])
    }

    fn file(
        &self,
        cid: &crust_primitives::Cid,
    ) -> Result<Option<crust_pinning::process::OnChain>, String> {
        use crust_pinning::process::Chain as _;
        self.orders.on_chain(cid)
    }
}

/// Sizing and committing to an object's DAG on the daemon that holds it.
impl crust_s3::orders::Prepare for crate::pinning::Daemon {
    fn prepare(
        &self,
        cid: &crust_primitives::Cid,
    ) -> Result<crust_pinning::process::Prepared, String> {
        crust_pinning::process::Content::prepare(self, cid, &[])
    }
}
