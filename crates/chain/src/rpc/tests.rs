//! The server's answers, checked through the contract's types and proofs.

use super::*;
use crate::proof::{ProofError, ProvenState};
use crate::store::StateProof;
use commonware_runtime::{Runner as _, Supervisor as _, deterministic};

fn hex(v: &Value) -> Vec<u8> {
    crust_light::hex::decode(v.as_str().unwrap()).unwrap()
}

fn entries(proof: &Value) -> Vec<StateProof> {
    proof["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| StateProof {
            key: hex(&e["key"]),
            value: (!e["value"].is_null()).then(|| hex(&e["value"])),
            proof: hex(&e["proof"]),
        })
        .collect()
}

/// Every typed query answers with proofs of what it read; a client that knows only the
/// finalized state root re-runs the query on the proven entries and gets the same answer.
#[test]
fn typed_queries_come_with_proofs_a_light_client_can_check() {
    deterministic::Runner::default().start(|ctx| async move {
        let spec = crate::spec::ChainSpec::builtin("local").unwrap();
        let (core, _) = crate::service::open_chain(ctx.child("store"), &spec, "rpc")
            .await
            .unwrap();
        let id = json!(1);
        let call = async |method: &str, params: Value| {
            let out = dispatch(&core, method, &params, &id).await;
            assert!(out.get("error").is_none(), "{method}: {out}");
            out["result"].clone()
        };
        let head = call("chain_head", json!({})).await;
        let root = Hash::from_hex(head["state_root"].as_str().unwrap()).unwrap();
        let stash = {
            let c = core.lock().await;
            crust_runtime::staking::committee(&c.view(), 0)
                .unwrap()
                .unwrap()[0]
                .stash
        };
        let alice = crust_primitives::Keypair::from_suri("//Alice")
            .unwrap()
            .public();
        let cid: crust_primitives::Cid = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"
            .parse()
            .unwrap();

        // state_account: the balance and nonce, proven.
        let a = call(
            "state_account",
            json!({"account": alice.to_ss58(), "prove": true}),
        )
        .await;
        let proven = ProvenState::verify(&root, &entries(&a["proof"])).unwrap();
        let info = proven
            .run(|s| crust_runtime::balances::account(s, &alice).unwrap_or_default())
            .unwrap();
        assert_eq!(a["free"], json!(info.free.to_string()));
        assert_eq!(a["proof"]["state_root"], head["state_root"]);

        // A file nobody ordered: proven absent.
        let f = call(
            "market_file",
            json!({"cid": cid.to_string(), "prove": true}),
        )
        .await;
        assert!(f["file"].is_null());
        let proven = ProvenState::verify(&root, &entries(&f["proof"])).unwrap();
        let file = proven
            .run(|s| crust_runtime::market::file(s, &cid).unwrap())
            .unwrap();
        assert!(file.is_none());

        // A stake limit computed from several records: every one of them is proven.
        let l = call(
            "staking_stakeLimit",
            json!({"stash": stash.to_ss58(), "prove": true}),
        )
        .await;
        let e = entries(&l["proof"]);
        assert!(
            e.len() > 1,
            "a computed value reads several keys: {}",
            e.len()
        );
        let proven = ProvenState::verify(&root, &e).unwrap();
        let limit = proven
            .run(|s| crust_runtime::staking::stake_limit(s, &stash).unwrap())
            .unwrap();
        assert_eq!(l["stake_limit"]["stake_limit"], json!(limit.to_string()));
        // Without one of those records the client cannot recompute it.
        let short = ProvenState::verify(&root, &e[1..]).unwrap();
        assert_eq!(
            short
                .run(|s| crust_runtime::staking::stake_limit(s, &stash).map(|_| ()))
                .unwrap_err(),
            ProofError::Incomplete
        );

        // The committee and the prices.
        let c = call("staking_committee", json!({"era": 0, "prove": true})).await;
        assert_eq!(c["committee"]["members"].as_array().unwrap().len(), 4);
        let proven = ProvenState::verify(&root, &entries(&c["proof"])).unwrap();
        let members = proven
            .run(|s| crust_runtime::staking::committee(s, 0).unwrap().unwrap())
            .unwrap();
        assert_eq!(members.len(), 4);
        let p = call("market_prices", json!({"prove": true})).await;
        let proven = ProvenState::verify(&root, &entries(&p["proof"])).unwrap();
        let prices = proven
            .run(|s| crust_runtime::market::params(s).unwrap())
            .unwrap();
        assert_eq!(p["prices"], json!(prices));

        // A tampered value, or a proof checked against another root, is refused.
        let mut forged = entries(&a["proof"]);
        if let Some(v) = forged[0].value.as_mut() {
            v[0] ^= 1;
        }
        assert!(matches!(
            ProvenState::verify(&root, &forged),
            Err(ProofError::Invalid(_))
        ));
        assert!(ProvenState::verify(&Hash([7; 32]), &entries(&a["proof"])).is_err());
        // Without `prove`, the same answers and no proof.
        let plain = call("market_prices", json!({})).await;
        assert_eq!(plain["prices"], p["prices"]);
        assert!(plain.get("proof").is_none());
        let bad = dispatch(&core, "swork_workReport", &json!({"anchor": "0x12"}), &id).await;
        assert_eq!(bad["error"]["code"], json!(-32602));
    });
}

/// The client of `crust-client` talking to this server through the contract's own framing
/// (request text in, reply text out): every typed method decodes what the server answers,
/// a transaction priced by the client with the runtime's fee function is applied, and the
/// block the client reads back is checked against its header.
#[test]
fn the_contract_client_decodes_every_answer_of_the_server() {
    use crust_client::{Client, Outcome, Transport, api};
    use crust_runtime::Call;
    use crust_runtime::balances::BalancesCall;

    struct InProcess<S: commonware_storage::Context + commonware_runtime::Spawner>(SharedCore<S>);
    impl<S: commonware_storage::Context + commonware_runtime::Spawner> Transport for InProcess<S> {
        async fn post(&self, body: String) -> Result<String, String> {
            let (id, method, params) =
                wire::parse_request(body.as_bytes()).map_err(|e| e.to_string())?;
            Ok(dispatch(&self.0, &method, &params, &id).await.to_string())
        }
        async fn sleep(&self, _: std::time::Duration) {}
    }

    deterministic::Runner::default().start(|ctx| async move {
        let spec = crate::spec::ChainSpec::builtin("local").unwrap();
        let (core, genesis) = crate::service::open_chain(ctx.child("store"), &spec, "client")
            .await
            .unwrap();
        let client = Client::new(InProcess(core.clone()));
        let alice = crust_primitives::Keypair::from_suri("//Alice").unwrap();
        let bob = crust_primitives::Keypair::from_suri("//Bob")
            .unwrap()
            .public();

        let head = client.head().await.unwrap();
        assert_eq!(head.height, 0);
        assert_eq!(
            client.genesis_hash().await.unwrap(),
            core.lock().await.genesis_hash
        );
        let before = client.account(&bob).await.unwrap();

        // Priced and signed by the client, queued by the server, applied by a block.
        let (nonce, hashes) = client
            .submit_calls(
                &alice,
                vec![Call::Balances(BalancesCall::Transfer {
                    dest: bob,
                    amount: crust_primitives::CRU,
                })],
                None,
            )
            .await
            .unwrap();
        assert_eq!(nonce, 0);
        let pending = client
            .request::<api::AuthorTxStatus>(api::TxHashParams {
                hash: hashes[0],
                prove: false,
            })
            .await
            .unwrap();
        assert_eq!(pending, api::TxStatus::Pending);
        assert_eq!(client.account(&alice.public()).await.unwrap().next_nonce, 1);
        {
            let mut c = core.lock().await;
            let block = c
                .propose(
                    &genesis.header,
                    genesis.header.timestamp_ms + 250,
                    alice.public(),
                )
                .await
                .unwrap();
            c.finalize(&block).await.unwrap();
        }
        let outcome = client
            .outcome(&hashes[0], std::time::Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::Succeeded(1));
        let after = client.account(&bob).await.unwrap();
        assert_eq!(after.free, before.free + crust_primitives::CRU);
        let memory = client
            .request::<api::SystemMemory>(api::NoParams {})
            .await
            .unwrap();
        assert_eq!((memory.mempool_txs, memory.mempool_bytes), (0, 0));
        assert!(memory.mempool_max_bytes > 0 && memory.recent_block_max_bytes > 0);
        assert_eq!(memory.recent_blocks, 1, "block 1 is kept in memory");
        assert!(memory.recent_block_bytes > 0);
        assert_eq!(memory.indexed_txs, 1);
        assert!(memory.indexed_txs_max >= 1024);
        let block = client.block(1).await.unwrap();
        assert_eq!(block.header.parent, genesis.hash());
        assert_eq!(block.txs.len(), 1);
        assert!(block.txs[0].1, "its receipt says it succeeded");
        assert_eq!(client.block_tx_hashes(1).await.unwrap(), hashes);

        // Proven answers check out under the head's state root.
        let head = client.head().await.unwrap();
        let committee = client
            .request::<api::StakingCommittee>(api::EraParams {
                era: Some(0),
                prove: true,
            })
            .await
            .unwrap();
        let members = committee.committee.members.unwrap();
        assert_eq!(members.len(), 4);
        let proof = committee.proof.unwrap();
        assert_eq!(proof.state_root, head.state_root);
        let proven = proof.verify(&head.state_root).unwrap();
        let stakes = proven
            .run(|s| crust_runtime::staking::committee(s, 0).unwrap().unwrap())
            .unwrap();
        assert_eq!(
            stakes.iter().map(api::Member::from).collect::<Vec<_>>(),
            members
        );
        let prices = client
            .request::<api::MarketPrices>(api::Prove { prove: false })
            .await
            .unwrap();
        assert!(prices.proof.is_none());
        let limit = client
            .request::<api::StakingStakeLimit>(api::StashParams {
                stash: members[0].stash,
                prove: false,
            })
            .await
            .unwrap();
        assert_eq!(limit.height, 1);
        let view = client
            .request::<api::StakingValidators>(api::NoParams {})
            .await
            .unwrap();
        assert_eq!(view.candidates.len(), 4);
        let config: Option<crust_runtime::system::RuntimeConfig> = client
            .read(&crust_runtime::system::config_key())
            .await
            .unwrap();
        assert!(config.is_some());

        // Listings and absent records.
        let files = client
            .request::<api::MarketFiles>(api::FilesParams::default())
            .await
            .unwrap();
        assert!(files.files.is_empty() && files.next.is_none());
        let peers = client
            .request::<api::SworkPeers>(api::PeersParams::default())
            .await
            .unwrap();
        assert!(peers.peers.is_empty());
        let cid: crust_primitives::Cid = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"
            .parse()
            .unwrap();
        let file = client
            .request::<api::MarketFile>(api::FileParams { cid, prove: true })
            .await
            .unwrap();
        assert!(file.file.is_none() && file.proof.is_some());
        let alice = crust_primitives::Keypair::from_suri("//Alice")
            .unwrap()
            .public();
        let worker = client
            .request::<api::SworkWorker>(api::WhoParams {
                account: alice,
                prove: true,
            })
            .await
            .unwrap();
        assert!(worker.worker.is_none() && worker.proof.is_some());
        let overview = client
            .request::<api::StateOverview>(api::AccountParams {
                account: alice,
                prove: true,
            })
            .await
            .unwrap();
        assert!(overview.proof.is_some());
        assert_eq!(overview.overview.replica_rewards, 0);
        let handoffs = client
            .request::<api::StakingHandoffs>(api::HandoffsParams {
                from: 0,
                limit: Some(1),
            })
            .await
            .unwrap();
        assert_eq!(
            handoffs.len(),
            1,
            "era 0's committee is recorded at genesis"
        );
        assert_eq!(handoffs[0].era, 0);
        assert!(handoffs[0].finality.is_none() && handoffs[0].headers[0].height == 0);

        // A refused transaction and a bad parameter come back as typed errors.
        let refused = client
            .request::<api::AuthorSubmit>(api::SubmitParams {
                tx: api::HexBytes(vec![1, 2, 3]),
            })
            .await
            .unwrap_err();
        assert!(matches!(
            refused,
            crust_client::ClientError::Rpc { error, .. } if error.code == code::REFUSED
        ));
        let missing = client.block(9).await.unwrap_err();
        assert!(matches!(
            missing,
            crust_client::ClientError::Rpc { error, .. } if error.code == code::NOT_FOUND
        ));
    });
}

/// Every finalized block is kept on disk: with a recent-block cache of one block,
/// `chain_block` still answers for old heights (with receipts), `author_txStatus` finds a
/// transaction whose block left memory, and both survive a restart.
#[test]
fn old_blocks_are_read_from_disk_when_memory_keeps_only_the_newest() {
    use crate::tx::{Mortality, UnsignedTransaction};
    use crust_runtime::Call;
    use crust_runtime::balances::BalancesCall;
    deterministic::Runner::default().start(|ctx| async move {
        let spec = crate::spec::ChainSpec::builtin("local").unwrap();
        let memory = crate::memory::NodeMemory {
            history: crate::history::HistoryConfig {
                cache_bytes: 1,
                indexed_txs: 1024,
            },
            ..crate::memory::NodeMemory::default()
        };
        let (core, genesis) =
            crate::service::open_chain_with(ctx.child("a"), &spec, "hist", &memory)
                .await
                .unwrap();
        let alice = crust_primitives::Keypair::from_suri("//Alice").unwrap();
        let bob = crust_primitives::Keypair::from_suri("//Bob")
            .unwrap()
            .public();
        let id = json!(1);
        let mut parent = genesis.header.clone();
        let mut tx_hash = None;
        for height in 1..=5u64 {
            let mut c = core.lock().await;
            if height == 1 {
                let tx = UnsignedTransaction {
                    signer: alice.public(),
                    nonce: 0,
                    fee: crust_primitives::CRU / 1000,
                    tip: 0,
                    mortality: Mortality::from(0, 4096),
                    call: Call::Balances(BalancesCall::Transfer {
                        dest: bob,
                        amount: crust_primitives::CRU,
                    }),
                }
                .sign(&alice, &c.genesis_hash);
                tx_hash = Some(tx.hash());
                let core = &mut *c;
                let view =
                    crate::layer::Layer::new(core.store.committed(), crate::layer::Diff::new());
                core.mempool.submit(tx, &view, 0).unwrap();
            }
            let block = c
                .propose(&parent, parent.timestamp_ms + 250, alice.public())
                .await
                .unwrap();
            c.finalize(&block).await.unwrap();
            parent = block.header.clone();
        }
        let tx_hash = tx_hash.unwrap().to_hex();
        assert!(
            core.lock().await.finalized(1).is_none(),
            "block 1 still in memory"
        );
        let check = async |core: &SharedCore<_>| {
            let b = dispatch(core, "chain_block", &json!({"height": 1}), &id).await;
            let b = &b["result"];
            assert_eq!(b["height"], 1);
            assert_eq!(b["transactions"][0], tx_hash.as_str());
            assert_eq!(b["receipts"][0]["success"], true);
            let s = dispatch(core, "author_txStatus", &json!({"hash": tx_hash}), &id).await;
            assert_eq!(s["result"]["status"], "finalized", "{s}");
            assert_eq!(s["result"]["height"], 1);
            let missing = dispatch(core, "chain_block", &json!({"height": 6}), &id).await;
            assert!(missing.get("error").is_some());
        };
        check(&core).await;
        // After a restart: blocks come from disk; the transaction index starts empty, so
        // the status of an old transaction is unknown (documented).
        drop(core);
        let (core, _) = crate::service::open_chain_with(ctx.child("b"), &spec, "hist", &memory)
            .await
            .unwrap();
        let b = dispatch(&core, "chain_block", &json!({"height": 3}), &id).await;
        assert_eq!(b["result"]["height"], 3, "{b}");
    });
}

/// Receipts are committed to in the header: a node that shows a failed call as a successful
/// one, or hides receipts, is caught by the client's block check.
#[test]
fn a_node_that_alters_receipts_is_caught_by_the_receipts_root() {
    use crust_client::{Client, Transport};
    use crust_runtime::Call;
    use crust_runtime::balances::BalancesCall;

    /// Serves `chain_block` through `tamper`, everything else as the node answers.
    struct Lying<S: commonware_storage::Context + commonware_runtime::Spawner> {
        core: SharedCore<S>,
        tamper: fn(&mut Value),
    }
    impl<S: commonware_storage::Context + commonware_runtime::Spawner> Transport for Lying<S> {
        async fn post(&self, body: String) -> Result<String, String> {
            let (id, method, params) =
                wire::parse_request(body.as_bytes()).map_err(|e| e.to_string())?;
            let mut answer = dispatch(&self.core, &method, &params, &id).await;
            if method == "chain_block" {
                (self.tamper)(&mut answer["result"]);
            }
            Ok(answer.to_string())
        }
        async fn sleep(&self, _: std::time::Duration) {}
    }

    deterministic::Runner::default().start(|ctx| async move {
        let spec = crate::spec::ChainSpec::builtin("local").unwrap();
        let (core, genesis) = crate::service::open_chain(ctx.child("store"), &spec, "lying")
            .await
            .unwrap();
        let alice = crust_primitives::Keypair::from_suri("//Alice").unwrap();
        let honest = Client::new(Lying {
            core: core.clone(),
            tamper: |_| {},
        });
        // One transfer that fails (more than Alice has) and pays its fee all the same.
        let (_, hashes) = honest
            .submit_calls(
                &alice,
                vec![Call::Balances(BalancesCall::Transfer {
                    dest: crust_primitives::Keypair::from_suri("//Bob")
                        .unwrap()
                        .public(),
                    amount: u128::MAX / 2,
                })],
                None,
            )
            .await
            .unwrap();
        {
            let mut c = core.lock().await;
            let block = c
                .propose(
                    &genesis.header,
                    genesis.header.timestamp_ms + 250,
                    alice.public(),
                )
                .await
                .unwrap();
            assert_ne!(
                block.header.receipts_root,
                crust_light::hash::merkle_root(&[])
            );
            c.finalize(&block).await.unwrap();
        }
        let block = honest.block(1).await.unwrap();
        assert_eq!(block.txs.len(), 1);
        assert!(!block.txs[0].1, "the honest node shows the call failed");
        assert_eq!(block.txs[0].0.hash(), hashes[0]);

        let flipped = Client::new(Lying {
            core: core.clone(),
            tamper: |b| {
                b["receipts"][0]["success"] = Value::Bool(true);
                b["receipts"][0]["error"] = Value::Null;
            },
        });
        let err = flipped.block(1).await.unwrap_err().to_string();
        assert!(err.contains("receipts do not match the header"), "{err}");
        let hidden = Client::new(Lying {
            core: core.clone(),
            tamper: |b| b["receipts"] = Value::Array(Vec::new()),
        });
        let err = hidden.block(1).await.unwrap_err().to_string();
        assert!(err.contains("receipts do not match the header"), "{err}");
        // A header with another receipts root no longer hashes to the block's hash.
        let forged = Client::new(Lying {
            core,
            tamper: |b| b["receipts_root"] = Value::String(format!("0x{}", "00".repeat(32))),
        });
        let err = forged.block(1).await.unwrap_err().to_string();
        assert!(err.contains("does not hash to"), "{err}");
    });
}
