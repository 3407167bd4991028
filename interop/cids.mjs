#!/usr/bin/env node
// Compute the root CIDs Kubo's `ipfs add` prints, with ipfs-unixfs-importer 17.1.1.
//
// stdin : JSON array of jobs
//   [{"path": "/abs/file-or-dir", "cidVersion": 0|1, "rawLeaves": bool|null,
//     "chunkSize": 262144, "trickle": false, "wrap": false,
//     "hidden": false, "maxLinks": 174}]          (all but "path" optional)
// stdout: JSON array of CID strings, same order (CIDv0 base58btc, CIDv1 base32).
// Errors: message on stderr, exit code 1 (2 for bad input).
//
// Runs on Node >= 20 (system Node 20 is fine). Nothing is stored (black-hole blockstore).
//
// Kubo semantics reproduced (see shared/design/ipfs-notes.md §1):
//   * rawLeaves null/absent -> true iff cidVersion == 1 (`--cid-version=1` implies raw leaves);
//     rawLeaves true with cidVersion 0 gives raw CIDv1 leaves under CIDv0 dag-pb nodes.
//   * balanced: 174 links per node, single chunk reduced to the leaf itself,
//     dag-pb leaves of UnixFS type File.
//   * trickle: maxChildrenPerNode 174, layerRepeat 4, no single-leaf reduction,
//     dag-pb leaves of UnixFS type Raw.
//   * directories: recursive, empty dirs included, hidden entries (name starting with ".")
//     skipped unless hidden:true (the top-level path itself is always added, like Kubo);
//     HAMT when Σ(len(name)+len(cid bytes)) > 262144 ("links-bytes", strict >, Kubo >= 0.40;
//     Kubo 0.22 used >=), fanout 256 (8 bits).
//   * symlinks inside directories become UnixFS symlink nodes (not followed); a top-level
//     symlink is followed.
//   * wrap: one extra directory containing basename(path) (`-w`); its CID is returned.
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced, trickle } from 'ipfs-unixfs-importer/layout'
import { BlackHoleBlockstore } from 'blockstore-core'

export const KUBO_DEFAULT_CHUNK = 262144
export const KUBO_MAX_LINKS = 174

/** Importer options that reproduce `ipfs add` with the given Kubo flags. */
export function kuboImporterOptions (job = {}) {
  const cidVersion = job.cidVersion ?? 0
  if (cidVersion !== 0 && cidVersion !== 1) throw new Error(`bad cidVersion ${job.cidVersion}`)
  const rawLeaves = job.rawLeaves ?? (cidVersion === 1)
  const chunkSize = job.chunkSize ?? KUBO_DEFAULT_CHUNK
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 2096896) {
    throw new Error(`bad chunkSize ${job.chunkSize} (Kubo accepts 1..2096896)`)
  }
  const maxChildrenPerNode = job.maxLinks ?? KUBO_MAX_LINKS
  const isTrickle = job.trickle === true
  return {
    cidVersion,
    rawLeaves,
    chunker: fixedSize({ chunkSize }),
    layout: isTrickle
      ? trickle({ maxChildrenPerNode, layerRepeat: 4 })
      : balanced({ maxChildrenPerNode }),
    reduceSingleLeafToSelf: !isTrickle,
    leafType: isTrickle ? 'raw' : 'file',
    shardSplitThresholdBytes: 262144,
    shardSplitStrategy: 'links-bytes',
    shardFanoutBits: 8,
    fieldOrder: 'links-first',
    wrapWithDirectory: job.wrap === true
  }
}

async function * readFile (p) {
  // one read stream per file; chunker re-slices, so the read size does not matter
  for await (const buf of fs.createReadStream(p, { highWaterMark: 1 << 20 })) yield buf
}

/** Import candidates for a path, as `ipfs add [-r]` would see it. */
function * candidates (absPath, name, hidden) {
  const st = fs.statSync(absPath) // top level: follow symlinks
  if (st.isFile()) {
    yield { path: name, content: readFile(absPath) }
    return
  }
  if (!st.isDirectory()) throw new Error(`unsupported file type: ${absPath}`)
  yield * walkDir(absPath, name, hidden)
}

function * walkDir (absDir, rel, hidden) {
  yield { path: rel } // directory entry (keeps empty dirs)
  const names = fs.readdirSync(absDir).sort()
  for (const n of names) {
    if (!hidden && n.startsWith('.')) continue
    const abs = path.join(absDir, n)
    const r = `${rel}/${n}`
    const lst = fs.lstatSync(abs)
    if (lst.isSymbolicLink()) {
      yield { path: r, link: fs.readlinkSync(abs) }
    } else if (lst.isDirectory()) {
      yield * walkDir(abs, r, hidden)
    } else if (lst.isFile()) {
      yield { path: r, content: readFile(abs) }
    } else {
      throw new Error(`unsupported file type: ${abs}`)
    }
  }
}

/** Root CID (string) of one job, as `ipfs add` prints it. */
export async function cidForJob (job, blockstore = new BlackHoleBlockstore()) {
  if (typeof job?.path !== 'string' || job.path === '') throw new Error('job.path missing')
  const abs = path.resolve(job.path)
  const name = path.basename(abs) || 'root'
  const opts = kuboImporterOptions(job)
  let root
  for await (const entry of importer(candidates(abs, name, job.hidden === true), blockstore, opts)) {
    if (opts.wrapWithDirectory ? entry.path === '' : entry.path === name) root = entry
  }
  if (root == null) throw new Error(`importer produced no root for ${abs}`)
  return root.cid.toString()
}

/** Minimal blockstore keeping {cid, bytes} by CID string (the importer only calls put). */
export class MapBlockstore {
  constructor () { this.blocks = new Map() }
  async put (cid, bytes) { this.blocks.set(cid.toString(), { cid, bytes }); return cid }
  async has (cid) { return this.blocks.has(cid.toString()) }
  get (cid) {
    const b = this.blocks.get(cid.toString())
    if (b == null) throw new Error(`block ${cid} not found`)
    return b.bytes
  }
  * all () { yield * this.blocks.values() }
}

/**
 * Import in-memory candidates ({path, content} / {path} for dirs) with Kubo options;
 * returns every importer entry ({cid, path, size, unixfs}); `size` is what `ipfs add`
 * prints as Size (cumulative DAG size). Pass a MapBlockstore to keep the blocks.
 */
export async function importEntries (entries, job = {}, blockstore = new BlackHoleBlockstore()) {
  const out = []
  for await (const entry of importer(entries, blockstore, kuboImporterOptions(job))) out.push(entry)
  return out
}

/**
 * Root CID of stdin-like data (`... | ipfs add`): a Uint8Array or an (async) iterable of
 * Uint8Arrays. `job` as above without path/wrap.
 */
export async function cidForBytes (data, job = {}, blockstore = new BlackHoleBlockstore()) {
  const content = data instanceof Uint8Array ? [data] : data
  const all = await importEntries([{ content }], { ...job, wrap: false }, blockstore)
  return all[all.length - 1].cid.toString()
}

async function readStdin () {
  const chunks = []
  for await (const c of process.stdin) chunks.push(c)
  return Buffer.concat(chunks).toString('utf8')
}

async function main () {
  let jobs
  try {
    jobs = JSON.parse(await readStdin())
    if (!Array.isArray(jobs)) throw new Error('expected a JSON array of jobs')
  } catch (e) {
    process.stderr.write(`cids.mjs: bad input: ${e.message}\n`)
    process.exit(2)
  }
  const out = []
  for (const job of jobs) {
    try {
      out.push(await cidForJob(job))
    } catch (e) {
      process.stderr.write(`cids.mjs: ${job?.path}: ${e.message}\n`)
      process.exit(1)
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}

if (process.argv[1] != null && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  main().catch((e) => { process.stderr.write(`cids.mjs: ${e.stack ?? e}\n`); process.exit(1) })
}
