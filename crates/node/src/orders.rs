//! The user's storage commands: `crust put` (add, price, order, follow until replicated),
//! `crust status`, `crust renew`, `crust prepay` and `crust rewards` (a storage owner's replica
//! rewards), each with `--output json`.

use crate::chain_client::ChainClient;
use crate::{Output, print_json};
use crust_client::api;
use crust_primitives::balance::{Cru, parse_balance};
use crust_primitives::{Balance, Cid};
use crust_runtime::Call;
use crust_runtime::benefits::{self, MarketBenefit};
use crust_runtime::market::{self, FileInfo, MarketCall, MarketParams};
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where the chain is and who signs.
#[derive(clap::Args, Clone)]
pub struct ChainArgs {
    /// Chain RPC.
    #[arg(long, global = true, default_value = "http://127.0.0.1:9933")]
    pub chain: String,
}

/// `crust put` options.
#[derive(clap::Args)]
pub struct PutArgs {
    /// The file or directory to store.
    pub path: PathBuf,
    /// Extra pay for the replicas, e.g. `0.1 CRU`.
    #[arg(long, default_value = "0 CRU")]
    pub tip: String,
    /// Also fund the file's renewal pool with this much, e.g. `1 CRU`.
    #[arg(long, default_value = "0 CRU")]
    pub prepaid: String,
    /// Do not ask before paying.
    #[arg(short, long)]
    pub yes: bool,
    /// Follow the order until this many replicas (0: do not wait).
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// Give up waiting for replicas after this many seconds (the order stays placed).
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// The paying account (secret URI).
    #[arg(long, default_value = "//Alice")]
    pub from: String,
    /// The IPFS node (Kubo RPC API) to add the file to; storage nodes fetch it from there
    /// (default: $CRUST_API or http://127.0.0.1:5001, where `crust devnet`'s IPFS node listens).
    #[arg(long, default_value_t = crate::content::default_api())]
    pub api: String,
    /// Store through a pinning service instead (its URL): the file is uploaded with `--token`
    /// to the service, which orders it for the token's account and keeps it until its replicas
    /// are proven — for a machine whose own IPFS node storage nodes cannot reach.
    #[arg(long)]
    pub to: Option<String>,
    /// The pinning service's access token (`crust pin token create`, or a web3 token).
    #[arg(long, env = "CRUST_PIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// The order's state as users see it.
fn state_of(info: &FileInfo, head: u64) -> &'static str {
    if info.expired_at == 0 {
        "pending"
    } else if info.expired_at <= head {
        "expired"
    } else if info.replicas.is_empty() {
        "lost"
    } else {
        "stored"
    }
}

fn status_json(cid: &Cid, info: &FileInfo, head: u64) -> serde_json::Value {
    let replicas: Vec<_> = info
        .replicas
        .iter()
        .map(|r| {
            json!({
                "owner": r.owner.to_ss58(),
                "reporter": r.who.to_ss58(),
                "valid_at": r.valid_at,
                "matured": r.created_at.is_none(),
            })
        })
        .collect();
    json!({
        "cid": cid.to_string(),
        "state": state_of(info, head),
        "size_bytes": info.file_size,
        "expires_at": info.expired_at,
        "head": head,
        "replica_count": info.replicas.len(),
        "replicas": replicas,
        "paid_owners": info.paid_owners.iter().map(|a| a.to_ss58()).collect::<Vec<_>>(),
        "amount": info.amount.to_string(),
        "prepaid": info.prepaid.to_string(),
        "orderer": info.orderer.to_ss58(),
        "spower": info.spower,
    })
}

fn parse_cid(text: &str) -> Result<Cid, String> {
    text.trim_start_matches("/ipfs/")
        .parse()
        .map_err(|e| format!("{text}: {e}"))
}

fn amount(flag: &str, text: &str) -> Result<Balance, String> {
    parse_balance(text).map_err(|e| format!("--{flag}: {e}"))
}

fn file_info(client: &ChainClient, cid: &Cid) -> Result<Option<FileInfo>, String> {
    client.read::<FileInfo>(&market::file_key(cid))
}

/// Asks on the terminal; without one, `--yes` is required.
fn confirm(question: &str) -> Result<(), String> {
    if !std::io::stdin().is_terminal() {
        return Err("not confirmed: pass --yes to pay without asking".into());
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| e.to_string())?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err("cancelled; nothing was paid".into())
    }
}

/// The price of ordering `size` bytes now, as the chain will charge it.
fn price(client: &ChainClient, size: u64) -> Result<(Balance, Balance), String> {
    let params: MarketParams = client.read(&market::params_key())?.unwrap_or_default();
    Ok(market::file_fee(&params, size))
}

/// `crust put`.
pub fn put(args: PutArgs, chain: &ChainArgs, output: Output) -> Result<(), String> {
    if let Some(service) = &args.to {
        return put_via_service(service, &args, output);
    }
    let signer = crate::keys::signer(&args.from)?;
    let tip = amount("tip", &args.tip)?;
    let prepaid = amount("prepaid", &args.prepaid)?;
    let client = ChainClient::new(&chain.chain)?;
    client.head()?; // fail before uploading if the chain is not there
    eprintln!("adding {} to {}…", args.path.display(), args.api);
    let cid = crate::content::add_via_api(&args.api, &args.path)?;
    let size = crate::content::dag_size(&args.api, &cid)?;
    // D29: the order commits to the DAG's canonical CAR; the daemon's export is checked.
    let commitment = crate::content::commitment_via_api(&args.api, &cid)?;
    let existing = file_info(&client, &cid)?;
    if let Some(f) = &existing
        && f.commitment != commitment
    {
        return Err(format!(
            "{cid} is already ordered with another content commitment ({}); the chain would refuse this order",
            crust_primitives::account::to_hex(&f.commitment.root)
        ));
    }
    // D10: a file's size is fixed by its first order.
    let charged = existing.as_ref().map_or(size, |f| f.file_size);
    let (base, value) = price(&client, charged)?;
    let total = base + value + tip + prepaid;
    let balance = client.account(&signer.public())?.0;
    eprintln!("{cid}: {size} bytes");
    eprintln!(
        "price: base fee {} + storage {} + tip {} + prepaid {} = {} (balance {})",
        Cru(base),
        Cru(value),
        Cru(tip),
        Cru(prepaid),
        Cru(total),
        Cru(balance)
    );
    if balance < total {
        return Err(format!(
            "{} has {} but the order costs {}",
            signer.public().to_ss58(),
            Cru(balance),
            Cru(total)
        ));
    }
    if !args.yes {
        confirm(&format!("pay {} to store {cid}?", Cru(total)))?;
    }
    let mut calls = vec![Call::Market(MarketCall::PlaceStorageOrder {
        cid,
        file_size: charged,
        tips: tip,
        memo: Vec::new(),
        commitment,
    })];
    if prepaid > 0 {
        calls.push(Call::Market(MarketCall::AddPrepaid {
            cid,
            amount: prepaid,
        }));
    }
    let hashes = client.submit_all(&signer, calls)?;
    for hash in &hashes {
        client.wait_for(hash, Duration::from_secs(60))?;
    }
    let tx = hashes.into_iter().next().unwrap_or_default();
    eprintln!("order placed (transaction {tx})");
    let (info, head) = follow(&client, &cid, args.replicas, args.timeout)?;
    let mut out = json!({
        "cid": cid.to_string(),
        "size_bytes": charged,
        "fee": (base + value).to_string(),
        "tip": tip.to_string(),
        "prepaid": prepaid.to_string(),
        "tx": tx,
    });
    if let (Some(info), Some(map)) = (&info, out.as_object_mut()) {
        let status = status_json(&cid, info, head);
        for key in ["state", "expires_at", "replica_count", "replicas"] {
            map.insert(key.into(), status[key].clone());
        }
    }
    match output {
        Output::Json => print_json(&out),
        Output::Text => {
            println!("{cid}");
            if let Some(info) = info {
                eprintln!(
                    "{} replicas; expires at block {} (see `crust status {cid}`)",
                    info.replicas.len(),
                    info.expired_at
                );
            }
        }
    }
    let reached = out["replica_count"].as_u64().unwrap_or(0) as usize;
    if reached < args.replicas {
        return Err(format!(
            "{cid} has {reached} of {} replicas after {} s; the order stays placed: watch it with `crust status {cid}`",
            args.replicas, args.timeout
        ));
    }
    Ok(())
}

/// `crust put --to SERVICE`: uploads to the pinning service and follows the pin request it
/// made until `pinned` (the service's replica count), `failed`, or the timeout.
fn put_via_service(service: &str, args: &PutArgs, output: Output) -> Result<(), String> {
    let service = service.trim_end_matches('/');
    let token = args
        .token
        .as_deref()
        .ok_or("--to needs the service's access token: --token or $CRUST_PIN_TOKEN")?;
    eprintln!("uploading {} to {service}…", args.path.display());
    let cid = crate::content::add_via_api_as(service, &args.path, Some(token))?;
    eprintln!("{cid}: uploaded; the service orders it for the token's account");
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{service}/pins?cid={cid}&status=queued,pinning,pinned,failed");
    let deadline = std::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut last = String::new();
    let pin = loop {
        let text = http
            .get(&url)
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .and_then(|r| r.text())
            .map_err(|e| format!("{service}: {e}"))?;
        let answer: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{service}: {e}: {text}"))?;
        let newest = answer["results"]
            .as_array()
            .into_iter()
            .flatten()
            .max_by_key(|p| p["created"].as_str().unwrap_or_default().to_owned())
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        let status = newest["status"].as_str().unwrap_or("unknown").to_owned();
        if status != last {
            eprintln!(
                "pin request {}: {status}",
                newest["requestid"].as_str().unwrap_or("?")
            );
            last = status.clone();
        }
        let done = matches!(status.as_str(), "pinned" | "failed");
        if done || args.replicas == 0 || std::time::Instant::now() >= deadline {
            break newest;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    match output {
        Output::Json => print_json(&json!({ "cid": cid.to_string(), "pin": pin })),
        Output::Text => println!("{cid}"),
    }
    match pin["status"].as_str() {
        Some("pinned") => Ok(()),
        Some("failed") => Err(format!(
            "the service could not store {cid}: {}",
            pin["info"]["reason"].as_str().unwrap_or("no reason given")
        )),
        _ if args.replicas == 0 => Ok(()),
        other => Err(format!(
            "{cid} is {} after {} s; the service keeps working on it: watch it with its pin request",
            other.unwrap_or("unknown"),
            args.timeout
        )),
    }
}

/// Waits until the file has `replicas` replicas (or the timeout), showing progress.
fn follow(
    client: &ChainClient,
    cid: &Cid,
    replicas: usize,
    timeout: u64,
) -> Result<(Option<FileInfo>, u64), String> {
    let bar = indicatif::ProgressBar::new(replicas as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} replicas {pos}/{len} · {msg} · {elapsed}",
    ) {
        bar.set_style(style);
    }
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        let head = client.head()?.height;
        let info = file_info(client, cid)?;
        let count = info.as_ref().map_or(0, |f| f.replicas.len());
        bar.set_position(count as u64);
        bar.set_message(format!(
            "{} at block {head}",
            info.as_ref()
                .map_or("not yet on chain", |f| state_of(f, head))
        ));
        if count >= replicas || Instant::now() >= deadline {
            bar.finish_and_clear();
            return Ok((info, head));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `crust status CID`.
pub fn status(cid: &str, chain: &ChainArgs, output: Output) -> Result<(), String> {
    let cid = parse_cid(cid)?;
    let client = ChainClient::new(&chain.chain)?;
    let head = client.head()?.height;
    let Some(info) = file_info(&client, &cid)? else {
        if output == Output::Json {
            print_json(
                &json!({"cid": cid.to_string(), "state": "none", "replica_count": 0, "replicas": []}),
            );
        }
        return Err(format!("no order for {cid} on this chain"));
    };
    if output == Output::Json {
        print_json(&status_json(&cid, &info, head));
        return Ok(());
    }
    println!("file      {cid}");
    println!("state     {}", state_of(&info, head));
    println!("size      {} bytes", info.file_size);
    match info.expired_at {
        0 => println!("expires   (starts with the first replica)"),
        at => println!("expires   block {at} (now {head})"),
    }
    println!(
        "paid      {} for replicas, {} prepaid for renewal",
        Cru(info.amount),
        Cru(info.prepaid)
    );
    println!("orderer   {}", info.orderer.to_ss58());
    println!("replicas  {}", info.replicas.len());
    for r in &info.replicas {
        let paid = if info.paid_owners.contains(&r.owner) {
            ", paid"
        } else {
            ""
        };
        println!("  {} since block {}{paid}", r.owner.to_ss58(), r.valid_at);
    }
    Ok(())
}

/// `crust renew CID`: orders the file again at today's price, extending its storage.
pub fn renew(cid: &str, tip: &str, from: &str, yes: bool, chain: &ChainArgs) -> Result<(), String> {
    let cid = parse_cid(cid)?;
    let signer = crate::keys::signer(from)?;
    let tip = amount("tip", tip)?;
    let client = ChainClient::new(&chain.chain)?;
    let info = file_info(&client, &cid)?.ok_or_else(|| {
        format!("no order for {cid}; place one with `crust put` or `crust order`")
    })?;
    let (base, value) = price(&client, info.file_size)?;
    let total = base + value + tip;
    eprintln!(
        "renewing {cid} ({} bytes) costs {}",
        info.file_size,
        Cru(total)
    );
    if !yes {
        confirm(&format!("pay {}?", Cru(total)))?;
    }
    let (tx, height) = client.submit_and_wait(
        &signer,
        Call::Market(MarketCall::PlaceStorageOrder {
            cid,
            file_size: info.file_size,
            tips: tip,
            memo: Vec::new(),
            commitment: info.commitment,
        }),
    )?;
    println!("{tx}");
    eprintln!("renewed in block {height}");
    Ok(())
}

/// `crust prepay CID AMOUNT`: funds the file's renewal pool.
pub fn prepay(cid: &str, value: &str, from: &str, chain: &ChainArgs) -> Result<(), String> {
    let cid = parse_cid(cid)?;
    let signer = crate::keys::signer(from)?;
    let value = parse_balance(value).map_err(|e| format!("amount: {e}"))?;
    let client = ChainClient::new(&chain.chain)?;
    if file_info(&client, &cid)?.is_none() {
        return Err(format!(
            "no order for {cid}; prepaid funds need an order first"
        ));
    }
    let (tx, height) = client.submit_and_wait(
        &signer,
        Call::Market(MarketCall::AddPrepaid { cid, amount: value }),
    )?;
    println!("{tx}");
    eprintln!("included in block {height}");
    Ok(())
}

/// `crust rewards [--claim]`: a storage owner's unclaimed replica rewards and collateral.
pub fn rewards(from: &str, claim: bool, chain: &ChainArgs, output: Output) -> Result<(), String> {
    let signer = crate::keys::signer(from)?;
    let client = ChainClient::new(&chain.chain)?;
    let b: MarketBenefit = client
        .read(&benefits::market_key(&signer.public()))?
        .unwrap_or_default();
    let mut tx = None;
    if claim {
        if b.file_reward == 0 {
            return Err(format!(
                "{} has no unclaimed replica rewards",
                signer.public().to_ss58()
            ));
        }
        tx = Some(
            client
                .submit_and_wait(&signer, Call::Market(MarketCall::RewardMerchant {}))?
                .0,
        );
    }
    match output {
        Output::Json => print_json(&json!({
            "account": signer.public().to_ss58(),
            "unclaimed": if tx.is_some() { 0 } else { b.file_reward }.to_string(),
            "claimed": if tx.is_some() { b.file_reward } else { 0 }.to_string(),
            "collateral": b.active_funds.to_string(),
            "claim_tx": tx,
        })),
        Output::Text => {
            println!("collateral {}", Cru(b.active_funds));
            match tx {
                Some(tx) => println!("claimed    {} in transaction {tx}", Cru(b.file_reward)),
                None => println!("unclaimed  {}", Cru(b.file_reward)),
            }
        }
    }
    Ok(())
}

/// `crust orders`: the files an account ordered, with their state.
pub fn orders(from: &str, chain: &ChainArgs, output: Output) -> Result<(), String> {
    let who = crate::keys::account(from)?;
    let client = ChainClient::new(&chain.chain)?;
    let mut files = Vec::new();
    let mut after = None;
    let head = loop {
        let page = client.request::<api::MarketFiles>(api::FilesParams {
            orderer: Some(who),
            after,
        })?;
        files.extend(page.files);
        match page.next {
            Some(n) => after = Some(n),
            None => break page.head,
        }
    };
    let state = |f: &api::FileSummary| match (f.expires_at, f.replica_count) {
        (0, _) => "pending",
        (e, _) if e <= head => "expired",
        (_, 0) => "lost",
        _ => "stored",
    };
    if output == Output::Json {
        let orders: Vec<serde_json::Value> = files
            .iter()
            .map(|f| {
                let mut v = json!(f);
                v["state"] = json!(state(f));
                v
            })
            .collect();
        print_json(&json!({ "account": who.to_ss58(), "head": head, "orders": orders }));
        return Ok(());
    }
    if files.is_empty() {
        eprintln!("{} has no orders on this chain", who.to_ss58());
    }
    for f in &files {
        println!(
            "{}  {:>8}  {:>12} bytes  {} replicas  expires at {}",
            f.cid,
            state(f),
            f.size_bytes,
            f.replica_count,
            f.expires_at
        );
    }
    Ok(())
}
