//! Cheating storage workers against a real `crust node` (issue #18's adversarial suite, the
//! real-process part; the runtime tests in `swork/cheat_tests.rs` cover more cases). The
//! cheaters are test code that signs its own reports and proofs with a registered software
//! enclave — no cheating switch ships in the binary — and send them over JSON-RPC, next to an
//! honest worker built from the real storage-worker library on the same chain:
//!
//! - a worker that stores nothing and makes its proofs up;
//! - a worker that holds file A and claims file B;
//! - a worker whose files root is over fabricated leaves, without the content.
//!
//! The honest replicas are proven and paid; every cheating replica is refused proof, dropped
//! at its deadline, and earns nothing (no replica, no storage power, no payout).

#![allow(clippy::unwrap_used)] // test code: a failure is a test failure

use crust_chain::Hash;
use crust_chain::tx::{Mortality, UnsignedTransaction};
use crust_ipfs::Cid;
use crust_ipfs::blockstore::{MemStore, StoreSink};
use crust_ipfs::importer::{ImportOptions, import_file};
use crust_primitives::codec;
use crust_primitives::commitment::{self, ContentCommitment};
use crust_primitives::merkle;
use crust_primitives::{AccountId, CRU, Keypair};
use crust_runtime::Call;
use crust_runtime::balances::BalancesCall;
use crust_runtime::benefits::{BenefitsCall, FundsType};
use crust_runtime::market::{self, MarketCall, index::AnchorEntry};
use crust_runtime::swork::{ReportedFile, SworkCall, WorkReport, challenge};
use crust_sworker::{Enclave, SoftwareEnclave, SrdConfig, Worker, WorkerConfig};
use serde_json::{Value, json};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CRUST: &str = env!("CARGO_BIN_EXE_crust");

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The chain node's JSON-RPC, as a cheater (or anyone) reaches it.
struct Rpc {
    addr: String,
    genesis: Hash,
}

impl Rpc {
    fn raw(addr: &str, method: &str, params: Value) -> Option<Value> {
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let mut conn = TcpStream::connect(addr).ok()?;
        write!(
            conn,
            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut text = String::new();
        conn.read_to_string(&mut text).ok()?;
        serde_json::from_str(text.split("\r\n\r\n").nth(1)?).ok()
    }

    fn connect(addr: String) -> Self {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(r) = Self::raw(&addr, "genesis_hash", json!({}))
                && let Some(h) = r["result"].as_str()
            {
                return Self {
                    genesis: Hash::from_hex(h).unwrap(),
                    addr,
                };
            }
            assert!(Instant::now() < deadline, "the chain node did not start");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn call(&self, method: &str, params: Value) -> Value {
        let r = Self::raw(&self.addr, method, params).unwrap();
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }

    fn head(&self) -> u64 {
        self.call("chain_head", json!({}))["height"]
            .as_u64()
            .unwrap()
    }

    fn wait_height(&self, height: u64) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.head() < height {
            assert!(Instant::now() < deadline, "chain stuck below {height}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn block_hash(&self, height: u64) -> [u8; 32] {
        let h = self.call("chain_block", json!({ "height": height }))["hash"]
            .as_str()
            .unwrap()
            .to_owned();
        Hash::from_hex(&h).unwrap().0
    }

    fn read<T: codec::Decode<Cfg = ()>>(&self, key: &[u8]) -> Option<T> {
        let key = format!("0x{}", crust_primitives::account::to_hex(key));
        let r = self.call("state_proof", json!({ "key": key }));
        let bytes = crust_primitives::account::from_hex(r["value"].as_str()?).unwrap();
        Some(codec::decode(&bytes).unwrap())
    }

    /// Signs and submits `call`, waits for its block; returns the chain's error if it failed.
    fn send(&self, signer: &Keypair, call: Call) -> Result<(), String> {
        let who = signer.public();
        let nonce = self.call("state_account", json!({ "account": who.to_ss58() }))["next_nonce"]
            .as_u64()
            .unwrap();
        let tx = UnsignedTransaction {
            signer: who,
            nonce,
            fee: CRU / 10,
            tip: 0,
            mortality: Mortality::from(self.head(), 4096),
            call,
        }
        .sign(signer, &self.genesis);
        let hex = format!("0x{}", crust_primitives::account::to_hex(&tx.encode()));
        let hash = self.call("author_submit", json!({ "tx": hex }));
        let hash = hash.as_str().or(hash["hash"].as_str()).unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.call("author_txStatus", json!({ "hash": hash }));
            if s["status"] == "finalized" {
                return match s["success"].as_bool() {
                    Some(true) => Ok(()),
                    _ => Err(s["error"].to_string()),
                };
            }
            assert!(Instant::now() < deadline, "{hash} not included: {s}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A file: its blocks, CID, size and content commitment.
struct File {
    store: Arc<MemStore>,
    cid: Cid,
    size: u64,
    commitment: ContentCommitment,
}

fn file(seed: u32, len: usize) -> File {
    let data: Vec<u8> = (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let store = Arc::new(MemStore::default());
    let cid = import_file(
        &data[..],
        &ImportOptions::default(),
        &mut StoreSink(&*store),
        &mut |_| {},
    )
    .unwrap()
    .cid;
    let size = crust_sworker::seal::dag_bytes(&*store, cid).unwrap();
    let commitment = crust_ipfs::commitment::of_dag(&*store, cid).unwrap();
    File {
        store,
        cid,
        size,
        commitment,
    }
}

/// A storage identity run by test code: an account and a registered software enclave.
struct Identity {
    account: Keypair,
    enclave: Arc<SoftwareEnclave>,
}

impl Identity {
    fn new(rpc: &Rpc, alice: &Keypair, name: &str, seed: u8) -> Self {
        let account = Keypair::from_suri(&format!("//Cheats//{name}")).unwrap();
        rpc.send(
            alice,
            Call::Balances(BalancesCall::Transfer {
                dest: account.public(),
                amount: 1_000 * CRU,
            }),
        )
        .unwrap();
        rpc.send(
            &account,
            Call::Benefits(BenefitsCall::AddBenefitFunds {
                value: 100 * CRU,
                funds_type: FundsType::Market,
            }),
        )
        .unwrap();
        let enclave = Arc::new(SoftwareEnclave::from_seed(
            &[seed; 32],
            vec![Keypair::from_suri("//Authority").unwrap()],
        ));
        let (enclave_sig, attestation) = enclave.attest(&account.public()).unwrap();
        rpc.send(
            &account,
            Call::Swork(SworkCall::Register {
                code: enclave.code(),
                enclave_key: enclave.public_key(),
                enclave_sig,
                attestation,
            }),
        )
        .unwrap();
        Self { account, enclave }
    }

    fn anchor(&self) -> [u8; 32] {
        self.enclave.public_key()
    }

    /// A first report (nothing to answer yet) adding `files` under `files_root`.
    fn report(&self, rpc: &Rpc, slot: u64, files: &[&File], files_root: [u8; 32]) {
        let report = WorkReport {
            curr_pk: self.anchor(),
            ab_upgrade_pk: None,
            slot,
            slot_hash: rpc.block_hash(slot),
            srd_size: 0,
            files_size: files.iter().map(|f| f.size).sum(),
            srd_root: [0; 32],
            files_root,
            added: files
                .iter()
                .map(|f| ReportedFile {
                    cid: f.cid,
                    size: f.size,
                })
                .collect(),
            deleted: vec![],
            prev_report_hash: [0; 32],
        };
        let signature = self.enclave.sign_report(&report);
        rpc.send(
            &self.account,
            Call::Swork(SworkCall::ReportWorks {
                report,
                signature,
                answers: vec![],
                srd_answers: vec![],
            }),
        )
        .unwrap();
    }

    fn entry(&self, rpc: &Rpc, cid: &Cid) -> Option<AnchorEntry> {
        rpc.read(&market::index::entry_key(
            &self.anchor(),
            cid,
            &self.account.public(),
        ))
    }

    /// Waits until the chain records the replica of `cid` as pending; returns its seed.
    fn seed(&self, rpc: &Rpc, cid: &Cid) -> [u8; 32] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(AnchorEntry::Pending { since, .. }) = self.entry(rpc, cid) {
                rpc.wait_height(since + 1);
                return rpc.block_hash(since);
            }
            assert!(Instant::now() < deadline, "{cid} never pending");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn spower(&self, rpc: &Rpc) -> u64 {
        rpc.read(&market_anchor_key(&self.anchor())).unwrap_or(0)
    }

    fn reward(&self, rpc: &Rpc) -> u128 {
        let ledger: Option<crust_runtime::benefits::MarketBenefit> =
            rpc.read(&crust_runtime::benefits::market_key(&self.account.public()));
        ledger.map_or(0, |l| l.file_reward)
    }
}

fn market_anchor_key(anchor: &[u8; 32]) -> Vec<u8> {
    crust_runtime::state::key("market", "anchor_spower", &[anchor])
}

/// Made-up proofs for the pieces the chain asks of `who`'s replica of `f`: zero bytes with
/// paths through a tree of zero pieces of the right shape.
fn made_up(rpc: &Rpc, who: &Identity, f: &File) -> challenge::PendingProof {
    let seed = who.seed(rpc, &f.cid);
    let pieces = f.commitment.pieces();
    let leaves = vec![merkle::leaf(&[0; commitment::PIECE_BYTES]); pieces as usize];
    challenge::PendingProof {
        cid: f.cid,
        content: challenge::pending_pieces(&seed, &who.anchor(), &f.cid, pieces)
            .into_iter()
            .map(|i| challenge::ContentProof {
                piece: vec![0; commitment::PIECE_BYTES],
                proof: merkle::prove(&leaves, i as usize).unwrap(),
            })
            .collect(),
    }
}

#[test]
fn cheating_workers_earn_nothing_on_a_real_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (p2p, port) = (free_port(), free_port());
    let _node = Node(
        Command::new(CRUST)
            .args(["node", "--chain", "dev", "--validator", "//Alice//session"])
            .arg("--data-dir")
            .arg(dir.path().join("chain"))
            .args(["--listen", &format!("127.0.0.1:{p2p}")])
            .args(["--rpc", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rpc = Rpc::connect(format!("127.0.0.1:{port}"));
    let alice = Keypair::from_suri("//Alice").unwrap();

    // Three ordered files; A and B of the same size, so sizes alone cannot tell them apart.
    let a = file(1, 600_000);
    let b = file(2, 600_000);
    let c = file(3, 1_300_000);
    assert_eq!(a.size, b.size);
    for f in [&a, &b, &c] {
        rpc.send(
            &alice,
            Call::Market(MarketCall::PlaceStorageOrder {
                cid: f.cid,
                file_size: f.size,
                tips: 0,
                memo: vec![],
                commitment: f.commitment,
            }),
        )
        .unwrap();
    }

    let honest = Identity::new(&rpc, &alice, "honest", 11);
    let nothing = Identity::new(&rpc, &alice, "nothing", 12);
    let swapper = Identity::new(&rpc, &alice, "swapper", 13);
    let fabricator = Identity::new(&rpc, &alice, "fabricator", 14);

    // The honest worker: the real library, holding all three files.
    let mut worker = Worker::open(
        WorkerConfig {
            dir: dir.path().join("honest"),
            srd: SrdConfig {
                paths: vec![dir.path().join("honest/srd")],
                reserve_bytes: 0,
                leaves_per_unit: 1,
            },
            capacity_bytes: 16 << 20,
        },
        honest.enclave.clone(),
    )
    .unwrap();
    for f in [&a, &b, &c] {
        worker
            .store_file(&*f.store, f.cid, Some(&f.commitment))
            .unwrap();
    }

    // Everyone reports in the current slot (dev slots: 60 blocks).
    let slot_blocks = 60;
    // A slot after the first, early enough that the four reports land in it.
    let mut head = rpc.head().max(slot_blocks + 1);
    if head % slot_blocks > slot_blocks / 3 {
        head = (head / slot_blocks + 1) * slot_blocks + 1;
    }
    rpc.wait_height(head);
    let slot = head / slot_blocks * slot_blocks;
    let (report, signature) = worker.prepare_report(slot, rpc.block_hash(slot)).unwrap();
    rpc.send(
        &honest.account,
        Call::Swork(SworkCall::ReportWorks {
            report: report.clone(),
            signature,
            answers: vec![],
            srd_answers: vec![],
        }),
    )
    .unwrap();
    assert!(
        worker
            .reconcile(Some(crust_sworker::report::hash(&report)))
            .unwrap()
    );
    // Stores nothing: claims all three under an empty root.
    nothing.report(&rpc, slot, &[&a, &b, &c], [0; 32]);
    // Holds A, claims B.
    swapper.report(&rpc, slot, &[&b], [0; 32]);
    // A files root over fabricated leaves (tiny made-up sealed blocks) for real CIDs.
    let fake_leaves: Vec<_> = [&a, &b, &c]
        .iter()
        .map(|f| challenge::file_leaf(&f.cid, f.size, &[0xab; 32], 1))
        .collect();
    fabricator.report(&rpc, slot, &[&a, &b, &c], merkle::root(&fake_leaves));

    // The honest worker proves its pending replicas from its sealed copies.
    let mut proofs = Vec::new();
    for f in [&a, &b, &c] {
        let seed = honest.seed(&rpc, &f.cid);
        proofs.push(
            worker
                .pending_proof(&f.cid, &seed, &honest.anchor())
                .unwrap(),
        );
    }
    rpc.send(
        &honest.account,
        Call::Swork(SworkCall::ProveReplicas { proofs }),
    )
    .unwrap();

    // The cheaters try.
    for f in [&a, &b, &c] {
        let refused = rpc.send(
            &nothing.account,
            Call::Swork(SworkCall::ProveReplicas {
                proofs: vec![made_up(&rpc, &nothing, f)],
            }),
        );
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("does not match the order's commitment")),
            "stores nothing: {refused:?}"
        );
    }
    let seed = swapper.seed(&rpc, &b.cid);
    let asked = challenge::pending_pieces(&seed, &swapper.anchor(), &b.cid, b.commitment.pieces());
    let a_index = crust_sworker::content::ContentIndex::build(&*a.store, a.cid).unwrap();
    let read = crust_sworker::content::reader(&*a.store);
    let lie = challenge::PendingProof {
        cid: b.cid,
        content: asked
            .iter()
            .map(|i| {
                let (piece, proof) = a_index.prove(&a.cid, *i, &read).unwrap();
                challenge::ContentProof { piece, proof }
            })
            .collect(),
    };
    let refused = rpc.send(
        &swapper.account,
        Call::Swork(SworkCall::ProveReplicas { proofs: vec![lie] }),
    );
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("does not match the order's commitment")),
        "A for B: {refused:?}"
    );
    for f in [&a, &b, &c] {
        let refused = rpc.send(
            &fabricator.account,
            Call::Swork(SworkCall::ProveReplicas {
                proofs: vec![made_up(&rpc, &fabricator, f)],
            }),
        );
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("does not match the order's commitment")),
            "fabricated root: {refused:?}"
        );
    }

    // Past every deadline: the cheaters' replicas are gone; the honest ones stay, paid.
    let last_deadline = [&nothing, &swapper, &fabricator]
        .iter()
        .flat_map(|id| [&a, &b, &c].map(|f| id.entry(&rpc, &f.cid)))
        .filter_map(|e| match e {
            Some(AnchorEntry::Pending { deadline, .. }) => Some(deadline),
            _ => None,
        })
        .max()
        .unwrap();
    rpc.wait_height(last_deadline + 2);
    for f in [&a, &b, &c] {
        let info: market::FileInfo = rpc.read(&market::file_key(&f.cid)).unwrap();
        let holders: Vec<AccountId> = info.replicas.iter().map(|r| r.who).collect();
        assert_eq!(holders, vec![honest.account.public()], "{}", f.cid);
        assert_eq!(info.paid_owners, vec![honest.account.public()]);
        for cheat in [&nothing, &swapper, &fabricator] {
            assert_eq!(cheat.entry(&rpc, &f.cid), None);
        }
    }
    assert_eq!(
        honest.spower(&rpc),
        a.size + b.size + c.size,
        "the honest worker's storage power"
    );
    assert!(honest.reward(&rpc) > 0, "the honest worker was paid");
    for cheat in [&nothing, &swapper, &fabricator] {
        assert_eq!((cheat.spower(&rpc), cheat.reward(&rpc)), (0, 0));
    }
}
