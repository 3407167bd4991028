#!/usr/bin/env node
// Self-test of the harness itself (not of the Rust node): starts two small in-process
// stand-ins on 127.0.0.1 — a Kubo-RPC subset (shared/design/ipfs-notes.md §3.5) and a trustless
// gateway (block + CAR responses) — backed by ipfs-unixfs-importer/-exporter, then runs
// rpc_client.mjs (with this Node) and verified_fetch.mjs (with $NODE24, or this Node if >= 22)
// against them.  Output: the scripts' lines, then `selftest: N passed, M failed` (scripts
// that exited 0 / non-zero).
//
//   node selftest.mjs            (reads NODE24 from the environment or $INTEROP_CACHE/env)
//   node selftest.mjs --serve    only start the stand-ins and print their URLs (Ctrl-C to stop)
//   SELFTEST_LOG=1               log every request the stand-ins receive to stderr
import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import * as dagPb from '@ipld/dag-pb'
import { CarReader, CarWriter } from '@ipld/car'
import { exporter } from 'ipfs-unixfs-exporter'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { importEntries, MapBlockstore } from './cids.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))

// ---------------------------------------------------------------- shared block store
const store = new MapBlockstore()
const byMh = new Map() // multihash hex -> bytes (CIDv0/v1 of the same block are one block)
const mhKey = (cid) => Buffer.from(cid.multihash.bytes).toString('hex')
const origPut = store.put.bind(store)
store.put = async (cid, bytes) => { byMh.set(mhKey(cid), bytes); return origPut(cid, bytes) }
const getBlock = (cid) => {
  const b = byMh.get(mhKey(cid))
  if (b == null) throw Object.assign(new Error(`block ${cid} not found`), { status: 404 })
  return b
}
const bs = { async * get (cid) { yield getBlock(cid) } }
const pins = new Map() // cid string -> type

async function * dfs (root, seen = new Set()) {
  const k = root.toString()
  if (seen.has(k)) return
  seen.add(k)
  const bytes = getBlock(root)
  yield { cid: root, bytes }
  if (root.code === dagPb.code) {
    for (const l of dagPb.decode(bytes).Links) yield * dfs(l.Hash, seen)
  }
}
async function carOf (root) {
  const { writer, out } = CarWriter.create([root])
  const chunks = []
  const done = (async () => { for await (const c of out) chunks.push(c) })()
  for await (const b of dfs(root)) await writer.put(b)
  await writer.close()
  await done
  return Buffer.concat(chunks)
}
async function readBody (req) {
  const chunks = []
  for await (const c of req) chunks.push(c)
  return Buffer.concat(chunks)
}
async function formParts (req) {
  const body = await readBody(req)
  const fd = await new Request('http://x/', { method: 'POST', headers: { 'content-type': req.headers['content-type'] }, body }).formData()
  const parts = []
  for (const [, v] of fd.entries()) {
    if (typeof v === 'string') parts.push({ path: '', content: Buffer.from(v) })
    else parts.push({ path: decodeURIComponent(v.name ?? ''), type: v.type, content: Buffer.from(await v.arrayBuffer()) })
  }
  return parts
}
function json (res, obj, status = 200) {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(obj) + '\n')
}
function ndjson (res, objs) {
  res.writeHead(200, { 'content-type': 'application/json', 'x-chunked-output': '1' })
  res.end(objs.map((o) => JSON.stringify(o) + '\n').join(''))
}
function rpcError (res, msg, status = 500) { json(res, { Message: msg, Code: 0, Type: 'error' }, status) }
const parseArg = (s) => {
  const m = /^(?:\/ipfs\/)?([^/]+)(\/.*)?$/.exec(s ?? '')
  if (m == null) throw new Error(`invalid path ${s}`)
  return { cid: CID.parse(m[1]), rest: m[2] ?? '' }
}

// ---------------------------------------------------------------- Kubo RPC stand-in
const peerId = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
async function rpc (req, res) {
  if (process.env.SELFTEST_LOG) process.stderr.write(`rpc: ${req.method} ${req.url}\n`)
  const u = new URL(req.url, 'http://x')
  const cmd = u.pathname.replace(/^\/api\/v0\//, '')
  const q = u.searchParams
  if (req.method !== 'POST') return rpcError(res, `${req.method} not allowed`, 405)
  switch (cmd) {
    case 'version': return json(res, { Version: '0.0.0-standin', Commit: '', Repo: '0', System: 'standin', Golang: '' })
    case 'id': return json(res, { ID: peerId, PublicKey: '', Addresses: [], AgentVersion: 'standin', Protocols: [] })
    case 'add': {
      const parts = await formParts(req)
      const cidVersion = Number(q.get('cid-version') ?? 0)
      const wrap = q.get('wrap-with-directory') === 'true'
      const entries = parts.map((p) => p.type === 'application/x-directory' ? { path: p.path } : { path: p.path || undefined, content: [p.content] })
      const out = await importEntries(entries, { cidVersion, wrap, rawLeaves: q.has('raw-leaves') ? q.get('raw-leaves') === 'true' : null }, store)
      if (q.get('pin') !== 'false') pins.set(out[out.length - 1].cid.toString(), 'recursive')
      return ndjson(res, out.map((e) => ({ Name: e.path ?? e.cid.toString(), Hash: e.cid.toString(), Size: `${e.size}` })))
    }
    case 'cat': {
      const { cid, rest } = parseArg(q.get('arg'))
      const entry = await exporter(`${cid}${rest}`, bs)
      if (entry.type !== 'file' && entry.type !== 'raw') return rpcError(res, 'this dag node is a directory')
      const opts = {}
      if (q.has('offset')) opts.offset = Number(q.get('offset'))
      if (q.has('length')) opts.length = Number(q.get('length'))
      res.writeHead(200, { 'content-type': 'text/plain', 'x-stream-output': '1' })
      for await (const c of entry.content(opts)) res.write(c)
      return res.end()
    }
    case 'ls': {
      const { cid, rest } = parseArg(q.get('arg'))
      const entry = await exporter(`${cid}${rest}`, bs)
      const links = []
      if (entry.type === 'directory') {
        for await (const e of entry.entries()) {
          const c = await exporter(e.cid, bs)
          const isDir = c.type === 'directory'
          links.push({ Name: e.name, Hash: e.cid.toString(), Size: isDir ? 0 : Number(c.size), Type: isDir ? 1 : 2, Target: '' })
        }
      }
      return json(res, { Objects: [{ Hash: q.get('arg'), Links: links }] })
    }
    case 'block/put': {
      const [part] = await formParts(req)
      const codec = q.get('cid-codec') ?? q.get('format') ?? 'raw'
      const code = codec === 'raw' ? raw.code : (codec === 'dag-pb' || codec === 'protobuf') ? dagPb.code : null
      if (code == null) return rpcError(res, `unsupported codec ${codec}`)
      const version = Number(q.get('version') ?? 1)
      const cid = CID.create(code === dagPb.code ? version : 1, code, await sha256.digest(part.content))
      await store.put(cid, part.content)
      if (q.get('pin') === 'true') pins.set(cid.toString(), 'recursive')
      return json(res, { Key: cid.toString(), Size: part.content.length })
    }
    case 'block/get': {
      const b = getBlock(CID.parse(q.get('arg')))
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      return res.end(b)
    }
    case 'block/stat': {
      const cid = CID.parse(q.get('arg'))
      return json(res, { Key: cid.toString(), Size: getBlock(cid).length })
    }
    case 'pin/add': {
      const cids = q.getAll('arg').map((a) => parseArg(a).cid)
      for (const c of cids) { for await (const _ of dfs(c)); pins.set(c.toString(), 'recursive') } // eslint-disable-line no-unused-vars
      return json(res, { Pins: cids.map(String) })
    }
    case 'pin/ls': {
      const args = q.getAll('arg')
      if (args.length > 0) {
        const out = []
        for (const a of args) {
          const c = parseArg(a).cid.toString()
          if (!pins.has(c)) return rpcError(res, `path '${a}' is not pinned`)
          out.push({ Cid: c, Type: pins.get(c) })
        }
        return ndjson(res, out)
      }
      const type = q.get('type') ?? 'all'
      return ndjson(res, [...pins].filter(([, t]) => type === 'all' || t === type).map(([c, t]) => ({ Cid: c, Type: t })))
    }
    case 'pin/rm': {
      const cids = q.getAll('arg').map((a) => parseArg(a).cid.toString())
      for (const c of cids) if (!pins.delete(c)) return rpcError(res, 'not pinned or pinned indirectly')
      return json(res, { Pins: cids })
    }
    case 'dag/export': {
      const car = await carOf(parseArg(q.get('arg')).cid)
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car', 'x-stream-output': '1' })
      return res.end(car)
    }
    case 'dag/import': {
      const out = []
      for (const p of await formParts(req)) {
        const reader = await CarReader.fromBytes(p.content)
        for await (const { cid, bytes } of reader.blocks()) await store.put(cid, bytes)
        for (const r of await reader.getRoots()) {
          if (q.get('pin-roots') !== 'false') pins.set(r.toString(), 'recursive')
          out.push({ Root: { Cid: { '/': r.toString() }, PinErrorMsg: '' } })
        }
      }
      return ndjson(res, out)
    }
    default: return rpcError(res, `command not found: ${cmd}`, 404)
  }
}

// ---------------------------------------------------------------- trustless gateway stand-in
async function gateway (req, res) {
  if (process.env.SELFTEST_LOG) process.stderr.write(`gateway: ${req.method} ${req.url} accept=${req.headers.accept}\n`)
  const u = new URL(req.url, 'http://x')
  const m = /^\/ipfs\/([^/]+)\/?$/.exec(u.pathname)
  if (m == null || !['GET', 'HEAD'].includes(req.method)) { res.writeHead(400); return res.end('bad request') }
  const cid = CID.parse(m[1])
  const accept = req.headers.accept ?? ''
  const format = u.searchParams.get('format') ?? (accept.includes('application/vnd.ipld.car') ? 'car' : accept.includes('application/vnd.ipld.raw') ? 'raw' : null)
  if (format === 'raw') {
    const b = getBlock(cid)
    res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw', 'content-length': b.length })
    return res.end(req.method === 'HEAD' ? undefined : b)
  }
  if (format === 'car') {
    const car = await carOf(cid)
    res.writeHead(200, { 'content-type': 'application/vnd.ipld.car; version=1; order=dfs; dups=n' })
    return res.end(req.method === 'HEAD' ? undefined : car)
  }
  res.writeHead(406); res.end('trustless gateway: only raw and car')
}

function serve (handler) {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      handler(req, res).catch((e) => {
        if (res.headersSent) return res.destroy(e)
        const status = e.status ?? 500
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ Message: e.message, Code: 0, Type: 'error' }))
      })
    })
    srv.listen(0, '127.0.0.1', () => resolve(srv))
  })
}

const rpcSrv = await serve(rpc)
const gwSrv = await serve(gateway)
const rpcUrl = `http://127.0.0.1:${rpcSrv.address().port}`
const gwUrl = `http://127.0.0.1:${gwSrv.address().port}`

// content for the gateway: 1.2 MB file, CIDv0 (dag-pb leaves) and CIDv1 (raw leaves)
const content = crypto.createCipheriv('chacha20', crypto.createHash('sha256').update('selftest').digest(), Buffer.alloc(16)).update(Buffer.alloc(1200000))
const sha = crypto.createHash('sha256').update(content).digest('hex')
const v0 = (await importEntries([{ content: [content] }], {}, store)).pop().cid
const v1 = (await importEntries([{ content: [content] }], { cidVersion: 1 }, store)).pop().cid

if (process.argv.includes('--serve')) {
  console.log(`RPC=${rpcUrl}\nGATEWAY=${gwUrl}\nFILE_V0=${v0}\nFILE_V1=${v1}\nSHA256=${sha}`)
} else {
  let node24 = process.env.NODE24
  if (!node24) {
    const envf = path.join(process.env.INTEROP_CACHE || path.join(os.homedir(), '.cache/crust-interop'), 'env')
    if (fs.existsSync(envf)) node24 = /^NODE24=(.*)$/m.exec(fs.readFileSync(envf, 'utf8'))?.[1]
  }
  if (!node24 && Number(process.versions.node.split('.')[0]) >= 22) node24 = process.execPath
  let ok = 0
  let bad = 0
  const run = async (label, exe, args, expectFail = false) => {
    const t0 = Date.now()
    // async spawn: the stand-ins live in this process and must keep answering
    const code = await new Promise((resolve) => {
      const p = spawn(exe, args, { stdio: ['ignore', 'inherit', 'inherit'] })
      p.on('exit', (c) => resolve(c))
      p.on('error', (e) => { console.log(`FAIL ${label}: ${e.message}`); resolve(-1) })
    })
    console.log(`# ${label}: exit ${code} in ${Date.now() - t0} ms`)
    if ((code === 0) !== expectFail) ok++; else { bad++; console.log(`FAIL ${label}: unexpected exit ${code}`) }
  }
  await run('rpc_client.mjs', process.execPath, [path.join(here, 'rpc_client.mjs'), rpcUrl])
  if (node24) {
    await run('verified_fetch.mjs v0', node24, [path.join(here, 'verified_fetch.mjs'), gwUrl, `${v0}`, sha])
    await run('verified_fetch.mjs v1', node24, [path.join(here, 'verified_fetch.mjs'), gwUrl, `${v1}`, sha])
    await run('verified_fetch.mjs wrong sha (must fail)', node24, [path.join(here, 'verified_fetch.mjs'), gwUrl, `${v1}`, '0'.repeat(64)], true)
  } else {
    bad++
    console.log('FAIL verified_fetch.mjs: no Node >= 22 (set NODE24 or run setup.sh)')
  }
  console.log(`selftest: ${ok} passed, ${bad} failed`)
  rpcSrv.close(); gwSrv.close()
  process.exit(bad === 0 ? 0 : 1)
}
