#!/usr/bin/env node
// Fetches content from ONE trustless gateway with @helia/verified-fetch 8.0.4 and checks it.
//
//   $NODE24 verified_fetch.mjs GATEWAY_URL CID EXPECTED_SHA256      (Node >= 22; use Node 24)
//   $NODE24 verified_fetch.mjs /ip4/…/tcp/…/p2p/<id> CID EXPECTED_SHA256
//      (the second form fetches over Bitswap from that one peer instead of a gateway)
//
// Steps (each prints `PASS name` or `FAIL name: reason`, then `verified-fetch: N passed, M failed`;
// exit 0 only if nothing failed, 2 on usage error):
//   file   GET ipfs://CID (deserialized UnixFS file) -> sha256 of the bytes == EXPECTED_SHA256
//   car    GET ipfs://CID with Accept: application/vnd.ipld.car -> parses with @ipld/car,
//          every block hashes to its CID, the root block is present, and the file
//          re-assembled from the CAR's blocks (ipfs-unixfs-exporter) has EXPECTED_SHA256
// Verified-fetch fetches block by block from the gateway (GET /ipfs/{cid} with
// Accept: application/vnd.ipld.raw) and verifies each hash itself.
//
// Helia is built by hand (not createVerifiedFetch({gateways})), so nothing but GATEWAY_URL is
// contacted: no libp2p, no Bitswap, no delegated routers, no DNS. Quirk (Helia 7.1.x): with no
// non-fallback router, routing.findProviders never finishes and never reaches the gateway
// fallback router, so a no-op router is added. Timeout per step: $VF_TIMEOUT_MS (default 30000).
import crypto from 'node:crypto'

const [gateway, cidStr, expectedSha] = process.argv.slice(2)
if (gateway == null || cidStr == null || !/^[0-9a-f]{64}$/i.test(expectedSha ?? '')) {
  process.stderr.write('usage: verified_fetch.mjs GATEWAY_URL CID EXPECTED_SHA256\n')
  process.exit(2)
}
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  console.log(`FAIL node: @helia/verified-fetch needs Node >= 22 (this is ${process.versions.node}); run with NODE24 from setup.sh`)
  console.log('verified-fetch: 0 passed, 1 failed')
  process.exit(1)
}
const TIMEOUT = Number(process.env.VF_TIMEOUT_MS ?? 30000)

const { createHeliaLight } = await import('helia')
const { withHTTP } = await import('@helia/http')
const { createVerifiedFetchWithHelia } = await import('@helia/verified-fetch')
const { CarReader } = await import('@ipld/car')
const { exporter } = await import('ipfs-unixfs-exporter')
const { CID } = await import('multiformats/cid')
const { sha256 } = await import('multiformats/hashes/sha2')
const { identity } = await import('multiformats/hashes/identity')

let passed = 0
let failed = 0
function why (e) {
  let s = `${e?.name ?? 'Error'}: ${e?.message ?? e}`
  if (e?.cause != null) s += ` (${e.cause.message ?? e.cause}${e.cause.code ? ` ${e.cause.code}` : ''})`
  return s.replace(/\s+/g, ' ').slice(0, 400)
}
class Mismatch extends Error { constructor (m) { super(m); this.name = 'Mismatch' } }
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
const hex = (b) => crypto.createHash('sha256').update(b).digest('hex')

let root
try {
  root = CID.parse(cidStr)
} catch (e) {
  console.log(`FAIL cid: cannot parse ${cidStr}: ${e.message}`)
  console.log('verified-fetch: 0 passed, 1 failed')
  process.exit(1)
}

const overBitswap = gateway.startsWith('/')
let helia
if (overBitswap) {
  // A libp2p + Bitswap Helia that knows exactly one peer: the provider under test.
  const { startBitswapHelia } = await import('./helia_node.mjs')
  const { multiaddr } = await import('@multiformats/multiaddr')
  const { peerIdFromString } = await import('@libp2p/peer-id')
  const provider = multiaddr(gateway)
  const providerId = peerIdFromString(provider.getComponents().find((c) => c.name === 'p2p').value)
  // verified-fetch uses Bitswap sessions, which look for providers through routing: the only
  // router names the provider under test for every CID.
  helia = await startBitswapHelia({
    name: 'one-provider-router',
    async * findProviders () { yield { id: providerId.toCID(), multiaddrs: [provider], protocols: ['transport-bitswap'] } },
    toString () { return 'OneProviderRouter' }
  })
  await helia.libp2p.dial(multiaddr(gateway), { signal: AbortSignal.timeout(TIMEOUT) })
} else {
  helia = withHTTP(createHeliaLight({}), {
    delegatedRouters: [],
    recursiveGateways: [gateway],
    allowInsecure: true,
    allowLocal: true
  })
  helia.addRouter({
    name: 'noop-router',
    async * findProviders () {},
    toString () { return 'NoopRouter' }
  })
  await helia.start()
}
const vfetch = await createVerifiedFetchWithHelia(helia)

await step('file ipfs://CID sha256', async () => {
  const res = await vfetch(`ipfs://${root}`, { signal: AbortSignal.timeout(TIMEOUT) })
  if (res.status !== 200) throw new Mismatch(`HTTP ${res.status} ${res.statusText} ${(await res.text()).slice(0, 200)}`)
  const bytes = Buffer.from(await res.arrayBuffer())
  const got = hex(bytes)
  if (got !== expectedSha.toLowerCase()) throw new Mismatch(`sha256 ${got} (${bytes.length} bytes), want ${expectedSha}`)
})

await step('car ipfs://CID (Accept: application/vnd.ipld.car)', async () => {
  const res = await vfetch(`ipfs://${root}`, {
    headers: { accept: 'application/vnd.ipld.car' },
    signal: AbortSignal.timeout(TIMEOUT)
  })
  if (res.status !== 200) throw new Mismatch(`HTTP ${res.status} ${res.statusText}`)
  const ct = res.headers.get('content-type') ?? ''
  if (!ct.startsWith('application/vnd.ipld.car')) throw new Mismatch(`content-type ${ct}`)
  const car = new Uint8Array(await res.arrayBuffer())
  const reader = await CarReader.fromBytes(car)
  const roots = await reader.getRoots()
  const blocks = new Map()
  for await (const { cid, bytes } of reader.blocks()) {
    const hasher = cid.multihash.code === identity.code ? identity : sha256
    const d = await hasher.digest(bytes)
    if (!Buffer.from(d.bytes).equals(Buffer.from(cid.multihash.bytes))) throw new Mismatch(`block ${cid} does not match its hash`)
    blocks.set(Buffer.from(cid.multihash.bytes).toString('hex'), bytes)
  }
  const key = (c) => Buffer.from(c.multihash.bytes).toString('hex')
  if (!blocks.has(key(root))) throw new Mismatch(`root block ${root} not in CAR (${blocks.size} blocks, roots ${roots.join(',')})`)
  // re-assemble the file from the CAR's blocks only
  const bs = {
    async * get (c) {
      const b = blocks.get(key(c))
      if (b == null) throw new Mismatch(`CAR lacks block ${c}`)
      yield b
    }
  }
  const entry = await exporter(root, bs)
  const h = crypto.createHash('sha256')
  let n = 0
  for await (const chunk of entry.content()) { h.update(chunk); n += chunk.length }
  const got = h.digest('hex')
  if (got !== expectedSha.toLowerCase()) throw new Mismatch(`file from CAR: sha256 ${got} (${n} bytes), want ${expectedSha}`)
  console.log(`# car: ${car.length} bytes, ${blocks.size} blocks, roots ${roots.join(',')}`)
})

console.log(`verified-fetch: ${passed} passed, ${failed} failed`)
// helia.stop() can wait for in-flight sessions; never let it hang the exit
await Promise.race([helia.stop().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 2000))])
process.exit(failed === 0 ? 0 : 1)
