#!/usr/bin/env node
// A Helia 7.1.15 Bitswap peer for interop tests (Node >= 22: run it with NODE24 from setup.sh).
//
//   $NODE24 helia_peer.mjs serve FILE...
//       Imports each FILE (or directory) like `ipfs add` with Kubo defaults (cids.mjs options:
//       CIDv0, dag-pb leaves, 256 KiB chunks, balanced 174), or with CIDv1 + raw leaves when
//       HELIA_CID_VERSION=1, into an in-memory blockstore, then prints
//           ADDR /ip4/127.0.0.1/tcp/<port>/p2p/<peerid>
//           CID <cid>            (one per FILE, same order)
//           READY
//       and serves Bitswap until stdin reaches EOF (or SIGTERM/SIGINT/SIGKILL). Exit 0.
//
//   $NODE24 helia_peer.mjs fetch CID MULTIADDR OUTFILE
//       Dials MULTIADDR (must end in /p2p/<peerid>), reads the UnixFS file CID with
//       @helia/unixfs cat over Bitswap, writes it to OUTFILE and prints `SHA256 <hex>`.
//       A stats line goes to stderr. Exit 0; 1 on failure; 3 on timeout ($HELIA_PEER_TIMEOUT
//       seconds, default 120, covering dial + transfer); 2 on usage error.
//
// libp2p stack: TCP on 127.0.0.1 only, noise, yamux, identify, ping and Bitswap 1.2.0
// (Helia only speaks /ipfs/bitswap/1.2.0). No DHT, no bootstrap, no mDNS, no delegated or HTTP
// routers, no trustless-gateway broker: blocks can only come from connected peers. Bitswap
// sends non-session wants (want-block, sendDontHave) to every connected peer whose identify
// lists /ipfs/bitswap/1.2.0; a no-op router keeps Helia's provider lookup quiet.
// Peer id: Ed25519 (12D3Koo…), new each run. Logs: DEBUG=helia*,libp2p:bitswap* on stderr.
// HELIA_PEER_STATS=1 prints, on exit, per-peer counts of the Bitswap traffic this node received
// (inbound streams, messages, blocks per message, wantlist entry kinds, presences) and, for
// fetch, the remote agent version and Bitswap protocols from identify.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

const PROG = 'helia_peer'
function die (msg, code = 1) {
  process.stderr.write(`${PROG}: ${msg}\n`)
  process.exit(code)
}
function usage () {
  process.stderr.write('usage: helia_peer.mjs serve FILE...\n       helia_peer.mjs fetch CID MULTIADDR OUTFILE\n')
  process.exit(2)
}
const major = Number(process.versions.node.split('.')[0])
if (major < 22) die(`Helia 7 needs Node >= 22 (this is ${process.versions.node}); use NODE24 from setup.sh`, 2)

const [mode, ...args] = process.argv.slice(2)
if (mode === 'serve') {
  if (args.length === 0) usage()
} else if (mode === 'fetch') {
  if (args.length !== 3) usage()
} else {
  usage()
}

const { unixfs } = await import('@helia/unixfs')
const { multiaddr } = await import('@multiformats/multiaddr')
const { CID } = await import('multiformats/cid')
const { cidForJob } = await import('./cids.mjs')
const { startBitswapHelia, noopRouter } = await import('./helia_node.mjs')

async function startHelia () {
  const helia = await startBitswapHelia(noopRouter)
  if (process.env.HELIA_PEER_STATS === '1') await addStats(helia)
  return helia
}

// HELIA_PEER_STATS=1: count the Bitswap traffic this node RECEIVES (streams, messages, blocks,
// wantlist entries, presences) per peer and print it to stderr on exit. Message bytes are
// estimated from the decoded fields (+/- a few bytes of protobuf framing per entry).
const stats = new Map()
async function addStats (helia) {
  const net = helia.blockBrokers.find((b) => b.name === 'bitswap')?.bitswap?.network
  if (net == null) throw new Error('HELIA_PEER_STATS: bitswap network not found')
  const get = (peer) => {
    const k = peer.toString()
    if (!stats.has(k)) {
      stats.set(k, {
        streams: 0, msgs: 0, blocks: 0, maxBlocksPerMsg: 0, maxMsgBytes: 0, blockBytes: 0,
        wantBlock: 0, wantHave: 0, cancel: 0, sendDontHave: 0, full: 0, have: 0, dontHave: 0, protocols: new Set()
      })
    }
    return stats.get(k)
  }
  // re-register the stream handler to count inbound streams
  const opts = { maxInboundStreams: net.maxInboundStreams, maxOutboundStreams: net.maxOutboundStreams, runOnLimitedConnection: net.runOnLimitedConnections }
  await helia.libp2p.unhandle(net.protocols)
  await helia.libp2p.handle(net.protocols, (stream, conn) => {
    const s = get(conn.remotePeer)
    s.streams++
    s.protocols.add(stream.protocol)
    net._onStream(stream, conn)
  }, opts)
  net.addEventListener('bitswap:message', (evt) => {
    const { peer, message: m } = evt.detail
    const s = get(peer)
    s.msgs++
    let bytes = 0
    for (const b of m.blocks ?? []) { bytes += b.data.length + b.prefix.length + 8; s.blockBytes += b.data.length }
    const nb = m.blocks?.length ?? 0
    s.blocks += nb
    s.maxBlocksPerMsg = Math.max(s.maxBlocksPerMsg, nb)
    for (const e of m.wantlist?.entries ?? []) {
      bytes += e.cid.length + 10
      if (e.cancel) s.cancel++
      else if (e.wantType === 1 || e.wantType === 'WantHave') s.wantHave++
      else s.wantBlock++
      if (e.sendDontHave) s.sendDontHave++
    }
    if (m.wantlist?.full) s.full++
    for (const p of m.blockPresences ?? []) {
      bytes += p.cid.length + 4
      if (p.type === 1 || p.type === 'DontHave') s.dontHave++
      else s.have++
    }
    s.maxMsgBytes = Math.max(s.maxMsgBytes, bytes)
  })
  process.on('exit', () => {
    for (const [peer, s] of stats) {
      process.stderr.write(`${PROG}: stats from ${peer}: ${s.streams} inbound streams (${[...s.protocols].join(',')}), ` +
        `${s.msgs} msgs, ${s.blocks} blocks (${s.blockBytes} B, max ${s.maxBlocksPerMsg}/msg), max msg ~${s.maxMsgBytes} B, ` +
        `wants: ${s.wantBlock} block, ${s.wantHave} have, ${s.cancel} cancel, ${s.sendDontHave} sendDontHave, ${s.full} full; ` +
        `presences: ${s.have} have, ${s.dontHave} dont-have\n`)
    }
  })
}

async function serve (files) {
  const abs = files.map((f) => path.resolve(f))
  for (const f of abs) if (!fs.existsSync(f)) die(`no such file: ${f}`, 2)
  const cidVersion = Number(process.env.HELIA_CID_VERSION ?? 0)
  if (cidVersion !== 0 && cidVersion !== 1) die(`HELIA_CID_VERSION must be 0 or 1, not ${process.env.HELIA_CID_VERSION}`, 2)
  process.on('SIGTERM', () => process.exit(0))
  process.on('SIGINT', () => process.exit(0))

  const t0 = Date.now()
  const helia = await startHelia()
  const cids = []
  let bytes = 0
  for (const f of abs) {
    // same importer options as cids.mjs (Kubo `ipfs add` defaults); blocks go to Helia's
    // in-memory blockstore so Bitswap can serve them
    cids.push(await cidForJob({ path: f, cidVersion }, helia.blockstore))
    const st = fs.statSync(f)
    if (st.isFile()) bytes += st.size
  }
  const out = []
  for (const ma of helia.libp2p.getMultiaddrs()) out.push(`ADDR ${ma.toString()}`)
  for (const c of cids) out.push(`CID ${c}`)
  out.push('READY')
  process.stdout.write(out.join('\n') + '\n')
  // Serve until stdin ends (the test closed or dropped its pipe) or SIGTERM/SIGINT. Checked
  // only from here on, so READY is always printed first (like kubo_peer.py).
  process.stdin.on('end', () => process.exit(0))
  process.stdin.on('error', () => process.exit(0))
  process.stdin.resume()
  process.stderr.write(`${PROG}: serving ${cids.length} item(s), ${bytes} file bytes, as ${helia.libp2p.peerId} (ready after ${Date.now() - t0} ms)\n`)
}

async function fetch (cidStr, addrStr, outFile) {
  const timeoutS = Number(process.env.HELIA_PEER_TIMEOUT ?? 120)
  if (!(timeoutS > 0)) die(`bad HELIA_PEER_TIMEOUT ${process.env.HELIA_PEER_TIMEOUT}`, 2)
  const hard = setTimeout(() => die(`timeout after ${timeoutS}s fetching ${cidStr} from ${addrStr}`, 3), timeoutS * 1000 + 2000)
  hard.unref()
  let cid, ma
  try { cid = CID.parse(cidStr) } catch (e) { die(`bad CID ${cidStr}: ${e.message}`, 2) }
  try { ma = multiaddr(addrStr) } catch (e) { die(`bad multiaddr ${addrStr}: ${e.message}`, 2) }
  if (ma.getComponents().find((c) => c.name === 'p2p') == null) die(`multiaddr must end in /p2p/<peerid>: ${addrStr}`, 2)
  const signal = AbortSignal.timeout(timeoutS * 1000)
  const t0 = Date.now()
  const helia = await startHelia()
  const t1 = Date.now()
  let conn
  try {
    conn = await helia.libp2p.dial(ma, { signal })
  } catch (e) {
    if (signal.aborted) die(`timeout after ${timeoutS}s dialing ${addrStr}`, 3)
    die(`cannot dial ${addrStr}: ${e.message}`)
  }
  const t2 = Date.now()
  const h = crypto.createHash('sha256')
  const fd = fs.openSync(outFile, 'w')
  let n = 0
  try {
    for await (const chunk of unixfs(helia).cat(cid, { signal })) {
      h.update(chunk)
      fs.writeSync(fd, chunk)
      n += chunk.length
    }
  } catch (e) {
    fs.closeSync(fd)
    if (signal.aborted) die(`timeout after ${timeoutS}s fetching ${cidStr} from ${addrStr} (${n} bytes received)`, 3)
    die(`fetch ${cidStr} failed after ${n} bytes: ${e.name}: ${e.message}`)
  }
  fs.closeSync(fd)
  const t3 = Date.now()
  process.stdout.write(`SHA256 ${h.digest('hex')}\n`)
  const secs = Math.max(t3 - t2, 1) / 1000
  process.stderr.write(`${PROG}: fetched ${n} bytes from ${conn.remotePeer} in ${secs.toFixed(3)} s ` +
    `(${(n / 1e6 / secs).toFixed(1)} MB/s); start ${t1 - t0} ms, dial ${t2 - t1} ms\n`)
  if (process.env.HELIA_PEER_STATS === '1') {
    try {
      const p = await helia.libp2p.peerStore.get(conn.remotePeer)
      const agent = p.metadata.get('AgentVersion')
      process.stderr.write(`${PROG}: remote agent ${agent == null ? '?' : new TextDecoder().decode(agent)}, ` +
        `bitswap protocols ${p.protocols.filter((x) => x.includes('bitswap')).join(',')}\n`)
    } catch (e) {
      process.stderr.write(`${PROG}: no identify info for ${conn.remotePeer}: ${e.message}\n`)
    }
  }
  // helia.stop() can wait for in-flight streams; never let it delay the exit
  await Promise.race([helia.stop().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 500))])
  process.exit(0)
}

try {
  if (mode === 'serve') await serve(args)
  else await fetch(...args)
} catch (e) {
  die(`${e.name ?? 'Error'}: ${e.message ?? e}`)
}
