// Drives the node's web console in headless Chromium (Debian's, via playwright-core) against a
// running network and checks what a user would: every page renders real data, the basics of
// accessibility hold, and no request carries a secret. Prints one JSON summary on stdout.
//
// usage: node console_check.mjs <console url> <screenshot dir> <chromium> <cid> <account> <replicas>
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [url, shots, executablePath, cid, account, replicas] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
const failures = [];
const fail = (msg) => failures.push(msg);
const summary = { pages: {}, requests: 0, failures };

const requests = [];
async function newPage(viewport) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() ?? '' }));
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
for (let i = 0; i < 9; i++) {
  await page.keyboard.press('Tab');
  focused.push(await page.evaluate(() => {
    const e = document.activeElement;
    return { tag: e.tagName, text: (e.textContent || e.id).trim().slice(0, 20), outline: getComputedStyle(e).outlineStyle };
  }));
}
for (const want of ['Skip to content', 'Network', 'Storage', 'Market', 'Files', 'Governance', 'search-input']) {
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
await a11y(page, 'storage');

await visit(page, 'market', '#/market');
if (!/CRU$/.test((await cardValue(page, 'Base fee')) ?? '')) fail('market: no base fee');
await a11y(page, 'market');

await visit(page, 'files', '#/files');
if (!(await page.$(`main a[href="#/file/${cid}"]`))) fail(`files: ${cid} not listed`);
await a11y(page, 'files');

await visit(page, 'file', `#/file/${cid}`);
const shown = Number(await cardValue(page, 'Replicas'));
if (!(shown >= Number(replicas))) fail(`file: ${shown} replicas shown, ${replicas} expected`);
summary.replicas_shown = shown;
await a11y(page, 'file');

await visit(page, 'account', `#/account/${account}`);
if (!/CRU$/.test((await cardValue(page, 'Free')) ?? '')) fail('account: no balance');
if (!(await page.$(`main a[href="#/file/${cid}"]`))) fail('account: its order is not listed');
await a11y(page, 'account');

await visit(page, 'governance', '#/governance');
if (!/^\d+$/.test((await cardValue(page, 'Protocol version')) ?? '')) fail('governance: no protocol version');
await a11y(page, 'governance');

// A phone-sized screen: the network page still fits without sideways scrolling.
const phone = await newPage({ width: 390, height: 844 });
await visit(phone, 'network', '#/network', 'network-phone');
const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
if (overflow > 2) fail(`phone: page is ${overflow}px wider than the screen`);

// Secrets never leave the browser; everything goes to the node's own origin.
const host = new URL(url).host;
for (const r of requests) {
  if (new URL(r.url).host !== host) fail(`request to another host: ${r.url}`);
  const all = `${r.url} ${r.body}`;
  if (/\/\/[A-Z][a-z]+/.test(decodeURIComponent(all.replace(/^https?:\/\/[^/]+/, ''))) || /seed|secret|mnemonic|phrase|private/i.test(r.body)) {
    fail(`a request carries something secret-looking: ${all.slice(0, 120)}`);
  }
}
summary.requests = requests.length;
await browser.close();
console.log(JSON.stringify(summary));
process.exit(failures.length ? 1 : 0);
