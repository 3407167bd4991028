// A loopback-only Helia node with libp2p (TCP, Noise, Yamux, Identify, Ping) and Bitswap, shared
// by helia_peer.mjs and verified_fetch.mjs. `router` is its only content router: Helia 7.1.x
// waits forever in findProviders when it has none (see README / ipfs-notes §4).
export async function startBitswapHelia (router) {
  const { createHeliaLight } = await import('helia')
  const { withLibp2pLight } = await import('@helia/libp2p')
  const { withBitswap } = await import('@helia/bitswap')
  const { tcp } = await import('@libp2p/tcp')
  const { noise } = await import('@libp2p/noise')
  const { yamux } = await import('@libp2p/yamux')
  const { identify } = await import('@libp2p/identify')
  const { ping } = await import('@libp2p/ping')
  const helia = createHeliaLight({})
  helia.addRouter(router)
  withLibp2pLight(helia, {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    services: { identify: identify(), ping: ping() }
  })
  withBitswap(helia)
  await helia.start()
  return helia
}

// Answers nothing, so findProviders ends at once.
export const noopRouter = {
  name: 'noop-router',
  async * findProviders () {},
  toString () { return 'NoopRouter' }
}
