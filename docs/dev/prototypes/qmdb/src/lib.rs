//! Prototype: QMDB `current::ordered::variable` as the authenticated state store of a chain whose
//! runtime state is a flat ordered `Vec<u8> -> Vec<u8>` map. Runtime-generic: every function here
//! runs unchanged on `commonware_runtime::deterministic` and `commonware_runtime::tokio`.

use commonware_codec::{Decode as _, Encode as _, EncodeSize as _, RangeCfg};
use commonware_cryptography::{Sha256, sha256::Digest};
use commonware_parallel::Sequential;
use commonware_runtime::{Spawner, buffer::paged::CacheRef};
use commonware_storage::{
    Context,
    journal::contiguous::variable::Config as JournalConfig,
    merkle::full::Config as MerkleConfig,
    mmr,
    qmdb::{
        Error as QmdbError,
        any::{ordered::Update, value::VariableEncoding},
        current::{
            VariableConfig,
            batch::MerkleizedBatch,
            ordered::{
                proof::constant::{ExclusionProof, KeyValueProof},
                variable::Db,
            },
        },
        floor::Proportional,
    },
    translator::EightCap,
};
use commonware_utils::{NZU64, NZUsize};
use futures::{StreamExt as _, pin_mut};
use std::{
    ops::Bound,
    sync::Arc,
    time::{Duration, Instant},
};

pub mod translator16;

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/// Merkle family: classic MMR (the alternative is `mmb::Family`, Merkle Mountain Belt).
pub type F = mmr::Family;
/// Bitmap chunk size in bytes (must be a power of two and a multiple of the 32-byte digest).
pub const CHUNK: usize = 32;
/// Maximum key length accepted by the codec (keys are arbitrary byte strings).
pub const MAX_KEY_LEN: usize = 256;
/// Maximum value length accepted by the codec.
pub const MAX_VALUE_LEN: usize = 1 << 20;

pub type Key = Vec<u8>;
pub type Value = Vec<u8>;

/// The state database, generic over the runtime context `E` and the ordered translator `T`.
pub type StateDbT<E, T> = Db<F, E, Key, Value, Sha256, T, CHUNK, Sequential>;
/// The state database with the stock `EightCap` translator (index keyed by the first 8 bytes).
pub type StateDb<E> = StateDbT<E, EightCap>;

/// Codec config of one log operation: (key cfg, value cfg); `Vec<u8>`'s cfg is (length range, ()).
pub type OpCodecCfg = ((RangeCfg<usize>, ()), (RangeCfg<usize>, ()));
pub type StateConfig<T> = VariableConfig<T, OpCodecCfg, Sequential>;

/// The update payload type of this DB (key, value, next_key).
pub type StateUpdate = Update<Key, VariableEncoding<Value>>;
/// A merkleized speculative batch (== the post-state of one executed block).
pub type Block = Arc<MerkleizedBatch<F, Digest, StateUpdate, CHUNK, Sequential>>;
/// Proof that `key` currently has `value` under a root.
pub type ValueProof = KeyValueProof<F, Key, Digest, CHUNK>;
/// Proof that `key` currently has no value under a root.
pub type AbsenceProof = ExclusionProof<F, Key, VariableEncoding<Value>, Digest, CHUNK>;

pub fn op_codec_cfg() -> OpCodecCfg {
    (
        ((0..=MAX_KEY_LEN).into(), ()),
        ((0..=MAX_VALUE_LEN).into(), ()),
    )
}

/// Build a config. All partitions are derived from `prefix` (partition names: `[A-Za-z0-9_-]`).
pub fn state_config<T: commonware_storage::translator::Translator + Default>(prefix: &str) -> StateConfig<T> {
    // One page cache shared by the Merkle journal and the op log. Logical page 4096-12 so the
    // physical page (+CRC record) is 4 KiB-aligned; 4096 pages ≈ 16 MiB.
    let page_cache = CacheRef::new(
        commonware_runtime::buffer::paged::page_size(commonware_runtime::BLOB_PAGE_SIZE),
        NZUsize!(4096),
    );
    VariableConfig {
        merkle_config: MerkleConfig {
            journal_partition: format!("{prefix}-mmr-journal"),
            metadata_partition: format!("{prefix}-mmr-metadata"),
            items_per_blob: NZU64!(1 << 16),
            write_buffer: NZUsize!(1 << 20),
            replay_buffer: NZUsize!(1 << 20),
            strategy: Sequential,
            page_cache: page_cache.clone(),
        },
        journal_config: JournalConfig {
            partition: format!("{prefix}-log"),
            items_per_section: NZU64!(1 << 14),
            compression: None,
            codec_config: op_codec_cfg(),
            page_cache,
            write_buffer: NZUsize!(1 << 20),
            replay_buffer: NZUsize!(1 << 20),
        },
        grafted_metadata_partition: format!("{prefix}-grafted-metadata"),
        translator: T::default(),
        init_cache: Some(NZUsize!(1 << 16)),
        init_buffer: NZUsize!(1 << 20),
        init_concurrency: (),
    }
}

/// Open (or create, or recover) the state DB.
pub async fn open<E: Context + Spawner>(ctx: E, prefix: &str) -> StateDb<E> {
    StateDb::init(ctx, state_config::<EightCap>(prefix), None)
        .await
        .expect("init state db")
}

// ---------------------------------------------------------------------------------------------
// Data generation
// ---------------------------------------------------------------------------------------------

/// Deterministic variable-length test keys (8..~200 bytes) in a few "namespaces".
pub fn key(i: u64) -> Key {
    match i % 4 {
        0 => format!("acct/{i:010}").into_bytes(),
        1 => format!("code/{i:010}/{}", "c".repeat((i % 150) as usize)).into_bytes(),
        2 => format!("stor/{:04}/{i:010}", i % 97).into_bytes(),
        _ => {
            // binary key with a hashed head (high entropy in the first 8 bytes)
            let h = <Sha256 as commonware_cryptography::Hasher>::hash(&[&i.to_be_bytes()]);
            let mut k = vec![0xEE];
            k.extend_from_slice(&h[..]);
            k
        }
    }
}

/// Deterministic variable-length values (0..=300 bytes).
pub fn value(i: u64, version: u64) -> Value {
    let len = ((i * 7 + version * 13) % 301) as usize;
    let mut v = format!("v{version}:{i}:").into_bytes();
    v.resize(len.max(v.len()), b'x');
    v
}

// ---------------------------------------------------------------------------------------------
// Block execution helpers
// ---------------------------------------------------------------------------------------------

/// The codec limits in the config are only enforced on READ: an oversized key/value is accepted
/// by `write`/`merkleize`/`apply_batch`/`commit` and then makes the log undecodable (DB bricked).
/// Always validate before `write`.
pub fn validate_write(k: &[u8], v: Option<&[u8]>) -> Result<(), &'static str> {
    if k.len() > MAX_KEY_LEN {
        return Err("key too long");
    }
    if v.is_some_and(|v| v.len() > MAX_VALUE_LEN) {
        return Err("value too long");
    }
    Ok(())
}

/// Execute a "block" on top of `parent` (None = committed DB state): apply `writes` in order and
/// merkleize. `metadata` is stored in the batch's CommitFloor op (we put the block height there).
pub async fn execute<E: Context + Spawner>(
    db: &StateDb<E>,
    parent: Option<&Block>,
    writes: impl IntoIterator<Item = (Key, Option<Value>)>,
    metadata: Option<Value>,
) -> Result<Block, QmdbError<F>> {
    let mut batch = match parent {
        None => db.new_batch(),
        Some(p) => p.new_batch::<Sha256>(),
    };
    for (k, v) in writes {
        validate_write(&k, v.as_deref()).expect("oversized key/value");
        batch = batch.write(k, v);
    }
    batch.merkleize(db, metadata, &mut Proportional).await
}

/// Collect up to `limit` (key, value) pairs with key >= `start` from the committed DB.
pub async fn scan_db<E: Context + Spawner>(
    db: &StateDb<E>,
    start: Bound<Key>,
    prefix: &[u8],
    limit: usize,
) -> Vec<(Key, Value)> {
    let stream = db.stream_range((start, Bound::Unbounded));
    pin_mut!(stream);
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        let (k, v) = item.expect("scan");
        if !k.starts_with(prefix) || out.len() == limit {
            break;
        }
        out.push((k, v));
    }
    out
}

/// Same scan through a speculative batch (sees the batch's and its ancestors' writes). There is no
/// `stream_range` on batches, so walk with `get_next_key` + `get`.
pub async fn scan_batch<E: Context + Spawner>(
    db: &StateDb<E>,
    batch: &Block,
    after: &[u8],
    prefix: &[u8],
    limit: usize,
) -> Vec<(Key, Value)> {
    let mut out = Vec::new();
    let mut cursor = after.to_vec();
    while out.len() < limit {
        let Some(next) = batch.get_next_key(&cursor, db).await.expect("next") else {
            break;
        };
        if !next.starts_with(prefix) {
            break;
        }
        let v = batch.get(&next, db).await.expect("get").expect("active key");
        out.push((next.clone(), v));
        cursor = next;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The end-to-end demo (steps 1, 2, 3, 5; step 4 is driven by the caller per runtime)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoReport {
    pub genesis_root: Digest,
    pub block1_root: Digest,
    pub fork_a_root: Digest,
    pub fork_b_root: Digest,
    pub child_root: Digest,
    pub final_root: Digest,
    pub kv_proof_bytes: usize,
    pub exclusion_proof_bytes: usize,
    pub ops: u64,
}

fn short(d: &Digest) -> String {
    d.to_string()[..16].to_string()
}

pub async fn demo<E: Context + Spawner>(ctx: E, prefix: &str, log: bool) -> (StateDb<E>, DemoReport) {
    macro_rules! say { ($($t:tt)*) => { if log { println!($($t)*); } } }

    // ---- 1. init, 1000 puts, merkleize, root, apply+commit; then a block with updates+deletes
    let db = open(ctx, prefix).await;
    let empty_root = db.root();
    say!("[1] opened; empty root {}", short(&empty_root));

    let b0 = execute(&db, None, (0..1000).map(|i| (key(i), Some(value(i, 0)))), Some(b"h0".to_vec()))
        .await
        .unwrap();
    let genesis_root = b0.root();
    say!("[1] genesis batch (1000 puts) speculative root {}", short(&genesis_root));
    let db = db.apply_batch(b0).await.unwrap().commit().await.unwrap();
    assert_eq!(db.root(), genesis_root, "applied root == speculative root");

    // block 1: 200 updates, 100 deletes, 50 new keys
    let writes = (0..200)
        .map(|i| (key(i), Some(value(i, 1))))
        .chain((900..1000).map(|i| (key(i), None)))
        .chain((1000..1050).map(|i| (key(i), Some(value(i, 1)))));
    let b1 = execute(&db, None, writes, Some(b"h1".to_vec())).await.unwrap();
    let block1_root = b1.root();
    let db = db.apply_batch(b1).await.unwrap().commit().await.unwrap();
    assert_eq!(db.root(), block1_root);
    assert_eq!(db.get(&key(5)).await.unwrap(), Some(value(5, 1)));
    assert_eq!(db.get(&key(950)).await.unwrap(), None);
    assert_eq!(db.get_metadata().await.unwrap(), Some(b"h1".to_vec()));
    say!("[1] block1 (200 upd/100 del/50 new) committed, root {} ops={}", short(&block1_root), *db.bounds().end);

    // ---- 2a. reads during execution (unmerkleized batch): own pending writes -> ancestors -> DB
    let pending = db.new_batch().write(key(7), Some(b"pending".to_vec())).write(key(8), None);
    assert_eq!(pending.get(&key(7), &db).await.unwrap(), Some(b"pending".to_vec()));
    assert_eq!(pending.get(&key(8), &db).await.unwrap(), None);
    assert_eq!(pending.get(&key(9), &db).await.unwrap(), Some(value(9, 1)));
    drop(pending); // abandoning a batch is free: nothing touched the DB

    // ---- 2. speculative forks: two competing blocks at height 2 on the committed state
    let fork_a = execute(&db, None, [(key(1), Some(b"A".to_vec())), (key(2), None), (b"zz/a".to_vec(), Some(b"onlyA".to_vec()))], Some(b"h2a".to_vec()))
        .await
        .unwrap();
    let fork_b = execute(&db, None, [(key(1), Some(b"B".to_vec())), (b"zz/b".to_vec(), Some(b"onlyB".to_vec()))], Some(b"h2b".to_vec()))
        .await
        .unwrap();
    assert_ne!(fork_a.root(), fork_b.root());
    // reads layer each batch's writes over committed state
    assert_eq!(fork_a.get(&key(1), &db).await.unwrap(), Some(b"A".to_vec()));
    assert_eq!(fork_b.get(&key(1), &db).await.unwrap(), Some(b"B".to_vec()));
    assert_eq!(fork_a.get(&key(2), &db).await.unwrap(), None);
    assert_eq!(fork_b.get(&key(2), &db).await.unwrap(), Some(value(2, 1)));
    assert_eq!(fork_a.get(&key(300), &db).await.unwrap(), Some(value(300, 0))); // untouched -> DB
    assert_eq!(fork_b.get(&b"zz/a".to_vec(), &db).await.unwrap(), None);
    assert_eq!(db.get(&key(1)).await.unwrap(), Some(value(1, 1))); // committed state unchanged
    say!("[2] fork A root {} | fork B root {}", short(&fork_a.root()), short(&fork_b.root()));

    // chaining: block 3 built on (still unapplied) fork A
    let child = execute(&db, Some(&fork_a), [(key(1), Some(b"A+1".to_vec())), (key(3), None)], Some(b"h3".to_vec()))
        .await
        .unwrap();
    assert_eq!(child.get(&key(1), &db).await.unwrap(), Some(b"A+1".to_vec()));
    assert_eq!(child.get(&key(2), &db).await.unwrap(), None); // parent's delete visible
    assert_eq!(child.get(&b"zz/a".to_vec(), &db).await.unwrap(), Some(b"onlyA".to_vec()));
    // iteration through a speculative batch sees its writes and ancestors' writes
    let zz = scan_batch(&db, &child, b"zz/", b"zz/", 10).await;
    assert_eq!(zz, vec![(b"zz/a".to_vec(), b"onlyA".to_vec())]);
    let child_root = child.root();
    say!("[2] child of A (height 3) root {}", short(&child_root));

    // finalize A: apply only fork A; B becomes stale
    let fork_a_root = fork_a.root();
    let fork_b_root = fork_b.root();
    let db = db.apply_batch(fork_a).await.unwrap();
    assert_eq!(db.root(), fork_a_root);
    assert!(matches!(db.validate_batch(&fork_b), Err(QmdbError::StaleBatch)));
    assert!(matches!(fork_b.get(&key(1), &db).await, Err(QmdbError::StaleRead)));
    say!("[2] applied A; B: validate_batch=StaleBatch, get=StaleRead");
    // child (built on A) is still valid and can be applied next
    assert_eq!(child.get(&key(1), &db).await.unwrap(), Some(b"A+1".to_vec()));
    let db = db.apply_batch(child).await.unwrap().commit().await.unwrap();
    assert_eq!(db.root(), child_root);
    assert_eq!(db.get_metadata().await.unwrap(), Some(b"h3".to_vec()));
    say!("[2] applied child; committed root {} (== child's speculative root)", short(&db.root()));

    // ---- 3. proofs
    let root = db.root();
    let k = key(10);
    let v = db.get(&k).await.unwrap().unwrap();
    let proof: ValueProof = db.key_value_proof(k.clone()).await.unwrap();
    assert!(proof.verify::<Sha256, VariableEncoding<Value>>(k.clone(), v.clone(), &root));
    assert!(!proof.verify::<Sha256, VariableEncoding<Value>>(k.clone(), b"wrong".to_vec(), &root));
    assert!(!proof.verify::<Sha256, VariableEncoding<Value>>(key(11), v.clone(), &root));
    // wire round-trip, as a light client would receive it: cfg = (max digests, key cfg)
    let bytes = proof.encode();
    let kv_proof_bytes = bytes.len();
    assert_eq!(kv_proof_bytes, proof.encode_size());
    let decoded = ValueProof::decode_cfg(bytes, &(64, ((0..=MAX_KEY_LEN).into(), ()))).unwrap();
    assert!(decoded.verify::<Sha256, VariableEncoding<Value>>(k.clone(), v.clone(), &root));
    say!("[3] key_value_proof: {kv_proof_bytes} bytes, verifies; wrong value/key rejected");

    let absent = b"acct/0000000001x".to_vec(); // sorts between key(0)/key(4)-style keys, absent
    assert!(db.get(&absent).await.unwrap().is_none());
    let ex: AbsenceProof = db.exclusion_proof(&absent).await.unwrap();
    assert!(ex.verify::<Sha256>(&absent, &root));
    assert!(!ex.verify::<Sha256>(&key(10), &root)); // cannot prove an existing key absent
    let exclusion_proof_bytes = ex.encode_size();
    assert!(matches!(db.exclusion_proof(&key(10)).await, Err(QmdbError::KeyExists)));
    // a deleted key is provably absent too
    let ex2 = db.exclusion_proof(&key(950)).await.unwrap();
    assert!(ex2.verify::<Sha256>(&key(950), &root));
    say!("[3] exclusion_proof: {exclusion_proof_bytes} bytes, verifies; existing key rejected");

    // ---- 5. ordered iteration: "scan prefix after cursor, limit N"
    let page1 = scan_db(&db, Bound::Included(b"acct/".to_vec()), b"acct/", 5).await;
    let cursor = page1.last().unwrap().0.clone();
    let page2 = scan_db(&db, Bound::Excluded(cursor.clone()), b"acct/", 5).await;
    assert_eq!(page1.len(), 5);
    assert!(page2.first().unwrap().0 > cursor);
    let mut all = page1.clone();
    all.extend(page2.clone());
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    // same via a batch view
    let view = db.to_batch();
    let page2b = scan_batch(&db, &view, &cursor, b"acct/", 5).await;
    assert_eq!(page2, page2b);
    say!(
        "[5] acct/ page1 {:?}.. page2 starts {:?}",
        String::from_utf8_lossy(&page1[0].0),
        String::from_utf8_lossy(&page2[0].0)
    );

    // ---- housekeeping: prune history below the sync boundary. Root and current-value proofs are
    // unaffected; only old (inactive) operations become unprovable / unreadable.
    let before = db.bounds();
    let boundary = db.sync_boundary();
    let root_before = db.root();
    let db = db.prune(boundary).await.unwrap();
    assert_eq!(db.root(), root_before);
    say!("[4] pruned log to {:?} (boundary {}), root unchanged", db.bounds(), *boundary);
    let _ = before;

    let report = DemoReport {
        genesis_root,
        block1_root,
        fork_a_root,
        fork_b_root,
        child_root,
        final_root: db.root(),
        kv_proof_bytes,
        exclusion_proof_bytes,
        ops: *db.bounds().end,
    };
    (db, report)
}

/// Step 4 check after a reopen: root identical and values readable.
pub async fn check_reopened<E: Context + Spawner>(db: &StateDb<E>, expected_root: Digest) {
    assert_eq!(db.root(), expected_root, "root after reopen");
    assert_eq!(db.get(&key(1)).await.unwrap(), Some(b"A+1".to_vec()));
    assert_eq!(db.get(&key(2)).await.unwrap(), None);
    assert_eq!(db.get(&key(500)).await.unwrap(), Some(value(500, 0)));
    assert_eq!(db.get(&b"zz/a".to_vec()).await.unwrap(), Some(b"onlyA".to_vec()));
    assert_eq!(db.get(&b"zz/b".to_vec()).await.unwrap(), None);
    assert_eq!(db.get_metadata().await.unwrap(), Some(b"h3".to_vec()));
    let root = db.root();
    let p = db.key_value_proof(key(10)).await.unwrap();
    let v = db.get(&key(10)).await.unwrap().unwrap();
    assert!(p.verify::<Sha256, VariableEncoding<Value>>(key(10), v, &root));
}

// ---------------------------------------------------------------------------------------------
// Performance
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Clone)]
pub struct Perf {
    pub label: String,
    pub keys: u64,
    pub batch: u64,
    pub insert_ups: f64,
    pub update_ups: f64,
    pub merkleize_ms: f64,
    pub apply_commit_ms: f64,
    pub empty_block_ms: f64,
    pub proof_gen_us: f64,
    pub proof_verify_us: f64,
    pub proof_bytes: usize,
    pub excl_gen_us: f64,
    pub get_us: f64,
    pub scan_100_us: f64,
    pub reopen_ms: f64,
    pub ops_in_log: u64,
    pub get_many_200_us: f64,
    pub warm_get_us: f64,
    pub prune_ms: f64,
    pub ops_retained_after_prune: u64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Key shapes for the benchmark.
#[derive(Clone, Copy, Debug)]
pub enum KeyShape {
    /// 33-byte keys whose first 8 bytes are high-entropy (hash-headed).
    Hashed,
    /// `"balance/" + 8-byte id + 24-byte suffix`: the first 8 bytes are identical for every key, so
    /// every key lands in the same translated-key bucket with an 8-byte translator.
    SharedPrefix,
}

pub fn bench_key(shape: KeyShape, i: u64) -> Key {
    match shape {
        KeyShape::Hashed => key(i * 4 + 3),
        KeyShape::SharedPrefix => {
            let mut k = b"balance/".to_vec();
            k.extend_from_slice(&i.to_be_bytes());
            k.extend_from_slice(&[0x42; 24]);
            k
        }
    }
}

/// Bench: fill `total` keys in batches of `batch` (merkleize+apply+commit each), then overwrite
/// `batch` existing keys in several batches, then measure proofs/reads/scans.
pub async fn bench<E: Context + Spawner, T: commonware_storage::translator::OrderedTranslator + Default>(
    ctx: E,
    prefix: &str,
    label: &str,
    shape: KeyShape,
    total: u64,
    batch: u64,
    keep: bool,
) -> Perf {
    let mut db = StateDbT::<E, T>::init(ctx.child("db"), state_config::<T>(prefix), None).await.unwrap();
    let mut perf = Perf { label: label.into(), keys: total, batch, ..Default::default() };

    // inserts
    let t = Instant::now();
    let mut i = 0;
    while i < total {
        let end = (i + batch).min(total);
        let mut b = db.new_batch();
        for j in i..end {
            b = b.write(bench_key(shape, j), Some(value(j, 0)));
        }
        let m = b.merkleize(&db, None, &mut Proportional).await.unwrap();
        db = db.apply_batch(m).await.unwrap().commit().await.unwrap();
        i = end;
    }
    perf.insert_ups = total as f64 / t.elapsed().as_secs_f64();

    // updates of existing keys: 5 batches of `batch` random-ish existing keys
    let rounds = 5u64;
    let mut merk = Duration::ZERO;
    let mut apply = Duration::ZERO;
    let t = Instant::now();
    for r in 0..rounds {
        let mut b = db.new_batch();
        for j in 0..batch {
            let idx = (j * 7919 + r * 104_729) % total;
            b = b.write(bench_key(shape, idx), Some(value(idx, r + 1)));
        }
        let t1 = Instant::now();
        let m = b.merkleize(&db, None, &mut Proportional).await.unwrap();
        merk += t1.elapsed();
        let t2 = Instant::now();
        db = db.apply_batch(m).await.unwrap().commit().await.unwrap();
        apply += t2.elapsed();
    }
    perf.update_ups = (rounds * batch) as f64 / t.elapsed().as_secs_f64();
    perf.merkleize_ms = ms(merk) / rounds as f64;
    perf.apply_commit_ms = ms(apply) / rounds as f64;

    // empty block (root must still advance: commit op appended)
    let t = Instant::now();
    let m = db.new_batch().merkleize(&db, None, &mut Proportional).await.unwrap();
    db = db.apply_batch(m).await.unwrap().commit().await.unwrap();
    perf.empty_block_ms = ms(t.elapsed());

    // proofs
    let root = db.root();
    let n = 200u64;
    let mut gen_t = Duration::ZERO;
    let mut ver_t = Duration::ZERO;
    let mut get_t = Duration::ZERO;
    let mut bytes = 0;
    for j in 0..n {
        let idx = (j * 7_777) % total;
        let k = bench_key(shape, idx);
        let t = Instant::now();
        let v = db.get(&k).await.unwrap().unwrap();
        get_t += t.elapsed();
        let t = Instant::now();
        let p = db.key_value_proof(k.clone()).await.unwrap();
        gen_t += t.elapsed();
        let t = Instant::now();
        assert!(p.verify::<Sha256, VariableEncoding<Value>>(k, v, &root));
        ver_t += t.elapsed();
        bytes = bytes.max(p.encode_size());
    }
    perf.get_us = get_t.as_secs_f64() * 1e6 / n as f64;
    perf.proof_gen_us = gen_t.as_secs_f64() * 1e6 / n as f64;
    perf.proof_verify_us = ver_t.as_secs_f64() * 1e6 / n as f64;
    perf.proof_bytes = bytes;

    let keys: Vec<Key> = (0..n).map(|j| bench_key(shape, (j * 7_919 + 13) % total)).collect();
    let refs: Vec<&Key> = keys.iter().collect();
    let t = Instant::now();
    let vals = db.get_many(&refs).await.unwrap();
    perf.get_many_200_us = t.elapsed().as_secs_f64() * 1e6;
    assert!(vals.iter().all(|v| v.is_some()));
    let k = bench_key(shape, 1);
    db.get(&k).await.unwrap();
    let t = Instant::now();
    for _ in 0..100 {
        db.get(&k).await.unwrap();
    }
    perf.warm_get_us = t.elapsed().as_secs_f64() * 1e6 / 100.0;

    let t = Instant::now();
    for j in 0..20u64 {
        let mut k = bench_key(shape, (j * 31) % total);
        k.push(0); // absent key right after an existing one
        let ex = db.exclusion_proof(&k).await.unwrap();
        assert!(ex.verify::<Sha256>(&k, &root));
    }
    perf.excl_gen_us = t.elapsed().as_secs_f64() * 1e6 / 20.0;

    let t = Instant::now();
    for j in 0..10u64 {
        let start = bench_key(shape, (j * 1_001) % total);
        let stream = db.stream_range(start..);
        pin_mut!(stream);
        let mut c = 0;
        while let Some(x) = stream.next().await {
            x.unwrap();
            c += 1;
            if c == 100 {
                break;
            }
        }
    }
    perf.scan_100_us = t.elapsed().as_secs_f64() * 1e6 / 10.0;

    // prune history below the sync boundary (root unchanged; old ops no longer provable)
    perf.ops_in_log = *db.bounds().end;
    let t = Instant::now();
    let boundary = db.sync_boundary();
    db = db.prune(boundary).await.unwrap();
    perf.prune_ms = ms(t.elapsed());
    assert_eq!(db.root(), root);
    let b = db.bounds();
    perf.ops_retained_after_prune = *b.end - *b.start;

    // reopen (replays the log to rebuild the in-memory index, bitmap and grafted tree)
    let db = db.sync().await.unwrap();
    drop(db);
    let t = Instant::now();
    let db = StateDbT::<E, T>::init(ctx.child("db"), state_config::<T>(prefix), None).await.unwrap();
    perf.reopen_ms = ms(t.elapsed());
    assert_eq!(db.root(), root);

    if !keep {
        db.destroy().await.unwrap();
    }
    perf
}
