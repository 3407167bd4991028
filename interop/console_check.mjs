// Drives the node's web console in headless Chromium (Debian's, via playwright-core) against a
// running network and checks what a user would: every page renders real data, the basics of
// accessibility hold, and no request carries a secret. Prints one JSON summary on stdout.
//
// usage: node console_check.mjs <console url> <screenshot dir> <chromium> <cid> <account> <replicas> <upload token>
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { createServer, get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const [url, shots, executablePath, cid, account, replicas, uploadToken] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
const failures = [];
const fail = (msg) => failures.push(msg);
const summary = { pages: {}, requests: 0, failures };

const requests = [];
// The node's own origin (and, later, the lying proxy's): nothing else may be asked.
const allowedHosts = new Set([new URL(url).host]);
async function newPage(viewport) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() ?? '', headers: r.headers() }));
  page.on('pageerror', (e) => fail(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') fail(`console error: ${m.text()}`); });
  return page;
}

/** Opens `hash`, waits until the page is drawn, screenshots it, returns ms to first render. */
async function visit(page, name, hash, key = name) {
  const start = Date.now();
  await page.goto(`${url}/${hash}`);
  await page.waitForSelector(`main[data-page="${name}"]`, { timeout: 20000 });
  const ms = Date.now() - start;
  const status = (await page.textContent('#status')) ?? '';
  if (status.trim()) fail(`${name}: ${status}`);
  await page.screenshot({ path: `${shots}/${key}.png`, fullPage: true });
  summary.pages[key] = { ms };
  return ms;
}

const text = (page, sel) => page.$eval(sel, (e) => e.textContent);

/** The rows of the table right after the heading that starts with `title`: cell texts. */
const tableAfter = (page, title) => page.evaluate((title) => {
  const heading = [...document.querySelectorAll('main h2, main h3')].find((x) => x.textContent.startsWith(title));
  let el = heading?.nextElementSibling;
  while (el && !el.querySelector('table')) el = el.nextElementSibling;
  if (!el) return null;
  return [...el.querySelectorAll('tbody tr')].map((r) => [...r.cells].map((c) => c.textContent));
}, title);

/** Bars of the chart labelled `label` with a non-zero height, or null without the chart. */
const barsOf = (page, label) => page.evaluate((label) => {
  const svg = document.querySelector(`svg[aria-label="${label}"]`);
  return svg ? [...svg.querySelectorAll('rect')].filter((r) => Number(r.getAttribute('height')) > 0).length : null;
}, label);

/** Whether the line chart labelled `label` has a line (two points or more). */
const hasLine = (page, label) => page.evaluate((label) => !!document.querySelector(`svg[aria-label="${label}"] polyline, svg[aria-label="${label}"] circle`), label);
const cardValue = (page, label) =>
  page.evaluate((label) => {
    const c = [...document.querySelectorAll('.card')].find((x) => x.querySelector('.label')?.textContent === label);
    return c ? c.querySelector('.value').textContent : null;
  }, label);

/** Accessibility basics on the current page. */
async function a11y(page, name) {
  const problems = await page.evaluate(() => {
    const out = [];
    for (const input of document.querySelectorAll('input, select, textarea')) {
      if (!input.labels?.length && !input.getAttribute('aria-label')) out.push(`unlabelled ${input.outerHTML.slice(0, 60)}`);
    }
    for (const svg of document.querySelectorAll('svg')) {
      if (svg.getAttribute('role') !== 'img' || !svg.getAttribute('aria-label')) out.push('chart without a label');
    }
    for (const t of document.querySelectorAll('table')) {
      if (!t.querySelector('th')) out.push('table without headers');
    }
    if (document.querySelectorAll('h1').length !== 1) out.push('not exactly one h1');
    // Contrast of every element with its own text against the first opaque background.
    const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
      const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const bg = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    let worst = 99;
    for (const el of document.querySelectorAll('body *')) {
      if (el.closest('svg')) continue;
      const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      if (!own || !el.getClientRects().length) continue;
      const fg = rgb(getComputedStyle(el).color).slice(0, 3);
      const [a, b] = [lum(fg), lum(bg(el))].sort((x, y) => y - x);
      const ratio = (a + 0.05) / (b + 0.05);
      worst = Math.min(worst, ratio);
      if (ratio < 4.5) out.push(`contrast ${ratio.toFixed(2)} for "${el.textContent.trim().slice(0, 30)}"`);
    }
    return { out, worst };
  });
  for (const p of problems.out) fail(`${name}: ${p}`);
  summary.pages[name].contrast = Number(problems.worst.toFixed(2));
}

const page = await newPage({ width: 1280, height: 900 });

// Network: real height, a committee, candidates.
const first = await visit(page, 'network', '#/network');
const height = await cardValue(page, 'Finalized height');
if (!/^#\d+$/.test(height ?? '') || Number(height.slice(1)) < 1) fail(`network: height "${height}"`);
const committee = await page.$$eval('main table', (ts) => ts[0]?.querySelectorAll('tbody tr').length ?? 0);
if (committee < 1) fail('network: no committee rows');
summary.first_render_ms = first;
await a11y(page, 'network');
// Live: the height moves without a reload.
await page.waitForFunction((h) => {
  const c = [...document.querySelectorAll('.card')].find((x) => x.querySelector('.label')?.textContent === 'Finalized height');
  return c && Number(c.querySelector('.value').textContent.slice(1)) > h;
}, Number((height ?? '#0').slice(1)), { timeout: 20000 }).catch(() => fail('network: height did not update live'));

// Keyboard: Tab reaches the skip link, the navigation and the search box, each visibly focused.
await page.goto(`${url}/#/network`);
await page.waitForSelector('main[data-page="network"]');
const focused = [];
for (let i = 0; i < 12; i++) {
  await page.keyboard.press('Tab');
  focused.push(await page.evaluate(() => {
    const e = document.activeElement;
    return { tag: e.tagName, text: (e.textContent || e.id).trim().slice(0, 20), outline: getComputedStyle(e).outlineStyle };
  }));
}
for (const want of ['Skip to content', 'Network', 'Storage', 'Market', 'Files', 'Governance', 'Upload', 'Verified mode: off', 'search-input']) {
  const hit = focused.find((f) => f.text === want);
  if (!hit) fail(`keyboard: ${want} not reachable with Tab (${JSON.stringify(focused)})`);
  else if (hit.outline === 'none') fail(`keyboard: ${want} has no visible focus`);
}
// The search box takes the user to a file.
await page.fill('#search-input', cid);
await page.press('#search-input', 'Enter');
await page.waitForSelector('main[data-page="file"]', { timeout: 20000 });

await visit(page, 'storage', '#/storage');
const workers = await cardValue(page, 'Storage workers');
if (!(Number(workers) >= Number(replicas))) fail(`storage: ${workers} workers`);
const reported = await page.$$eval('main tbody tr', (rows) => rows.filter((r) => /slot #\d+/.test(r.textContent)).length);
if (!(reported >= Number(replicas))) fail(`storage: ${reported} workers show a last report`);
// Challenge results from the chain's own record: every worker had reports accepted.
const challenges = (await tableAfter(page, 'Challenge results')) ?? [];
const answering = challenges.filter((r) => Number(r[1]) >= 1);
summary.challenge_results = challenges.map((r) => r.slice(0, 7).join(' | '));
if (answering.length < Number(replicas)) fail(`storage: challenge results ${JSON.stringify(challenges)}`);
const reportBars = await barsOf(page, 'Work reports accepted per slot');
if (!(reportBars >= 1)) fail(`storage: the reports-per-slot chart has ${reportBars} bars`);
summary.history_report_bars = reportBars;
await a11y(page, 'storage');

await visit(page, 'market', '#/market');
if (!/CRU$/.test((await cardValue(page, 'Base fee')) ?? '')) fail('market: no base fee');
// Fees and orders per slot from the chain's history (not from what this page happened to see).
if (!(await hasLine(page, 'Base fee'))) fail('market: no base fee history');
if (!(await hasLine(page, 'Byte fee (per MiB)'))) fail('market: no byte fee history');
const orderBars = await barsOf(page, 'Orders placed per slot');
if (!(orderBars >= 1)) fail(`market: the orders-per-slot chart has ${orderBars} bars`);
summary.history_order_bars = orderBars;
await a11y(page, 'market');

await visit(page, 'files', '#/files');
if (!(await page.$(`main a[href="#/file/${cid}"]`))) fail(`files: ${cid} not listed`);
await a11y(page, 'files');

await visit(page, 'file', `#/file/${cid}`);
const shown = Number(await cardValue(page, 'Replicas'));
if (!(shown >= Number(replicas))) fail(`file: ${shown} replicas shown, ${replicas} expected`);
summary.replicas_shown = shown;
// The owner of the first replica (its account page shows the rewards it earns).
const ownerOfReplica = (await page.evaluate(() => {
  const heading = [...document.querySelectorAll('main h2')].find((x) => x.textContent.startsWith('Replicas'));
  const link = heading?.nextElementSibling?.querySelector('tbody a');
  return link ? link.getAttribute('href').replace('#/account/', '') : null;
})) ?? account;
await a11y(page, 'file');

// Prepay from the file page: the key typed here signs in the browser (WebAssembly); only the
// signed transaction goes to the node, and the renewal pool grows by what was paid.
const poolBefore = await cardValue(page, 'Renewal pool');
await page.fill('#key-input', '//Alice');
await page.press('#key-input', 'Tab');
await page.waitForFunction(() => /signs as c/.test(document.querySelector('#key-address').textContent), null, { timeout: 10000 })
  .catch(() => fail('prepay: the key\'s address is not shown'));
await page.fill('#prepay-amount', '2');
await page.click('#prepay-go');
await page.waitForSelector('#sign-send', { timeout: 20000 }).catch(() => fail('prepay: nothing to review'));
const reviewText = await text(page, '#sign-review');
if (!/costs 2 CRU\. The transaction fee is /.test(reviewText)) fail(`prepay: review says "${reviewText}"`);
if (!/turn on verified mode to check it/.test(reviewText)) fail(`prepay: the review does not say the fee is unchecked: "${reviewText}"`);
await page.click('#sign-send');
await page.waitForSelector('#sign-done', { timeout: 60000 }).catch(() => {});
const doneText = (await page.$('#sign-done')) ? await text(page, '#sign-done') : '';
if (!/Included in block/.test(doneText)) fail(`prepay: ${doneText || 'no outcome shown'}`);
await page.screenshot({ path: `${shots}/prepay.png`, fullPage: true });
await page.reload(); // the same address again: reload so the page reads the chain afresh
await page.waitForSelector('main[data-page="file"]', { timeout: 20000 });
const poolAfter = await cardValue(page, 'Renewal pool');
summary.prepay = { before: poolBefore, after: poolAfter, review: reviewText.slice(0, 160), done: doneText };
if (poolAfter !== '2 CRU') fail(`prepay: the renewal pool shows ${poolAfter} (was ${poolBefore})`);

await visit(page, 'account', `#/account/${account}`);
if (!/CRU$/.test((await cardValue(page, 'Free')) ?? '')) fail('account: no balance');
if (!/CRU$/.test((await cardValue(page, 'Replica rewards to claim')) ?? '')) fail('account: no rewards shown');
if (!(await page.$(`main a[href="#/file/${cid}"]`))) fail('account: its order is not listed');
await a11y(page, 'account');
// A storage owner's page: it earned replica rewards for holding the file.
await visit(page, 'account', `#/account/${ownerOfReplica}`, 'account-storage-owner');
const earned = (await cardValue(page, 'Replica rewards to claim')) ?? '';
summary.storage_owner_rewards = earned;
if (!/CRU$/.test(earned)) fail(`account: the storage owner's rewards read "${earned}"`);

await visit(page, 'governance', '#/governance');
if (!/^\d+$/.test((await cardValue(page, 'Protocol version')) ?? '')) fail('governance: no protocol version');
await a11y(page, 'governance');

// ---- verified mode ------------------------------------------------------------------------
// The browser checks the node's answers with the WebAssembly light client: against an honest
// node every fact marked is verified; through a proxy that alters one value per answer, the
// altered facts are shown as lies.

/** Turns verified mode on with its button and waits until the committees are learned. */
async function verifiedPage(base, name) {
  const p = await newPage({ width: 1280, height: 900 });
  await p.goto(`${base}/#/governance`);
  await p.waitForSelector('main[data-page="governance"]');
  await p.click('#verify-toggle');
  await p.waitForSelector('#verify-status.ready, #verify-status.failed', { timeout: 60000 });
  const status = await text(p, '#verify-status');
  if (!(await p.$('#verify-status.ready'))) fail(`${name}: verified mode did not start: ${status}`);
  if ((await p.getAttribute('#verify-toggle', 'aria-pressed')) !== 'true') fail(`${name}: the toggle does not say it is on`);
  summary[name] = { status };
  return p;
}

/** The marks on the current page: {verified, lie, unverified}. */
const marks = (p) => p.evaluate(() => ({
  verified: document.querySelectorAll('main .mark.verified').length,
  lie: document.querySelectorAll('main .mark.lie').length,
  unverified: document.querySelectorAll('main .mark.unverified:not(.listing)').length,
  // Lists and live figures the node cannot prove yet, marked as unchecked on purpose.
  listed: document.querySelectorAll('main .mark.listing').length,
  pending: [...document.querySelectorAll('main .marks')].filter((m) => m.textContent === '…').length,
  why: [...new Set([...document.querySelectorAll('main .mark.unverified:not(.listing), main .mark.lie')].map((m) => m.title))].slice(0, 3),
}));

async function waitMarks(p, name) {
  await p.waitForFunction(() => ![...document.querySelectorAll('main .marks')].some((m) => m.textContent === '…'), null, { timeout: 60000 })
    .catch(() => fail(`${name}: checks still pending`));
  return marks(p);
}

const honest = await verifiedPage(url, 'verified');
await visit(honest, 'file', `#/file/${cid}`, 'file-verified');
const fileMarks = await waitMarks(honest, 'verified file');
if (fileMarks.verified < 3 || fileMarks.lie || fileMarks.unverified) fail(`verified file: marks ${JSON.stringify(fileMarks)}`);
await visit(honest, 'account', `#/account/${account}`, 'account-verified');
const accountMarks = await waitMarks(honest, 'verified account');
if (accountMarks.verified < 3 || accountMarks.lie || accountMarks.unverified) fail(`verified account: marks ${JSON.stringify(accountMarks)}`);
await visit(honest, 'storage', '#/storage', 'storage-verified');
const storageMarks = await marks(honest);
if (storageMarks.verified < Number(replicas) || storageMarks.lie || storageMarks.unverified) fail(`verified storage: marks ${JSON.stringify(storageMarks)}`);
await visit(honest, 'network', '#/network', 'network-verified');
await honest.waitForSelector('#slashes table', { timeout: 30000 }).catch(() => fail('network: no slashes section'));
const networkMarks = await waitMarks(honest, 'verified network');
if (networkMarks.verified < 2 || networkMarks.lie || networkMarks.unverified) fail(`verified network: marks ${JSON.stringify(networkMarks)}`);
await honest.screenshot({ path: `${shots}/network-verified.png`, fullPage: true });
await a11y(honest, 'network-verified');
// History charts are proven too.
await visit(honest, 'market', '#/market', 'market-verified');
const marketMarks = await marks(honest);
// The prices, every pot and the history: all checked.
if (marketMarks.verified < 9 || marketMarks.lie || marketMarks.unverified) fail(`verified market: marks ${JSON.stringify(marketMarks)}`);
// A listing says it is not checked rather than saying nothing.
await visit(honest, 'files', '#/files', 'files-verified');
const filesMarks = await marks(honest);
if (filesMarks.listed < 1 || filesMarks.verified || filesMarks.lie) fail(`verified files: marks ${JSON.stringify(filesMarks)}`);

const times = await honest.evaluate(() => window.__verifyTimes);
const fileTimes = times.filter((t) => t.method === 'market_file');
summary.verified.marks = { file: fileMarks, account: accountMarks, network: networkMarks, storage: storageMarks, market: marketMarks, files: filesMarks };
summary.verified.file_check_ms = Math.max(...fileTimes.map((t) => t.check_ms));
summary.verified.file_total_ms = Math.max(...fileTimes.map((t) => t.total_ms));
summary.verified.checks = times.length;
const wasm = Buffer.from(await (await fetch(`${url}/console/verifier.wasm`)).arrayBuffer());
summary.verified.wasm_bytes = wasm.length;
summary.verified.wasm_gzip_bytes = gzipSync(wasm, { level: 9 }).length;
if (summary.verified.wasm_gzip_bytes >= 1 << 20) fail(`the verifier is ${summary.verified.wasm_gzip_bytes} bytes compressed`);
// What goes over the wire to a browser that takes gzip.
const wire = await new Promise((ok, no) => httpGet(`${url}/console/verifier.wasm`, { headers: { 'accept-encoding': 'gzip, deflate, br' } }, (res) => {
  const parts = [];
  res.on('data', (c) => parts.push(c));
  res.on('end', () => ok({ encoding: res.headers['content-encoding'], bytes: Buffer.concat(parts).length }));
}).on('error', no));
summary.verified.wasm_wire = wire;
if (wire.encoding !== 'gzip' || wire.bytes >= 1 << 20) fail(`the verifier goes over the wire as ${JSON.stringify(wire)}`);

// The storage owner claims its replica rewards, signed in the browser with the fee checked
// under a certified root first.
await visit(honest, 'account', `#/account/${ownerOfReplica}`, 'account-claim');
if (!(await honest.$('#claim-go'))) {
  fail(`claim: no claim form on ${ownerOfReplica}'s page (rewards ${earned})`);
} else {
  let keyOk = false;
  for (const suri of ['//Alice//stash', '//Bob//stash', '//Charlie//stash', '//Eve']) {
    await honest.fill('#key-input', suri);
    await honest.press('#key-input', 'Tab');
    await honest.waitForFunction(() => /signs as c/.test(document.querySelector('#key-address').textContent), null, { timeout: 10000 }).catch(() => {});
    if ((await text(honest, '#key-address')).includes(ownerOfReplica)) { keyOk = true; break; }
  }
  if (!keyOk) fail(`claim: none of the devnet's owner keys is ${ownerOfReplica}`);
  await honest.click('#claim-go');
  await honest.waitForSelector('#sign-send', { timeout: 30000 }).catch(() => fail('claim: nothing to review'));
  const claimReview = await text(honest, '#sign-review');
  if (!/Claiming .* CRU of replica rewards/.test(claimReview)) fail(`claim: review says "${claimReview}"`);
  if (!(await honest.$('#fee-checked.verified'))) fail(`claim: the fee was not verified before signing: "${claimReview}"`);
  await honest.click('#sign-send');
  await honest.waitForSelector('#sign-done', { timeout: 60000 }).catch(() => {});
  const claimDone = (await honest.$('#sign-done')) ? await text(honest, '#sign-done') : '';
  if (!/Included in block/.test(claimDone)) fail(`claim: ${claimDone || 'no outcome shown'}`);
  await honest.screenshot({ path: `${shots}/claim.png`, fullPage: true });
  await honest.reload();
  await honest.waitForSelector('main[data-page="account"]', { timeout: 20000 });
  summary.claim = { before: earned, after: await cardValue(honest, 'Replica rewards to claim'), review: claimReview.slice(0, 200), done: claimDone };
}


// A node that lies: a proxy in front of it adds a replica to a file, raises a balance and a
// stake limit in the answers it passes on (everything else, the WebSocket too, unchanged).
const target = new URL(url);
const lies = {
  market_file: (r) => { if (r?.file?.replicas?.length) r.file.replicas.push({ ...r.file.replicas[0], who: r.file.orderer }); },
  state_account: (r) => { if (r?.free !== undefined) r.free = (BigInt(r.free) + 10n ** 15n).toString(); },
  staking_validators: (r) => { if (r?.candidates?.length) r.candidates[0].stake_limit = (BigInt(r.candidates[0].stake_limit) + 10n ** 15n).toString(); },
};
const proxy = createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks);
  const upstream = await fetch(`${url}${req.url}`, { method: req.method, headers: { 'content-type': req.headers['content-type'] ?? 'application/json' }, body: req.method === 'POST' ? body : undefined });
  let out = Buffer.from(await upstream.arrayBuffer());
  if (req.method === 'POST') {
    const method = JSON.parse(body.toString()).method;
    if (lies[method]) {
      const reply = JSON.parse(out.toString().replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"'));
      lies[method](reply.result);
      out = Buffer.from(JSON.stringify(reply));
    }
  }
  const headers = {};
  for (const [k, v] of upstream.headers) if (!['content-length', 'content-encoding', 'transfer-encoding'].includes(k)) headers[k] = v;
  res.writeHead(upstream.status, headers);
  res.end(out);
});
proxy.on('upgrade', (req, socket, head) => {
  const up = connect(Number(target.port), target.hostname, () => {
    up.write(`${req.method} ${req.url} HTTP/1.1\r\n${Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`);
    up.write(head);
    socket.pipe(up).pipe(socket);
  });
  up.on('error', () => socket.destroy());
  socket.on('error', () => up.destroy());
});
await new Promise((ok) => proxy.listen(0, '127.0.0.1', ok));
const liar = `http://127.0.0.1:${proxy.address().port}`;
allowedHosts.add(new URL(liar).host);
const tampered = await verifiedPage(liar, 'tampered');
const expectLie = async (name, hash, key) => {
  await tampered.goto(`${liar}/${hash}`);
  await tampered.waitForSelector(`main[data-page="${name}"]`, { timeout: 20000 });
  const m = await waitMarks(tampered, key);
  const status = (await text(tampered, '#status')) ?? '';
  await tampered.screenshot({ path: `${shots}/${key}.png`, fullPage: true });
  summary.tampered[key] = { marks: m, status: status.slice(0, 200) };
  if (!m.lie || !/lied/.test(status)) fail(`${key}: the altered answer was not flagged (${JSON.stringify(m)}, "${status}")`);
};
await expectLie('file', `#/file/${cid}`, 'file-tampered');
await expectLie('account', `#/account/${account}`, 'account-tampered');
await expectLie('network', '#/network', 'network-tampered');
proxy.close();

// ---- upload -------------------------------------------------------------------------------
// A folder chosen in the upload page goes to the pinning service with the user's token, is
// added, ordered and followed live until the service says it is pinned (proven replicas).
const up = await newPage({ width: 1280, height: 900 });
await visit(up, 'upload', '#/upload');
await a11y(up, 'upload');
// A dropped file is taken (a scripted drop hands over plain files).
await up.evaluate(() => {
  const dt = new DataTransfer();
  dt.items.add(new File(['dropped'], 'dropped.txt', { type: 'text/plain' }));
  document.querySelector('#upload-drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
});
await up.waitForFunction(() => /^1 file/.test(document.querySelector('#upload-chosen').textContent), null, { timeout: 5000 })
  .catch(() => fail('upload: a dropped file was not taken'));
const folder = mkdtempSync(join(tmpdir(), 'console-upload-'));
mkdirSync(join(folder, 'site', 'img'), { recursive: true });
writeFileSync(join(folder, 'site', 'index.html'), `<h1>uploaded from the console ${Date.now()}</h1>`);
writeFileSync(join(folder, 'site', 'img', 'noise.bin'), randomBytes(200_000));
await up.setInputFiles('#upload-folder', join(folder, 'site'));
await up.fill('#upload-token', uploadToken);
const uploadStart = Date.now();
await up.click('#upload-go');
await up.waitForFunction(() => /Done: every upload/.test(document.querySelector('#upload-steps').textContent), null, { timeout: 240000 })
  .catch(() => {});
const steps = await text(up, '#upload-steps');
summary.upload = { ms: Date.now() - uploadStart, steps: steps.slice(0, 400) };
if (!/Done: every upload/.test(steps)) fail(`upload: not pinned: ${steps}`);
const proven = Number((steps.match(/(\d+) proven replica/) ?? [])[1] ?? 0);
summary.upload.replicas = proven;
if (!(proven >= 1)) fail(`upload: no proven replica shown: ${steps}`);
if (!/Added site: /.test(steps)) fail(`upload: the folder's root was not added: ${steps}`);
await up.screenshot({ path: `${shots}/upload.png`, fullPage: true });
allowedHosts.add(new URL(JSON.parse(await (await fetch(`${url}/console/info.json`)).text()).pinning).host);

// A phone-sized screen: the network page still fits without sideways scrolling.
const phone = await newPage({ width: 390, height: 844 });
await visit(phone, 'network', '#/network', 'network-phone');
const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
if (overflow > 2) fail(`phone: page is ${overflow}px wider than the screen`);

// Secrets never leave the browser; everything goes to the node's own origin.
const nodeHost = new URL(url).host;
for (const r of requests) {
  if (!allowedHosts.has(new URL(r.url).host)) fail(`request to another host: ${r.url}`);
  // The upload token goes to the pinning service only, never to the node.
  if (new URL(r.url).host === nodeHost && (r.headers.authorization || `${r.url} ${r.body}`.includes(uploadToken))) {
    fail(`a request to the node carries the upload token: ${r.method} ${r.url}`);
  }
  const all = `${r.url} ${r.body}`;
  if (/\/\/[A-Z][a-z]+/.test(decodeURIComponent(all.replace(/^https?:\/\/[^/]+/, ''))) || /seed|secret|mnemonic|phrase|private/i.test(r.body)) {
    fail(`a request carries something secret-looking: ${all.slice(0, 120)}`);
  }
}
summary.requests = requests.length;
await browser.close();
console.log(JSON.stringify(summary));
process.exit(failures.length ? 1 : 0);
