#!/usr/bin/env node
// Drives a Kubo-RPC-compatible server with kubo-rpc-client 7.1.0 and checks every answer
// against values computed locally (ipfs-unixfs-importer with Kubo defaults, via cids.mjs).
//
//   node rpc_client.mjs http://127.0.0.1:5001      (Node >= 20)
//
// Prints `PASS name` / `FAIL name: reason` per step, then `rpc: N passed, M failed`;
// exit 0 only if nothing failed (2 for a usage error). Every call has its own timeout:
// $RPC_TIMEOUT_MS (default 10000). Steps use locally computed CIDs, so one failing step
// does not hide the others. Content is unique per run (seeded with the time) where a
// server that already has the data could pass by accident (dag import).
import crypto from 'node:crypto'
import { create } from 'kubo-rpc-client'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { CarReader, CarWriter } from '@ipld/car'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagJson from '@ipld/dag-json'
import { importEntries, MapBlockstore } from './cids.mjs'

const url = process.argv[2]
if (url == null || !/^https?:\/\//.test(url)) {
  process.stderr.write('usage: rpc_client.mjs http://HOST:PORT\n')
  process.exit(2)
}
const TIMEOUT = Number(process.env.RPC_TIMEOUT_MS ?? 10000)
const client = create({ url, timeout: TIMEOUT })
const sig = () => AbortSignal.timeout(TIMEOUT)

let passed = 0
let failed = 0
function why (e) {
  let s = `${e?.name ?? 'Error'}: ${e?.message ?? e}`
  const c = e?.cause
  if (c != null) s += ` (${c.message ?? c}${c.code && !`${c.message}`.includes(c.code) ? ` ${c.code}` : ''})`
  return s.replace(/\s+/g, ' ').slice(0, 400)
}
class Mismatch extends Error { constructor (m) { super(m); this.name = 'Mismatch' } }
function expectEq (what, got, want) {
  if (`${got}` !== `${want}`) throw new Mismatch(`${what}: got ${got}, want ${want}`)
}
function expectBytes (what, got, want) {
  if (!Buffer.from(got).equals(Buffer.from(want))) {
    throw new Mismatch(`${what}: ${got.length} bytes (sha256 ${hex(got)}), want ${want.length} bytes (sha256 ${hex(want)})`)
  }
}
const hex = (b) => crypto.createHash('sha256').update(b).digest('hex').slice(0, 16)
async function step (name, fn) {
  const t0 = Date.now()
  try {
    await fn()
    passed++
    console.log(`PASS ${name} (${Date.now() - t0} ms)`)
  } catch (e) {
    failed++
    console.log(`FAIL ${name}: ${why(e)}`)
  }
}
async function collect (it) {
  const out = []
  for await (const x of it) out.push(x)
  return out
}
const concat = (chunks) => Buffer.concat(chunks.map((c) => Buffer.from(c)))
function detBytes (size, seed) {
  const key = crypto.createHash('sha256').update(seed).digest()
  return crypto.createCipheriv('chacha20', key, Buffer.alloc(16)).update(Buffer.alloc(size))
}
async function expected (entries, job = {}, bs) {
  const all = await importEntries(entries, job, bs)
  return Object.fromEntries(all.map((e) => [e.path ?? '', e]))
}

// ---- expected values, computed locally
const small = Buffer.from('hello world\n')
const big = detBytes(1 << 20, 'rpc-1MiB')
const expSmall = (await expected([{ content: [small] }]))['']
const expSmallV1 = (await expected([{ content: [small] }], { cidVersion: 1 }))['']
const expBig = (await expected([{ content: [big] }]))['']
const expBigV1 = (await expected([{ content: [big] }], { cidVersion: 1 }))['']
const wrapped = await expected([{ path: 'hello.txt', content: [small] }], { wrap: true })
const fileA = Buffer.from('file a\n')
const fileB = detBytes(300000, 'rpc-file-b') // 2 chunks
const dirBs = new MapBlockstore()
const dir = await expected([
  { path: 'dir/a.txt', content: [fileA] },
  { path: 'dir/b.txt', content: [fileB] }
], {}, dirBs)
const rawBlock = Buffer.from(`raw block ${Date.now()} ${process.pid}`)
const rawCid = CID.createV1(raw.code, await sha256.digest(rawBlock))

// ---- steps
await step('version', async () => {
  const v = await client.version({ signal: sig() })
  if (typeof v?.version !== 'string' || v.version === '') throw new Mismatch(`no Version in ${JSON.stringify(v)}`)
})
await step('id', async () => {
  const r = await client.id({ signal: sig() })
  if (r?.id == null) throw new Mismatch('no ID')
  if (!Array.isArray(r.addresses)) throw new Mismatch('Addresses is not an array')
})
await step('add small (CIDv0)', async () => {
  const r = await client.add(small, { signal: sig() })
  expectEq('cid', r.cid, expSmall.cid)
  expectEq('size', r.size, expSmall.size)
})
await step('add 1 MiB (CIDv0)', async () => {
  const r = await client.add(big, { signal: sig() })
  expectEq('cid', r.cid, expBig.cid)
  expectEq('size', r.size, expBig.size)
})
await step('add small cidVersion=1', async () => {
  const r = await client.add(small, { cidVersion: 1, signal: sig() })
  expectEq('cid', r.cid, expSmallV1.cid)
})
await step('add 1 MiB cidVersion=1', async () => {
  const r = await client.add(big, { cidVersion: 1, signal: sig() })
  expectEq('cid', r.cid, expBigV1.cid)
})
await step('add wrapWithDirectory', async () => {
  const r = await client.add({ path: 'hello.txt', content: small }, { wrapWithDirectory: true, signal: sig() })
  expectEq('wrapper cid', r.cid, wrapped[''].cid)
})
await step('addAll directory of 2 files', async () => {
  const rs = await collect(client.addAll([
    { path: 'dir/a.txt', content: fileA },
    { path: 'dir/b.txt', content: fileB }
  ], { signal: sig() }))
  const got = Object.fromEntries(rs.map((r) => [r.path, r]))
  for (const p of ['dir/a.txt', 'dir/b.txt', 'dir']) {
    if (got[p] == null) throw new Mismatch(`no result for ${p} (got ${rs.map((r) => r.path).join(', ')})`)
    expectEq(`${p} cid`, got[p].cid, dir[p].cid)
    expectEq(`${p} size`, got[p].size, dir[p].size)
  }
})
await step('cat whole (1 MiB)', async () => {
  expectBytes('cat', concat(await collect(client.cat(expBig.cid, { signal: sig() }))), big)
})
await step('cat offset/length', async () => {
  const got = concat(await collect(client.cat(expBig.cid, { offset: 262140, length: 100000, signal: sig() })))
  expectBytes('cat range', got, big.subarray(262140, 362140))
})
await step('cat /ipfs/<dir>/b.txt', async () => {
  expectBytes('cat path', concat(await collect(client.cat(`/ipfs/${dir.dir.cid}/b.txt`, { signal: sig() }))), fileB)
})
await step('ls directory', async () => {
  const es = await collect(client.ls(dir.dir.cid, { signal: sig() }))
  expectEq('names', es.map((e) => e.name).join(','), 'a.txt,b.txt')
  for (const e of es) {
    const want = dir[`dir/${e.name}`]
    expectEq(`${e.name} cid`, e.cid, want.cid)
    expectEq(`${e.name} type`, e.type, 'file')
    expectEq(`${e.name} size`, e.size, e.name === 'a.txt' ? fileA.length : fileB.length)
  }
})
await step('block.put raw (CIDv1)', async () => {
  const c = await client.block.put(rawBlock, { format: 'raw', mhtype: 'sha2-256', version: 1, signal: sig() })
  expectEq('cid', c, rawCid)
})
await step('block.get', async () => {
  expectBytes('block', await client.block.get(rawCid, { signal: sig() }), rawBlock)
})
await step('block.stat', async () => {
  const s = await client.block.stat(rawCid, { signal: sig() })
  expectEq('cid', s.cid, rawCid)
  expectEq('size', s.size, rawBlock.length)
})
await step('block.get dag-pb root of added dir', async () => {
  expectBytes('block', await client.block.get(dir.dir.cid, { signal: sig() }), dirBs.get(dir.dir.cid))
})
await step('pin.add', async () => {
  const c = await client.pin.add(rawCid, { signal: sig() })
  expectEq('cid', c, rawCid)
})
await step('pin.ls (paths)', async () => {
  const ps = await collect(client.pin.ls({ paths: rawCid, signal: sig() }))
  const p = ps.find((x) => x.cid.equals(rawCid))
  if (p == null) throw new Mismatch(`not listed (got ${ps.map((x) => `${x.cid}`).join(', ') || 'nothing'})`)
  expectEq('type', p.type, 'recursive')
})
await step('pin.ls (type=recursive) includes added file', async () => {
  const ps = await collect(client.pin.ls({ type: 'recursive', signal: sig() }))
  for (const c of [rawCid, expBig.cid, dir.dir.cid]) {
    if (!ps.some((x) => x.cid.equals(c))) throw new Mismatch(`${c} not in ${ps.length} recursive pins`)
  }
})
await step('pin.rm', async () => {
  const c = await client.pin.rm(rawCid, { signal: sig() })
  expectEq('cid', c, rawCid)
})
await step('pin.ls after rm', async () => {
  let ps
  try {
    ps = await collect(client.pin.ls({ paths: rawCid, signal: sig() }))
  } catch (e) {
    if (/not pinned/i.test(e.message)) return // Kubo answers 500 "... is not pinned"
    throw e
  }
  if (ps.some((x) => x.cid.equals(rawCid))) throw new Mismatch('still pinned')
})
await step('dag.export (CAR) of directory', async () => {
  const car = concat(await collect(client.dag.export(dir.dir.cid, { signal: sig() })))
  const reader = await CarReader.fromBytes(car)
  const roots = await reader.getRoots()
  expectEq('roots', roots.join(','), `${dir.dir.cid}`)
  const seen = new Set()
  for await (const { cid, bytes } of reader.blocks()) {
    const h = await sha256.digest(bytes)
    if (!Buffer.from(h.bytes).equals(Buffer.from(cid.multihash.bytes))) throw new Mismatch(`block ${cid} hash mismatch`)
    seen.add(`${cid}`)
  }
  const want = [...dirBs.all()].map(({ cid }) => `${cid}`)
  const missing = want.filter((c) => !seen.has(c))
  if (missing.length) throw new Mismatch(`missing blocks ${missing.join(', ')}`)
  if (seen.size !== want.length) throw new Mismatch(`${seen.size} blocks, want ${want.length}`)
})
// a fresh DAG (unique bytes), imported as a CAR, then read back
const imp = detBytes(600000, `rpc-import-${Date.now()}-${process.pid}`)
const impBs = new MapBlockstore()
const impRoot = (await expected([{ content: [imp] }], { cidVersion: 1 }, impBs))['']
await step('dag.import (CAR)', async () => {
  const { writer, out } = CarWriter.create([impRoot.cid])
  const outP = collect(out)
  for (const { cid, bytes } of impBs.all()) await writer.put({ cid, bytes })
  await writer.close()
  const car = concat(await outP)
  const rs = await collect(client.dag.import([car], { signal: sig() }))
  const r = rs.find((x) => x.root.cid.equals(impRoot.cid))
  if (r == null) throw new Mismatch(`root not reported (got ${rs.map((x) => `${x.root.cid}`).join(', ') || 'nothing'})`)
  if (r.root.pinErrorMsg) throw new Mismatch(`pin error: ${r.root.pinErrorMsg}`)
})
await step('cat after dag.import', async () => {
  expectBytes('cat', concat(await collect(client.cat(impRoot.cid, { signal: sig() }))), imp)
})

// IPLD nodes: dag.put encodes locally (dag-cbor) and the server stores what it decodes; dag.get
// reads the block back through block/get and decodes it locally; a dag-json node is transcoded
// to dag-cbor by the server; dag/get answers in dag-json.
const node = { name: `rpc-node-${Date.now()}`, size: 42, ok: true, link: rawCid, bytes: new Uint8Array([1, 2, 3]) }
const nodeCid = CID.create(1, dagCbor.code, await sha256.digest(dagCbor.encode(node)))
await step('dag.put (dag-cbor)', async () => {
  const got = await client.dag.put(node, { storeCodec: 'dag-cbor', hashAlg: 'sha2-256', signal: sig() })
  expectEq('cid', got, nodeCid)
})
await step('dag.get', async () => {
  const { value } = await client.dag.get(nodeCid, { signal: sig() })
  expectBytes('node', dagCbor.encode(value), dagCbor.encode(node))
})
await step('dag.put (dag-json in, dag-cbor stored)', async () => {
  const got = await client.dag.put(dagJson.encode(node), { inputCodec: 'dag-json', storeCodec: 'dag-cbor', signal: sig() })
  expectEq('cid', got, nodeCid)
})
await step('dag/get answers dag-json', async () => {
  const res = await fetch(`${url}/api/v0/dag/get?arg=${nodeCid}`, { method: 'POST', signal: sig() })
  if (!res.ok) throw new Mismatch(`status ${res.status}: ${await res.text()}`)
  expectBytes('dag-json', new Uint8Array(await res.arrayBuffer()), dagJson.encode(node))
})

console.log(`rpc: ${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
