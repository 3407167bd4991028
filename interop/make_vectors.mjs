// Writes the inputs of the published `ipfs add` vectors (kubo tests, sharness, IPIP-499) to
// OUTDIR and prints them as JSON: [{"name", "path", "args": [crust add flags], "cid"}].
// The Rust tests add each with `crust add` and compare to the published CID.
//   node make_vectors.mjs OUTDIR
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'

const out = process.argv[2]
if (!out) { console.error('usage: make_vectors.mjs OUTDIR'); process.exit(2) }

function chacha (size, seed) {
  const key = crypto.createHash('sha256').update(seed).digest()
  const cipher = crypto.createCipheriv('chacha20', key, Buffer.alloc(16))
  return cipher.update(Buffer.alloc(size))
}
function file (rel, content) {
  const p = path.join(out, rel)
  fs.mkdirSync(path.dirname(p), { recursive: true })
  fs.writeFileSync(p, content)
  return p
}
function dir (rel) {
  const p = path.join(out, rel)
  fs.mkdirSync(p, { recursive: true })
  return p
}
const vectors = []
const v = (name, p, args, cid) => vectors.push({ name, path: p, args, cid })

v('chacha 262144', file('c262144', chacha(262144, 'chunk-v0-seed')), [], 'QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE')
v('chacha 262145', file('c262145', chacha(262145, 'chunk-v0-seed')), [], 'QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ')
v('chacha 174*256KiB', file('c174', chacha(174 * 262144, 'v0-seed')), [], 'QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2')
v('chacha 174*256KiB+1', file('c174p1', chacha(174 * 262144 + 1, 'v0-seed')), [], 'QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW')
v('chacha 175*256KiB', file('c175', chacha(175 * 262144, 'v0-seed')), [], 'QmepeWtdmS1hHXx1oZXsPUv6bMrfRRKfZcoPPU4eEfjnbf')
v('1,000,000 zero bytes', file('zeros', Buffer.alloc(1000000)), [], 'QmXXNNbwe4zzpdMg62ZXvnX1oU7MwSrQ3vAEtuwFKCm1oD')
const aoeu = file('aoeu', 'aoeuidhtns'.repeat(200))
v('aoeuidhtns*200 -s size-4', aoeu, ['-s', 'size-4'], 'QmRo11d4QJrST47aaiGVJYwPhoNA4ihRpJ5WaxBWjWDwbX')
v('aoeuidhtns*200 -s size-4 --trickle', aoeu, ['-s', 'size-4', '--trickle'], 'QmNNhDGttafX3M1wKWixGre6PrLFGjnoPEDXjBYpTv93HP')
const flat = dir('flat'); file('flat/bar', 'hello2'); file('flat/foo', 'hello1')
v('dir {bar,foo}', flat, [], 'QmRKGpFfR32FVXdvJiHfo4WJ5TDYBsM1P9raAp1p6APWSp')
const two = dir('two'); file('two/abc/def', 'world'); file('two/bar', 'hello2'); file('two/foo', 'hello1')
v('dir {abc/def,bar,foo}', two, [], 'QmVG2ZYCkV1S4TK8URA3a4RupBF17A8yAr4FqsRDXVJASr')
const t2 = dir('w2/t'); file('w2/t/abc/def', 'world'); file('w2/t/bar', 'hello2'); file('w2/t/foo', 'hello1')
v('dir t={abc/def,bar,foo} -w', t2, ['-w'], 'QmPwsL3T5sWhDmmAWZHAzyjKtMVDS9a11aHNRqb3xoVnmg')
const t3 = dir('w3/t'); file('w3/t/.bar', 'hello2'); file('w3/t/bar', 'hello2'); file('w3/t/foo', 'hello1')
v('dir t={.bar,bar,foo} -w --hidden', t3, ['-w', '--hidden'], 'QmPXLSBX382vJDLrGakcbrZDkU3grfkjMox7EgSC9KFbtQ')
v('dir t={.bar,bar,foo} -w (hidden skipped)', t3, ['-w'], 'Qmc3nGXm1HtUVCmnXLQHvWcNwfdZGpfg2SRm1CxLf7Q2Rm')
v('"hello, world!" as foo -w', file('w4/foo', 'hello, world!'), ['-w'], 'QmVE9rNpj5doj7XHzp5zMUxD7BJgXEqx4pe3xZ3JBReWHE')
const alphabet = 'abcdefghijklmnopqrstuvwxyz01234567890-_'
function makeDir (rel, numFiles, nameLen, seed) {
  const d = dir(rel)
  const rnd = chacha(1 << 20, seed)
  let off = 0
  for (let i = 0; i < numFiles; i++) {
    let name = ''
    for (let j = 0; j < nameLen; j++) name += alphabet[rnd[off++] % alphabet.length]
    fs.writeFileSync(path.join(d, name), 'x')
  }
  return d
}
v('dir 4096 files, links-bytes = 262144 (basic)', makeDir('hamt/basic', 4096, 30, 'hamt-unixfs-v0-2015'), [], 'QmX5GtRk3TSSEHtdrykgqm4eqMEn3n2XhfkFAis5fjyZmN')
v('dir 4033 files, links-bytes = 262145 (HAMT)', makeDir('hamt/sharded', 4033, 31, 'hamt-unixfs-v0-2015'), [], 'QmeMiJzmhpJAUgynAcxTQYek5PPKgdv3qEvFsdV3XpVnvP')
console.log(JSON.stringify(vectors))
