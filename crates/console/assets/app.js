// The console: a single-page app over the node's JSON-RPC (POST /) and WebSocket (/ws).
// No framework, no build step, no third-party code: everything here is served by the node.
// It never asks for, holds or sends a secret key.

import { keyAddress, parseJson, signAction, submitAndWait, verified } from './verify.js';

const $ = (sel) => document.querySelector(sel);

// ---- DOM ----------------------------------------------------------------------------------

/** Builds an element: h('a', {href: '#/x'}, 'text', child, …). Text is never parsed as HTML. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElementNS(
    ['svg', 'polyline', 'rect', 'text', 'line', 'title', 'circle'].includes(tag) ? 'http://www.w3.org/2000/svg' : 'http://www.w3.org/1999/xhtml',
    tag,
  );
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    // Styles go through the CSSOM: the page's policy forbids style attributes.
    if (k === 'style') Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces `el`'s children with `children`, skipping the absent ones (null, false). */
function show(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function table(headers, rows, caption) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', { class: 'muted' }, caption) : null,
      h('thead', {}, h('tr', {}, headers.map(([label, cls]) => h('th', { scope: 'col', class: cls }, label)))),
      h('tbody', {}, rows.length
        ? rows.map((r) => h('tr', {}, r.map((cell, i) => h('td', { class: headers[i][1] }, cell))))
        : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, 'none')))));
}

function card(label, value, extra) {
  return h('div', { class: 'card' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), extra);
}

function progress(fraction, label) {
  const pct = Math.max(0, Math.min(100, fraction * 100));
  return h('div', { class: 'progress', role: 'progressbar', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct.toFixed(0) },
    h('span', { style: { width: `${pct.toFixed(1)}%` } }));
}

/** A line chart of `points` ([x, y]) as inline SVG, labelled for screen readers. */
function lineChart(points, label, unit) {
  const w = 1000, hgt = 170, pad = 30;
  const svg = h('svg', { class: 'chart', viewBox: `0 0 ${w} ${hgt}`, role: 'img', 'aria-label': label });
  if (points.length === 0) {
    svg.append(h('text', { x: 10, y: 20 }, `${label}: waiting for data`));
    return svg;
  }
  if (points.length === 1) {
    const [[x, y]] = points;
    svg.append(h('circle', { cx: w / 2, cy: hgt / 2, r: 5 }, h('title', {}, `#${x}: ${fmtNum(y)} ${unit}`)));
    svg.append(h('text', { x: 4, y: 14 }, `${label}: ${fmtNum(y)} ${unit} at #${x} (one point so far)`));
    return svg;
  }
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [0, Math.max(...ys, 1)];
  const sx = (x) => pad + ((x - x0) / Math.max(x1 - x0, 1)) * (w - 2 * pad);
  const sy = (y) => hgt - pad + 8 - ((y - y0) / (y1 - y0)) * (hgt - 2 * pad);
  svg.append(h('polyline', { points: points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ') }));
  svg.append(h('text', { x: 4, y: 14 }, `${label} (max ${fmtNum(y1)} ${unit})`));
  svg.append(h('text', { x: pad, y: hgt - 4 }, `#${x0}`));
  svg.append(h('text', { x: w - pad - 40, y: hgt - 4 }, `#${x1}`));
  return svg;
}

/** A histogram of counts by bucket label. */
function barChart(buckets, label) {
  const w = 1000, hgt = 170, pad = 24;
  const svg = h('svg', { class: 'chart', viewBox: `0 0 ${w} ${hgt}`, role: 'img', 'aria-label': label });
  const max = Math.max(1, ...buckets.map((b) => b[1]));
  const bw = Math.min(80, (w - 2 * pad) / Math.max(buckets.length, 1));
  const every = Math.ceil(buckets.length / 10); // labels that fit
  buckets.forEach(([name, n], i) => {
    const bh = (n / max) * (hgt - 2 * pad);
    svg.append(h('rect', { x: pad + i * bw + 2, y: hgt - pad - bh, width: Math.max(bw - 4, 1), height: bh }, h('title', {}, `${name}: ${n}`)));
    if (i % every === 0) svg.append(h('text', { x: pad + i * bw + 2, y: hgt - 6 }, `${name}`));
  });
  svg.append(h('text', { x: 4, y: 14 }, `${label} (max ${max})`));
  return svg;
}

// ---- formatting ---------------------------------------------------------------------------

const UNITS = 10n ** 12n;

/** A balance (decimal string or number of 10⁻¹² CRU) as "1 234.5678 CRU"; amounts under
 * one CRU keep four significant digits ("0.000012 CRU"), so small fees do not read as 0. */
function cru(v) {
  let n;
  try { n = BigInt(v ?? 0); } catch { return String(v); }
  const neg = n < 0n; if (neg) n = -n;
  const wholeN = n / UNITS;
  const whole = wholeN.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
  let frac = (n % UNITS).toString().padStart(12, '0');
  if (wholeN > 0n) frac = frac.slice(0, 4);
  else {
    const lead = frac.search(/[1-9]/);
    frac = lead < 0 ? '' : frac.slice(0, Math.min(12, lead + 4));
  }
  frac = frac.replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac ? '.' + frac : ''} CRU`;
}

function bytes(v) {
  let n = Number(v ?? 0);
  for (const u of ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']) {
    if (n < 1024 || u === 'PiB') return `${u === 'B' ? n : n.toFixed(1)} ${u}`;
    n /= 1024;
  }
}

const fmtNum = (n) => (Number.isInteger(n) ? n : Number(n).toFixed(1)).toLocaleString('en');
const short = (s) => (s && s.length > 20 ? `${s.slice(0, 8)}…${s.slice(-6)}` : s ?? '');
const accountLink = (a) => h('a', { href: `#/account/${a}`, class: 'mono', title: a }, short(a));
const cidLink = (c) => h('a', { href: `#/file/${c}`, class: 'mono', title: c }, short(c));

/** Balance series (in 10⁻¹² CRU) scaled to one readable unit: [points, unit]. Fees can be
 * a trillionth of a CRU, so the unit follows the largest value. */
function cruSeries(points) {
  const max = Math.max(0, ...points.map((p) => Number(BigInt(p[1] ?? 0))));
  const [unit, exp] = [['CRU', 12], ['mCRU', 9], ['µCRU', 6], ['nCRU', 3], ['pCRU', 0]].find(([, e]) => max >= 10 ** e) ?? ['pCRU', 0];
  return [points.map(([x, v]) => [x, Number(BigInt(v ?? 0)) / 10 ** exp]), unit];
}

/** Byte series scaled to one readable unit: [points, unit]. */
function byteSeries(points) {
  const max = Math.max(0, ...points.map((p) => p[1]));
  let unit = 0;
  while (unit < 5 && max >= 1024 ** (unit + 1)) unit++;
  return [points.map(([x, y]) => [x, y / 1024 ** unit]), ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'][unit]];
}

// ---- RPC ----------------------------------------------------------------------------------


let rpcId = 0;
const requests = [];
async function rpc(method, params = {}) {
  const body = JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params });
  requests.push(method);
  const res = await fetch('/', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const reply = parseJson(await res.text());
  if (reply.error) throw new Error(`${method}: ${reply.error.message}`);
  return reply.result;
}

let info = { accounts: {}, gateway: null, version: '' };
let chainInfo = null;

// ---- live heads -----------------------------------------------------------------------------

const heads = []; // {height, timestamp_ms, seen}: blocks this page saw finalized
const earlier = new Map(); // height → timestamp_ms of recent blocks fetched on opening
const HEADS_KEPT = 120;
let socket = null;
let onHead = () => {};

function connect(delay = 500) {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  socket = new WebSocket(url);
  socket.onopen = () => {
    socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'chain_subscribeFinalizedHeads', params: {} }));
    delay = 500;
  };
  socket.onmessage = (m) => {
    const msg = parseJson(m.data);
    if (msg.method !== 'chain_finalizedHead') return;
    const head = msg.params.result;
    heads.push({ height: head.height, timestamp_ms: Number(head.timestamp_ms), seen: Date.now(), txs: head.transactions.length });
    while (heads.length > HEADS_KEPT) heads.shift();
    while (earlier.size > 2 * HEADS_KEPT) earlier.delete(earlier.keys().next().value);
    $('#live').textContent = `live · finalized #${head.height}`;
    onHead(head);
  };
  socket.onclose = () => {
    $('#live').textContent = 'disconnected · retrying';
    setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
  };
}

// ---- verified mode --------------------------------------------------------------------------

/** A mark beside a fact: checked in this browser, contradicted by the node's own proofs, or
 * not checked (verified mode off, or the check could not run). */
function mark(result) {
  if (!result) return null;
  if (result.ok) {
    return h('span', { class: 'mark verified', title: `Checked in this browser under block #${result.height}, certified by era ${result.era}'s committee` }, '✓ verified');
  }
  if (result.lie) return h('span', { class: 'mark lie', title: result.message }, '✗ the node lied');
  return h('span', { class: 'mark unverified', title: result.message }, '? not verified');
}

/** In verified mode, the mark of a list drawn from an answer that cannot be proven yet: what the
 * node left out of a range scan is not provable key by key, so the list is said to be unchecked
 * rather than left unmarked (each item's own page, or its row's mark, is checked). */
function listMark(what = 'This list') {
  return unchecked('? list not checked', `${what} comes from a listing the node cannot prove complete yet (range scans are not provable key by key); it is not checked. Each item’s own page or mark is.`);
}

/** In verified mode, a fact shown as the node states it (known, and said, to be unchecked). */
function unchecked(label, why) {
  return verified.enabled() ? h('span', { class: 'mark unverified listing', title: why }, label) : null;
}

/** Says loudly that the node contradicted its proofs. */
function reportLie(what, message) {
  $('#status').textContent = `This node lied about ${what}: ${message}`;
}

/** `method` with proofs, checked, in verified mode; the plain answer otherwise. */
async function proven(method, params, what) {
  if (!verified.enabled()) return { answer: await rpc(method, params), result: null };
  const r = await verified.check(method, params);
  if (r.result && !r.result.ok && r.result.lie) reportLie(what, r.result.message);
  return r;
}

/** A verified value against what another (unproven) answer showed. */
function agree(result, shown, proven, what) {
  if (!result || !result.ok) return result;
  if (JSON.stringify(shown) === JSON.stringify(proven)) return result;
  const message = `the page was told ${JSON.stringify(shown)}, the proofs show ${JSON.stringify(proven)}`;
  reportLie(what, message);
  return { ok: false, lie: true, message };
}

function showVerifyStatus() {
  const on = verified.enabled();
  const button = $('#verify-toggle');
  button.setAttribute('aria-pressed', on ? 'true' : 'false');
  button.textContent = on ? 'Verified mode: on' : 'Verified mode: off';
  const line = $('#verify-status');
  line.textContent = on ? verified.message || 'Verified mode: starting…' : '';
  line.className = verified.state;
}

/** The chain's own per-slot record (kept in state from protocol version 3 on; proven and
 * checked in verified mode): closed slots oldest first, and the slot in progress. */
async function history() {
  const { answer, result } = await proven('network_history', { limit: 60 }, 'the network history');
  const hist = answer.history;
  const slots = [...hist.slots].reverse();
  /** Bars per closed slot of `f(record)`, and the slot in progress last ("now"). */
  const perSlot = (f) => [...slots.map((r) => [`#${r.slot}`, f(r)]), ...(slots.length || hist.current.slot ? [['now', f(hist.current)]] : [])];
  return { slots, current: hist.current, slotBlocks: hist.slot_blocks, result, perSlot };
}

/** A line for an empty history: what it means. */
const noHistory = () => h('p', { class: 'muted' }, 'No slot has closed yet under a protocol version that keeps the chain’s history (version 3 on).');

// ---- pages --------------------------------------------------------------------------------

/** The last `n` blocks' timestamps, so the block-interval chart has data at once. */
async function backfill(head, n) {
  const want = [];
  for (let x = Math.max(1, head - n + 1); x <= head; x++) if (!earlier.has(x)) want.push(x);
  const blocks = await Promise.all(want.map((height) => rpc('chain_block', { height, bodies: false, receipts: false }).catch(() => null)));
  for (const b of blocks) if (b) earlier.set(b.height, Number(b.timestamp_ms));
}

async function networkPage(main) {
  const [head, view] = await Promise.all([rpc('chain_head'), rpc('staking_validators')]);
  const eraBlocks = chainInfo.era_blocks;
  const slotBlocks = chainInfo.slot_blocks;
  const stakeOf = new Map((view.committee ?? []).map((m) => [m.stash, m.stake]));
  const maxBar = [...view.candidates.map((c) => BigInt(c.stake_limit)), ...view.candidates.map((c) => BigInt(c.bonded)), 1n]
    .reduce((a, b) => (a > b ? a : b));
  const bar = (v, cls, label) => h('div', { class: `bar ${cls}`, style: { width: `${Number((BigInt(v) * 1000n) / maxBar) / 10}%` }, title: `${label}: ${cru(v)}` });
  const cards = h('div', { class: 'cards', id: 'network-cards' });
  const charts = h('div', { id: 'network-charts' });
  const render = () => {
    const last = heads[heads.length - 1];
    const height = last ? last.height : head.height;
    const lag = last ? Math.max(0, Date.now() - last.timestamp_ms) : null;
    const inEra = height % eraBlocks;
    for (const x of heads) earlier.set(x.height, x.timestamp_ms);
    const times = [...earlier.entries()].sort((a, b) => a[0] - b[0]).slice(-HEADS_KEPT);
    const span = times.length > 1 ? (times[times.length - 1][1] - times[0][1]) / 1000 : 0;
    const bps = span > 0 ? (times[times.length - 1][0] - times[0][0]) / span : null;
    show(cards,
      card('Finalized height', `#${height}`, unchecked('? live, not checked', 'The newest height as the node’s WebSocket announces it; the facts marked ✓ are checked under blocks its validators certified.')),
      card('Finality lag', lag === null ? '…' : `${(lag / 1000).toFixed(1)} s`, h('div', { class: 'muted' }, 'since the newest block’s timestamp')),
      card('Blocks per second', bps === null ? '…' : bps.toFixed(2)),
      card(`Era ${view.era}`, `${inEra} / ${eraBlocks}`, progress(inEra / eraBlocks, 'Era progress')),
      slotBlocks ? card(`Report slot #${height - (height % slotBlocks)}`, `${height % slotBlocks} / ${slotBlocks}`, progress((height % slotBlocks) / slotBlocks, 'Report slot progress')) : null,
      card('Committee', `${(view.committee ?? []).length} validators`, h('div', { class: 'muted' }, view.next_committee ? 'next era elected' : 'next era not yet elected')),
    );
    const intervals = [];
    for (let i = 1; i < times.length; i++) {
      if (times[i][0] === times[i - 1][0] + 1) intervals.push([times[i][0], times[i][1] - times[i - 1][1]]);
    }
    const latency = heads.map((x) => [x.height, Math.max(0, x.seen - x.timestamp_ms)]);
    charts.replaceChildren(
      h('h2', {}, 'Block interval and finality latency'),
      lineChart(intervals, 'Block interval', 'ms'),
      lineChart(latency, 'Finality latency seen by this browser', 'ms'),
    );
  };
  render();
  onHead = render;
  // Recent blocks' timestamps fill the interval chart after the first paint.
  backfill(head.height, 40).then(() => { if (onHead === render) render(); });
  const members = (list) => table([['Stash'], ['Stake', 'num']], (list ?? []).map((m) => [accountLink(m.stash), cru(m.stake)]));
  const committeeMark = h('span', { class: 'marks' });
  const limitMarks = new Map(view.candidates.map((c) => [c.stash, h('span', { class: 'marks' }, verified.enabled() ? '…' : '—')]));
  if (verified.enabled()) {
    // The committee and every stake limit shown, checked against the proven state.
    (async () => {
      const c = await proven('staking_committee', { era: view.era }, `the committee of era ${view.era}`);
      const shown = (view.committee ?? []).map((m) => [m.stash, String(m.stake)]);
      const provenList = c.result && c.result.ok ? (c.result.value.committee.members ?? []).map((m) => [m.stash, String(m.stake)]) : null;
      committeeMark.replaceChildren(mark(agree(c.result, shown, provenList, `the committee of era ${view.era}`)) ?? '');
      for (const cand of view.candidates) {
        const r = await proven('staking_stakeLimit', { stash: cand.stash }, `${cand.stash}'s stake limit`);
        const value = r.result && r.result.ok ? String(r.result.value.stake_limit.stake_limit) : null;
        limitMarks.get(cand.stash).replaceChildren(mark(agree(r.result, String(cand.stake_limit), value, `${cand.stash}'s stake limit`)) ?? '');
      }
    })();
  }
  const slashes = h('section', { id: 'slashes' }, h('h2', {}, 'Slashes'), h('p', { class: 'muted' }, 'Loading…'));
  // After the first paint: pending slashes (proven) and the slots that saw offences.
  (async () => {
    try {
      const hist = await history();
      // Every page of eras a pending slash may wait in (each page proven on its own).
      const pages = [];
      for (let from = null, n = 0; n < 16; n++) {
        const page = await proven('staking_slashes', from === null ? {} : { from }, 'the pending slashes');
        pages.push(page);
        if (page.answer.pending.next == null) break;
        from = page.answer.pending.next;
      }
      const s = pages[0].answer;
      const result = pages.map((p) => p.result).find((r) => r && !r.ok) ?? pages[0].result;
      const pending = pages.flatMap((p) => p.answer.pending.eras.flatMap((e) => e.slashes.map((x) => [e.era, x])));
      const recent = hist.slots.filter((r) => r.offences > 0 || BigInt(r.slashed ?? 0) > 0n).reverse();
      const guarantors = (x) => x.others.reduce((sum, o) => sum + BigInt(o.value), 0n);
      slashes.replaceChildren(
        h('h2', {}, 'Slashes'),
        h('p', { class: 'muted' }, 'A reported offence (conflicting consensus votes, for one) chills the validator at once; its slash waits some eras so governance can cancel it, then moves bonded stake, the validator’s and its guarantors’, to the treasury.'),
        h('h3', {}, `Pending (after era ${s.pending.active_era}) `, mark(result)),
        table([['Applied at era', 'num'], ['Validator'], ['Own', 'num'], ['Guarantors', 'num'], ['Reporters’ reward', 'num']],
          pending.map(([era, x]) => [String(era), accountLink(x.validator), cru(x.own), cru(guarantors(x)), cru(x.payout)])),
        h('h3', {}, 'Slots with offences or slashes ', mark(hist.result)),
        table([['Slot', 'num'], ['Offences reported', 'num'], ['Stake slashed', 'num']],
          recent.map((r) => [`#${r.slot}`, r.offences, cru(r.slashed)]),
          hist.slots.length ? `Of the last ${hist.slots.length} slot(s) (#${hist.slots[0].slot} to #${hist.slots[hist.slots.length - 1].slot}).` : null),
      );
    } catch (e) {
      slashes.replaceChildren(h('h2', {}, 'Slashes'), h('p', { class: 'bad' }, `Could not load: ${e.message}`));
    }
  })();
  show(main,
    h('h1', {}, 'Network'),
    cards,
    charts,
    h('h2', {}, `Committee of era ${view.era} `, committeeMark),
    members(view.committee),
    h('h2', {}, 'Next committee'),
    view.next_committee ? members(view.next_committee) : h('p', { class: 'muted' }, 'Elected one slot before the era starts.'),
    h('h2', {}, 'Validators: stake limit against stake ', listMark('The validator list (bond, effective stake, commission)')),
    h('p', { class: 'muted' }, 'The stake limit comes from the storage the validator’s group proves; stake above it does not count.'),
    table(
      [['Stash'], ['Bonded', 'num'], ['Stake limit', 'num'], ['Limit checked'], ['Effective own', 'num'], ['In committee'], ['Commission', 'num'], ['Limit vs bond']],
      view.candidates.map((c) => [
        accountLink(c.stash), cru(c.bonded), cru(c.stake_limit), limitMarks.get(c.stash), cru(c.effective_own),
        stakeOf.has(c.stash) ? cru(stakeOf.get(c.stash)) : h('span', { class: 'muted' }, 'no'),
        `${(c.commission_ppb / 1e7).toFixed(1)}%`,
        h('div', { class: 'bars' }, bar(c.stake_limit, 'limit', 'stake limit'), bar(c.bonded, '', 'bonded')),
      ]),
    ),
    slashes,
  );
}

async function storagePage(main) {
  const rows = [];
  let after = null, total = 0n;
  for (let page = 0; page < 10; page++) {
    const r = await rpc('swork_peers', after ? { after } : {});
    for (const p of r.peers) {
      rows.push(p);
      total += BigInt(p.files_size ?? 0);
    }
    if (!r.next) break;
    after = r.next;
  }
  // Each worker's identity and last accepted report (proven and checked in verified mode).
  const workers = await Promise.all(rows.map((p) =>
    proven('swork_worker', { account: p.account }, `${p.account}'s work report`).catch((e) => ({ answer: { worker: null }, result: { ok: false, lie: false, message: e.message } }))));
  let srd = 0n;
  for (const w of workers) srd += BigInt(w.answer.worker?.report?.free ?? 0);
  const hist = await history();
  const consolidated = hist.slots.filter((r) => r.storage);
  const [filesSeries, filesUnit] = byteSeries(consolidated.map((r) => [r.slot, Number(BigInt(r.storage.files))]));
  const [srdSeries, srdUnit] = byteSeries(consolidated.map((r) => [r.slot, Number(BigInt(r.storage.free))]));
  const record = (w) => w.answer.worker?.record;
  const refusal = (f) => (f ? `slot #${f.slot}, challenge ${f.challenge}: ${f.why}` : '—');
  const head = heads.length ? heads[heads.length - 1].height : null;
  const kind = (identity) => {
    const k = Object.keys(identity?.attestation ?? {})[0] ?? '—';
    return k === 'SgxDcap' ? 'SGX (DCAP quote)' : k === 'Authorities' ? 'authorities' : k;
  };
  show(main,
    h('h1', {}, 'Storage'),
    h('div', { class: 'cards' },
      card('Storage workers', rows.length),
      card('Files they reported', bytes(total)),
      card('Spare space proven (SRD)', bytes(srd))),
    h('h2', {}, 'Workers ', listMark('The list of storage workers')),
    table([['Account'], ['Attestation'], ['Files', 'num'], ['SRD', 'num'], ['Last report', 'num'], ['Group'], ['Checked'], ['Peer ID'], ['Addresses']],
      rows.map((p, i) => {
        const w = workers[i].answer.worker;
        const r = w?.report;
        return [
          accountLink(p.account),
          w ? kind(w.identity) : h('span', { class: 'muted' }, 'not registered'),
          r ? `${bytes(r.reported_files_size)} (${r.files_count})` : bytes(p.files_size),
          r ? bytes(r.free) : '—',
          r ? `slot #${r.report_slot}${head !== null ? ` (${head - r.report_slot} blocks ago)` : ''}` : 'none yet',
          w?.identity?.group ? accountLink(w.identity.group) : '—',
          mark(workers[i].result) ?? '—',
          h('span', { class: 'mono' }, short(p.peer_id)),
          h('span', { class: 'mono' }, (p.addrs ?? []).join(' ')),
        ];
      })),
    h('h2', {}, 'Challenge results'),
    h('p', { class: 'muted' }, 'Each accepted report answered the chain’s challenges on replicas and spare space the previous report committed to. A wrong answer refuses the report (its fee is still paid); a slot without an accepted report drops the worker’s replicas. New replicas earn only once proven.'),
    table([['Account'], ['Reports accepted', 'num'], ['Challenges answered', 'num'], ['Refused', 'num'], ['Last refusal'], ['Missed slots', 'num'], ['New replicas proven', 'num'], ['Dropped unproven', 'num'], ['Checked']],
      rows.map((p, i) => {
        const rec = record(workers[i]);
        if (!rec) return [accountLink(p.account), '—', '—', '—', '—', '—', '—', '—', mark(workers[i].result) ?? '—'];
        return [
          accountLink(p.account),
          rec.reports,
          `${rec.replica_challenges + rec.srd_challenges} (${rec.replica_challenges} replica, ${rec.srd_challenges} SRD)`,
          h('span', { class: rec.failed_reports ? 'bad' : '' }, String(rec.failed_reports)),
          refusal(rec.last_failure),
          rec.missed_reports ? `${rec.missed_reports} (last #${rec.last_missed})` : '0',
          rec.replicas_proven,
          rec.replicas_unproven,
          mark(workers[i].result) ?? '—',
        ];
      })),
    h('h2', {}, 'Network over time ', mark(hist.result)),
    hist.slots.length ? null : noHistory(),
    h('p', { class: 'muted' }, `One point per ${hist.slotBlocks}-block report slot, from the chain’s own record. This slot so far: ${hist.current.reports} reports accepted, ${hist.current.failed_reports} refused.`),
    lineChart(filesSeries, 'Proven file bytes', filesUnit),
    lineChart(srdSeries, 'Proven spare space (SRD)', srdUnit),
    barChart(hist.perSlot((r) => r.reports), 'Work reports accepted per slot'),
    barChart(hist.perSlot((r) => r.replica_challenges + r.srd_challenges), 'Challenges answered per slot'),
    barChart(hist.perSlot((r) => r.failed_reports + r.missed_reports), 'Reports refused or missed per slot'),
  );
}

async function marketPage(main) {
  const [{ answer: prices, result: pricesResult }, files, hist] = await Promise.all([
    proven('market_prices', {}, 'the market prices'), rpc('market_files', {}), history()]);
  const p = prices.prices;
  /** A line chart of one balance per closed slot. */
  const balanceChart = (f, label) => {
    const [points, unit] = cruSeries(hist.slots.map((r) => [r.slot, f(r)]));
    return lineChart(points, label, unit);
  };
  const pots = await Promise.all(
    ['storage_pot', 'staking_pot', 'reserved_pot', 'treasury'].map(async (k) => [k, await proven('state_account', { account: info.accounts[k] }, `the ${k.replace('_', ' ')}`)]),
  );
  const counts = new Map();
  for (const f of files.files) counts.set(f.replica_count, (counts.get(f.replica_count) ?? 0) + 1);
  const buckets = [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([k, n]) => [`${k}×`, n]);
  const names = { storage_pot: 'Storage pot', staking_pot: 'Staking pot', reserved_pot: 'Reserved pot', treasury: 'Treasury' };
  show(main,
    h('h1', {}, 'Market'),
    h('div', { class: 'cards' },
      card('Base fee', cru(p.base_fee), mark(pricesResult)),
      card('Byte fee (per MiB)', cru(p.byte_fee), mark(pricesResult)),
      card('Keys fee', cru(p.keys_fee), mark(pricesResult)),
      card('Market', p.enable_market ? 'open' : 'closed', mark(pricesResult))),
    h('h2', {}, 'Fees per slot ', mark(hist.result)),
    hist.slots.length ? null : noHistory(),
    h('p', { class: 'muted' }, `At each ${hist.slotBlocks}-block report slot’s end, from the chain’s own record.`),
    balanceChart((r) => r.base_fee, 'Base fee'),
    balanceChart((r) => r.byte_fee, 'Byte fee (per MiB)'),
    balanceChart((r) => r.keys_fee, 'Keys fee'),
    h('h2', {}, 'Orders per slot'),
    h('p', { class: 'muted' }, `This slot so far: ${hist.current.orders} orders (${bytes(hist.current.ordered_bytes)}), ${hist.current.renewals} renewals.`),
    barChart(hist.perSlot((r) => r.orders), 'Orders placed per slot'),
    barChart(hist.perSlot((r) => r.replicas_added), 'Replicas that started earning per slot'),
    balanceChart((r) => r.storage_pot, 'Storage pot'),
    h('h2', {}, 'Pots'),
    table([['Pot'], ['Account'], ['Balance', 'num'], ['Checked']], pots.map(([k, a]) => [names[k], accountLink(info.accounts[k]), cru(a.answer.free), mark(a.result) ?? '—'])),
    h('h2', {}, 'Replicas per file (first page of files) ', listMark('The list of files')),
    barChart(buckets, 'Files by replica count'),
    h('p', {}, h('a', { href: '#/files' }, 'All files →')),
  );
}

async function filesPage(main, after) {
  const r = await rpc('market_files', after ? { after } : {});
  const pager = h('div', { class: 'pager' },
    after ? h('a', { href: '#/files' }, '← First page') : null,
    r.next ? h('a', { href: `#/files/${encodeURIComponent(r.next)}` }, 'Next page →') : null);
  show(main,
    h('h1', {}, 'Files ', listMark('The list of files')),
    h('p', { class: 'muted' }, `At block #${r.head}. A replica counts once its worker proved it.`),
    table([['CID'], ['Size', 'num'], ['Replicas', 'num'], ['Expires at', 'num'], ['Orderer'], ['Amount', 'num']],
      r.files.map((f) => [cidLink(f.cid), bytes(f.size_bytes), f.replica_count, `#${f.expires_at}`, accountLink(f.orderer), cru(f.amount)])),
    pager,
  );
}

async function filePage(main, cid) {
  const { answer: r, result } = await proven('market_file', { cid }, `file ${cid}`);
  const checked = mark(result);
  if (!r.file) {
    show(main, h('h1', {}, 'File ', checked), h('p', { class: 'mono' }, cid), h('p', {}, `No order for this CID on chain (block #${r.height}).`));
    return;
  }
  const f = r.file;
  const download = info.gateway ? h('a', { href: `${info.gateway}/ipfs/${cid}`, download: '' }, 'Download through the gateway') : null;
  show(main,
    h('h1', {}, 'File ', checked),
    h('p', { class: 'mono' }, cid),
    result ? h('p', { class: 'muted', id: 'verified-note' }, result.ok
      ? `Every value on this page was checked in this browser: the file's record is proven under block #${result.height}'s state root, and that block is certified by era ${result.era}'s committee.`
      : result.message) : null,
    h('div', { class: 'cards' },
      card('Replicas', f.replicas.length, mark(result)),
      card('Size', bytes(f.file_size)),
      card('Expires at', `#${f.expired_at}`),
      card('Reward pool', cru(f.amount)),
      card('Renewal pool', cru(f.prepaid))),
    download ? h('p', {}, download) : null,
    h('h2', {}, 'Details'),
    table([['Field'], ['Value']], [
      ['Orderer', accountLink(f.orderer)],
      ['Storage power', String(f.spower)],
      ['Payouts left', String(f.remaining_paid_count)],
      ['Content commitment', h('span', { class: 'mono' }, `${JSON.stringify(f.commitment)}`)],
      ['As of block', `#${r.height}`],
    ]),
    keepStored(cid, f),
    h('h2', {}, 'Replicas ', mark(result)),
    table([['Owner'], ['Worker'], ['Reported at', 'num'], ['Since', 'num']],
      f.replicas.map((x) => [accountLink(x.owner), accountLink(x.who), `#${x.valid_at}`, x.created_at == null ? '—' : `#${x.created_at}`])),
  );
}

// ---- signing in the browser ----------------------------------------------------------------

/** The key typed on a page, for this page's life only (never stored, never sent). */
let typedKey = '';

/** A key field and a review area: actions are signed in this browser by a key the user types
 * (the WebAssembly signer sees it; the node gets only the signed transaction), shown with
 * their cost and fee, and sent only on *Sign and send*. In verified mode the fee and prices
 * are checked under a certified root before anything is signed. */
function signer() {
  const key = h('input', { id: 'key-input', type: 'password', autocomplete: 'off', spellcheck: 'false', value: typedKey });
  const who = h('span', { id: 'key-address', class: 'muted' }, typedKey ? '' : 'no key yet');
  const review = h('div', { id: 'sign-review', 'aria-live': 'polite' });
  const showAddress = async () => {
    typedKey = key.value;
    if (!key.value.trim()) { who.textContent = 'no key yet'; return; }
    try { who.textContent = `signs as ${await keyAddress(key.value)}`; } catch (e) { who.textContent = e.message; }
  };
  key.addEventListener('change', showAddress);
  if (typedKey) showAddress();
  /** Signs `action`; `describe(signed)` says what it does and costs. */
  const prepare = async (action, describe) => {
    review.replaceChildren();
    if (!key.value.trim()) { review.append(h('p', { class: 'bad' }, 'Type your key first.')); return; }
    try {
      const signed = await signAction(key.value, action);
      const send = h('button', { type: 'button', id: 'sign-send' }, 'Sign and send');
      const checked = signed.checked
        ? h('span', { class: 'mark verified', id: 'fee-checked', title: 'The fee settings and prices were proven under a certified state root in this browser' }, '✓ fee verified')
        : h('span', { class: 'muted', id: 'fee-checked' }, '(fee as the node states it; turn on verified mode to check it)');
      review.append(h('p', {}, `${describe(signed)} The transaction fee is ${cru(signed.fee)}, paid by ${signed.signer}. `, checked, ' ', send));
      send.addEventListener('click', async () => {
        send.disabled = true;
        review.append(h('p', { id: 'sign-progress' }, 'Sent; waiting for a finalized block…'));
        try {
          const r = await submitAndWait(signed.tx);
          review.append(r.success
            ? h('p', { class: 'ok', id: 'sign-done' }, `Included in block #${r.height}.`)
            : h('p', { class: 'bad', id: 'sign-done' }, `Refused in block #${r.height}: ${r.error}`));
        } catch (e) {
          review.append(h('p', { class: 'bad', id: 'sign-done' }, e.message));
        }
      });
    } catch (e) {
      review.append(h('p', { class: 'bad' }, `Could not sign: ${e.message}`));
    }
  };
  const keyLine = h('p', {}, h('label', { for: 'key-input' }, 'Your key (secret phrase, or //Alice on a dev chain)'), h('br'), key, ' ', who);
  return { keyLine, review, prepare };
}

/** Renew and prepay forms for a file. */
function keepStored(cid, f) {
  const { keyLine, review, prepare } = signer();
  const amount = h('input', { id: 'prepay-amount', inputmode: 'decimal', size: 10, value: '1' });
  const tip = h('input', { id: 'renew-tip', inputmode: 'decimal', size: 10, value: '0' });
  const prepay = h('button', { type: 'button', id: 'prepay-go' }, 'Review prepayment');
  prepay.addEventListener('click', () => prepare({ prepay: { cid, amount: amount.value } },
    (s) => `Adding ${amount.value} CRU to the renewal pool costs ${cru(s.cost)}.`));
  const renew = h('button', { type: 'button', id: 'renew-go' }, 'Review renewal');
  renew.addEventListener('click', () => prepare({ renew: { cid, file_size: f.file_size, tip: tip.value, commitment: f.commitment } },
    (s) => `Renewing now costs ${cru(s.cost)}.`));
  return h('section', { id: 'keep-stored' },
    h('h2', {}, 'Keep it stored'),
    h('p', { class: 'muted' }, 'The renewal pool pays for renewals when the order nears its end; anyone may add to it. Renewing now extends the order at today’s price. Your key stays in this browser: it signs here, and only the signed transaction is sent.'),
    keyLine,
    h('p', {}, h('label', { for: 'prepay-amount' }, 'Amount (CRU)'), ' ', amount, ' ', prepay),
    h('p', {}, h('label', { for: 'renew-tip' }, 'Tip (CRU)'), ' ', tip, ' ', renew),
    review);
}

/** The claim form for a storage owner's replica rewards. */
function claimRewards(amount) {
  const { keyLine, review, prepare } = signer();
  const go = h('button', { type: 'button', id: 'claim-go' }, 'Review claim');
  go.addEventListener('click', () => prepare({ claim_rewards: {} },
    () => `Claiming ${cru(amount)} of replica rewards moves them to this account's free balance.`));
  return h('section', { id: 'claim-rewards' },
    h('h2', {}, 'Claim replica rewards'),
    h('p', { class: 'muted' }, 'Sign with the storage owner’s key (it stays in this browser).'),
    keyLine,
    h('p', {}, go),
    review);
}

async function accountPage(main, account) {
  const [{ answer: a, result }, { answer: o, result: overviewResult }, view, orders] = await Promise.all([
    proven('state_account', { account }, `${account}'s balance`),
    proven('state_overview', { account }, `${account}'s locks and rewards`),
    rpc('staking_validators'),
    rpc('market_files', { orderer: account }),
  ]);
  const cand = view.candidates.find((c) => c.stash === account);
  show(main,
    h('h1', {}, 'Account'),
    h('p', { class: 'mono' }, account),
    h('div', { class: 'cards' },
      card('Free', cru(a.free), mark(result)),
      card('Reserved', cru(a.reserved), mark(result)),
      card('Transactions sent', a.nonce, mark(result)),
      card('Locked', cru(o.overview.locks.reduce((m, l) => (BigInt(l.amount) > m ? BigInt(l.amount) : m), 0n)), mark(overviewResult)),
      card('Bonded', cru(o.overview.bonded), o.overview.unbonding !== '0' ? h('div', { class: 'muted' }, `${cru(o.overview.unbonding)} unbonding`) : mark(overviewResult)),
      card('Replica rewards to claim', cru(o.overview.replica_rewards), mark(overviewResult))),
    BigInt(o.overview.replica_rewards ?? 0) > 0n ? claimRewards(o.overview.replica_rewards) : null,
    o.overview.locks.length ? h('section', {}, h('h2', {}, 'Locks'), table([['Lock'], ['Amount', 'num']], o.overview.locks.map((l) => [l.id, cru(l.amount)]))) : null,
    cand ? h('section', {}, h('h2', {}, 'Validator'), table([['Bonded', 'num'], ['Stake limit', 'num'], ['Effective own', 'num'], ['Commission', 'num']],
      [[cru(cand.bonded), cru(cand.stake_limit), cru(cand.effective_own), `${(cand.commission_ppb / 1e7).toFixed(1)}%`]])) : null,
    h('h2', {}, 'Orders ', listMark('The list of this account’s orders')),
    table([['CID'], ['Size', 'num'], ['Replicas', 'num'], ['Expires at', 'num']],
      orders.files.map((f) => [cidLink(f.cid), bytes(f.size_bytes), f.replica_count, `#${f.expires_at}`])),
  );
}

async function governancePage(main) {
  const g = await rpc('governance_overview');
  const pct = (ppb) => `${(ppb / 1e7).toFixed(1)}%`;
  show(main,
    h('h1', {}, 'Governance ', listMark('This overview')),
    h('div', { class: 'cards' },
      card('Protocol version', g.protocol_version, g.scheduled_upgrade ? h('div', { class: 'muted' }, `version ${g.scheduled_upgrade[0]} at #${g.scheduled_upgrade[1]}`) : null),
      card('Treasury', cru(g.treasury)),
      card('Bonded stake (electorate)', cru(g.electorate)),
      card('Sudo key', g.sudo ? 'yes (dev chain)' : 'none')),
    h('p', {}, `A proposal reserves ${cru(g.proposal_deposit)}, is open for ${g.voting_period} blocks and runs ${g.enactment_delay} blocks after it passes.`),
    h('h2', {}, 'Council'),
    g.council.length
      ? h('p', {}, `${g.council_threshold} of ${g.council.length} can cancel a proposal: `, g.council.map((m, i) => [i ? ', ' : '', accountLink(m)]))
      : h('p', { class: 'muted' }, 'No council.'),
    h('h2', {}, `Proposals (${g.proposal_count})`),
    table([['#', 'num'], ['Kind'], ['Call'], ['Aye', 'num'], ['Nay', 'num'], ['Needs'], ['Status']],
      g.proposals.map((p) => [String(p.id), p.kind, h('span', { class: 'mono' }, p.call), cru(p.aye), cru(p.nay),
        `turnout ${pct(p.turnout_ppb)}, aye > ${pct(p.approval_ppb)}`,
        h('span', { class: p.status === 'voting' ? (p.passing ? 'ok' : 'bad') : '' }, p.status === 'voting' ? `voting (${p.passing ? 'passing' : 'failing'})` : p.status)])),
  );
}

// ---- upload -------------------------------------------------------------------------------

/** Every file under a dropped folder entry, with its path (and the folders, for their parts). */
async function collect(entry, out) {
  if (entry.isFile) {
    out.files.push({ file: await new Promise((ok, no) => entry.file(ok, no)), path: entry.fullPath.replace(/^\//, '') });
    return;
  }
  out.dirs.push(entry.fullPath.replace(/^\//, ''));
  const reader = entry.createReader();
  for (;;) {
    const batch = await new Promise((ok, no) => reader.readEntries(ok, no));
    if (!batch.length) break;
    for (const e of batch) await collect(e, out);
  }
}

/** What the form's inputs chose: files, or a folder with its relative paths. */
function chosenFrom(input) {
  const out = { files: [], dirs: [] };
  const dirs = new Set();
  for (const file of input.files) {
    const path = file.webkitRelativePath || file.name;
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    out.files.push({ file, path });
  }
  out.dirs = [...dirs].sort();
  return out;
}

async function uploadPage(main) {
  const service = info.pinning;
  if (!service) {
    show(main, h('h1', {}, 'Upload'),
      h('p', {}, 'This console has no pinning service to upload through. Start the node with --console-pinning URL, and the service with --cors-origin naming this console (the devnet does both).'));
    return;
  }
  const help = 'Files go to the pinning service, which adds them to IPFS, places the storage order paid by your account (through its approval of the service) and keeps the content until the replicas are proven. Your token goes only to that service, never to this node.';
  const token = h('input', { id: 'upload-token', type: 'password', autocomplete: 'off', spellcheck: 'false', value: sessionStorage.getItem('crust.upload.token') ?? '' });
  const files = h('input', { id: 'upload-files', type: 'file', multiple: true });
  const folder = h('input', { id: 'upload-folder', type: 'file', webkitdirectory: true, multiple: true });
  const drop = h('div', { id: 'upload-drop', class: 'drop', tabindex: 0, role: 'button', 'aria-label': 'Drop files or a folder here, or press Enter to choose files' }, 'Drop files or a folder here');
  const chosenLine = h('p', { id: 'upload-chosen', class: 'muted' }, 'Nothing chosen yet.');
  const bar = h('progress', { id: 'upload-progress', max: 1, value: 0, 'aria-label': 'Upload progress' });
  const steps = h('ol', { id: 'upload-steps', class: 'steps', 'aria-live': 'polite' });
  const go = h('button', { type: 'submit', id: 'upload-go' }, 'Upload and order storage');
  let chosen = { files: [], dirs: [] };
  const showChosen = () => {
    const total = chosen.files.reduce((n, f) => n + f.file.size, 0);
    chosenLine.textContent = chosen.files.length ? `${chosen.files.length} file(s), ${bytes(total)}${chosen.dirs.length ? ` in ${chosen.dirs.length} folder(s)` : ''}` : 'Nothing chosen yet.';
  };
  files.addEventListener('change', () => { chosen = chosenFrom(files); showChosen(); });
  folder.addEventListener('change', () => { chosen = chosenFrom(folder); showChosen(); });
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); files.click(); } });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const out = { files: [], dirs: [] };
    for (const item of e.dataTransfer.items) {
      const entry = item.webkitGetAsEntry?.();
      if (entry) await collect(entry, out);
    }
    // Files handed over without entries (some browsers, scripted drops): plain files.
    if (!out.files.length) for (const file of e.dataTransfer.files) out.files.push({ file, path: file.name });
    chosen = out;
    showChosen();
  });
  const step = (text, cls) => { const li = h('li', { class: cls }, text); steps.append(li); return li; };
  const form = h('form', { id: 'upload-form' },
    h('p', { id: 'upload-help', class: 'muted' }, help),
    h('p', {}, h('label', { for: 'upload-token' }, 'Access token (from crust pin token create, or crust pin token web3)'), h('br'), token),
    drop,
    h('p', {}, h('label', { for: 'upload-files' }, 'Files'), ' ', files, ' ', h('label', { for: 'upload-folder' }, 'or a folder'), ' ', folder),
    chosenLine,
    go,
    h('p', {}, bar),
    steps);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!chosen.files.length) { step('Choose files or a folder first.', 'bad'); return; }
    const bearer = token.value.trim();
    if (!bearer) { step('An access token is needed.', 'bad'); return; }
    sessionStorage.setItem('crust.upload.token', bearer);
    go.disabled = true;
    steps.replaceChildren();
    try {
      await upload(service, bearer, chosen, bar, step);
    } catch (err) {
      step(`Upload failed: ${err.message}`, 'bad');
    } finally {
      go.disabled = false;
    }
  });
  show(main, h('h1', {}, 'Upload'), h('p', {}, `Through the pinning service at ${service}.`), form);
}

/** Sends the chosen files as Kubo's `add` does, then follows each root's pin request and its
 * order on chain until the service says `pinned`. */
async function upload(service, bearer, chosen, bar, step) {
  const form = new FormData();
  for (const d of chosen.dirs) form.append('file', new Blob([], { type: 'application/x-directory' }), encodeURIComponent(d));
  for (const f of chosen.files) form.append('file', f.file, encodeURIComponent(f.path));
  const total = chosen.files.reduce((n, f) => n + f.file.size, 0);
  const sending = step(`Uploading ${bytes(total)}…`);
  const xhr = new XMLHttpRequest();
  const done = new Promise((ok, no) => {
    xhr.onload = () => ok();
    xhr.onerror = () => no(new Error('the pinning service did not answer (is it running, and does it allow this console with --cors-origin?)'));
  });
  xhr.upload.onprogress = (p) => {
    if (!p.lengthComputable) return;
    bar.max = p.total; bar.value = p.loaded;
    sending.textContent = `Uploading: ${bytes(p.loaded)} of ${bytes(p.total)}`;
  };
  xhr.open('POST', `${service}/api/v0/add?progress=false`);
  xhr.setRequestHeader('Authorization', `Bearer ${bearer}`);
  xhr.send(form);
  await done;
  if (xhr.status !== 200) {
    let why = xhr.responseText;
    try { const j = JSON.parse(why); why = j.error?.reason ? `${j.error.reason}: ${j.error.details ?? ''}` : j.Message ?? why; } catch { /* text */ }
    throw new Error(`${xhr.status} ${why}`);
  }
  bar.value = bar.max;
  sending.textContent = `Uploaded ${bytes(total)}.`;
  const added = xhr.responseText.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const ids = (xhr.getResponseHeader('x-crust-pin-requests') ?? '').split(',').filter(Boolean);
  const roots = added.filter((a) => !a.Name.includes('/'));
  for (const r of roots) step(h('span', {}, `Added ${r.Name}: `, cidLink(r.Hash)), 'ok');
  if (!ids.length) throw new Error('the service made no pin request (is this token\'s account approved?)');
  const follow = ids.map((id) => ({ id, line: step(`Pin request ${id}: queued`), status: 'queued', cid: null }));
  for (;;) {
    for (const f of follow) {
      if (f.status === 'pinned' || f.status === 'failed') continue;
      const res = await fetch(`${service}/pins/${f.id}`, { headers: { Authorization: `Bearer ${bearer}` } });
      if (!res.ok) { f.line.textContent = `Pin request ${f.id}: the service answered ${res.status}`; continue; }
      const p = await res.json();
      f.status = p.status;
      f.cid = p.pin.cid;
      let onChain = '';
      try {
        const file = await rpc('market_file', { cid: f.cid });
        onChain = file.file ? `; ordered on chain, ${file.file.replicas.length} proven replica(s) at block #${file.height}` : '; not ordered on chain yet';
      } catch { /* the chain answers next time */ }
      f.line.replaceChildren(`Pin request ${f.id} for `, cidLink(f.cid), `: ${p.status}${onChain}`);
      f.line.className = p.status === 'pinned' ? 'ok' : p.status === 'failed' ? 'bad' : '';
      if (p.status === 'failed') f.line.append(` (${p.info?.error ?? 'see crust pin status'})`);
    }
    if (follow.every((f) => f.status === 'pinned' || f.status === 'failed')) break;
    await new Promise((ok) => setTimeout(ok, 2000));
  }
  if (follow.every((f) => f.status === 'pinned')) step('Done: every upload is stored with the replicas the service promises.', 'ok');
}

// ---- routing ------------------------------------------------------------------------------

const PAGES = [
  [/^#\/(network)?$/, networkPage, 'Network'],
  [/^#\/storage$/, storagePage, 'Storage'],
  [/^#\/market$/, marketPage, 'Market'],
  [/^#\/files(?:\/(.+))?$/, (m, a) => filesPage(m, a ? decodeURIComponent(a) : null), 'Files'],
  [/^#\/file\/(.+)$/, (m, c) => filePage(m, decodeURIComponent(c)), 'File'],
  [/^#\/account\/(.+)$/, (m, a) => accountPage(m, decodeURIComponent(a)), 'Account'],
  [/^#\/governance$/, governancePage, 'Governance'],
  [/^#\/upload$/, uploadPage, 'Upload'],
];

async function route() {
  const hash = location.hash || '#/network';
  const main = $('#main');
  onHead = () => {};
  $('#status').textContent = '';
  for (const a of document.querySelectorAll('nav a')) {
    if (hash.startsWith(a.getAttribute('href'))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  for (const [re, page, title] of PAGES) {
    const m = hash.match(re);
    if (!m) continue;
    document.title = `${title} · Crust in Rust console`;
    try {
      await page(main, ...m.slice(1));
      main.dataset.page = title.toLowerCase();
    } catch (e) {
      $('#status').textContent = `Could not load this page: ${e.message}`;
    }
    return;
  }
  show(main, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/network' }, 'Network')));
}

$('#search').addEventListener('submit', (e) => {
  e.preventDefault();
  const q = $('#search-input').value.trim();
  if (!q) return;
  location.hash = /^(Qm|baf|bag|bah|bai)/.test(q) ? `#/file/${q}` : `#/account/${q}`;
});

window.addEventListener('hashchange', route);
verified.onChange = showVerifyStatus;
$('#verify-toggle').addEventListener('click', async () => {
  verified.setEnabled(!verified.enabled());
  showVerifyStatus();
  if (verified.enabled()) await verified.sync();
  route();
});
// Refresh the page's data every ten blocks (the network page redraws on every block).
let refreshed = 0;
const refresh = () => {
  // Not the network page (it redraws on every block), the upload page (it follows its own),
  // nor a page with a transaction under review or on its way.
  const signing = document.querySelector('#sign-review')?.childElementCount;
  // Nor while the user is filling in a form: a redraw would throw away what they typed.
  const editing = [...document.querySelectorAll('main input')].some((i) => i.value !== i.defaultValue)
    || !!document.activeElement?.closest?.('main') && ['INPUT', 'BUTTON'].includes(document.activeElement.tagName);
  if (heads.length && heads[heads.length - 1].height - refreshed >= 10 && !signing && !editing && !/^#\/(network|upload)/.test(location.hash) && location.hash !== '') {
    refreshed = heads[heads.length - 1].height;
    route();
  }
};
setInterval(refresh, 2000);

(async () => {
  try {
    [info, chainInfo] = await Promise.all([fetch('/console/info.json').then((r) => r.json()), rpc('system_chain')]);
    $('#version').textContent = `crust ${info.version}`;
  } catch (e) {
    $('#status').textContent = `The node does not answer: ${e.message}`;
    return;
  }
  connect();
  showVerifyStatus();
  if (verified.enabled()) await verified.sync();
  route();
})();

// For tests: the RPC methods this page called (never anything with a key in it).
window.__consoleRequests = requests;
// For tests: how long each verification took (the WebAssembly check alone, and with fetching).
window.__verifyTimes = verified.times;
