// Verified mode: the console's light client. The node's own answers are checked in this
// browser by the chain's verification code compiled to WebAssembly (crates/verifier): era 0's
// committee is proven under the genesis block (whose hash is pinned here on first use), each
// next era's committee under a block the previous committee certified, and every fact marked
// "verified" under a header linked to a finalization certificate of a committee learned that
// way. The node is trusted for nothing; an answer that disagrees with its own proofs is shown
// as a lie. This file only fetches and displays; all checking happens in the WebAssembly.

const OP_START = 1, OP_LEARN = 2, OP_CHECK = 3, OP_ADDRESS = 4, OP_SIGN = 5;
const GENESIS_KEY = 'crust.verified.genesis';
const ANCHOR_KEY = 'crust.verified.anchor.';

let exports = null;

/** Loads the verifier module. Its JavaScript imports come from a dependency's bindings
 * (a hash table seeds itself with `crypto.getRandomValues(ptr, len)`; a failed binding throws a
 * message at `ptr, len`); those two are provided, any other fails loudly if ever called. */
async function load() {
  const res = await fetch('/console/verifier.wasm');
  if (!res.ok) throw new Error('this node was built without the verifier (see docs/console.md)');
  const module = await WebAssembly.compile(await res.arrayBuffer());
  let memory = null;
  const imports = {};
  for (const i of WebAssembly.Module.imports(module)) {
    if (i.kind !== 'function') continue;
    let f = () => { throw new Error(`the verifier called ${i.name}, which this page does not provide`); };
    if (i.name.startsWith('__wbg_getRandomValues_')) {
      f = (ptr, len) => {
        const out = new Uint8Array(memory.buffer, ptr, len);
        for (let at = 0; at < len; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(len, at + 65536)));
      };
    } else if (i.name.startsWith('__wbg___wbindgen_throw_')) {
      f = (ptr, len) => { throw new Error(new TextDecoder().decode(new Uint8Array(memory.buffer, ptr, len))); };
    }
    (imports[i.module] ??= {})[i.name] = f;
  }
  const instance = await WebAssembly.instantiate(module, imports);
  memory = instance.exports.memory;
  return instance.exports;
}

/** Runs one verifier operation on a JSON-able input; returns its JSON reply. */
function invoke(op, input) {
  const bytes = new TextEncoder().encode(JSON.stringify(input));
  const ptr = exports.alloc(bytes.length);
  new Uint8Array(exports.memory.buffer, ptr, bytes.length).set(bytes);
  let packed;
  try {
    packed = BigInt.asUintN(64, BigInt(exports.call(op, ptr, bytes.length)));
  } catch (e) {
    exports = null; // a trap leaves the instance unusable: load a fresh one next time
    throw e;
  } finally {
    if (exports) exports.free(ptr, bytes.length);
  }
  const at = Number(packed >> 32n), len = Number(packed & 0xffffffffn);
  const text = new TextDecoder().decode(new Uint8Array(exports.memory.buffer, at, len));
  exports.free(at, len);
  return parseJson(text);
}

function unwrap(reply) {
  if ('ok' in reply) return reply.ok;
  const e = new Error(reply.error);
  e.kind = reply.kind;
  throw e;
}

/** JSON with integers too large for a double (balances) kept as strings, for display. */
export function parseJson(text) {
  return JSON.parse(text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"'));
}

/** JSON parsed without losing a digit: integers beyond a double's precision stay the node's
 * exact text when written back (JSON.rawJSON), so the verifier sees what the node sent. */
function parseExact(text) {
  return JSON.parse(text, (key, value, context) =>
    (typeof value === 'number' && !Number.isSafeInteger(value) && /^-?\d+$/.test(context?.source ?? ''))
      ? JSON.rawJSON(context.source) : value);
}

/** A JSON-RPC call: the result parsed exactly (for the verifier) and for display. */
async function callBoth(method, params = {}) {
  const res = await fetch('/', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const text = await res.text();
  const reply = parseExact(text);
  if (reply.error) throw new Error(`${method}: ${reply.error.message}`);
  return { exact: reply.result, shown: parseJson(text).result };
}

async function call(method, params = {}) {
  return (await callBoth(method, params)).exact;
}

export const verified = {
  /** 'off' | 'syncing' | 'ready' | 'failed' */
  state: 'off',
  message: '',
  anchor: null,
  genesis: null,
  /** Each check's timing, for the page's tests: {method, check_ms, total_ms}. */
  times: [],
  onChange: () => {},

  enabled() { return localStorage.getItem('crust.verified') === 'on'; },

  setEnabled(on) {
    localStorage.setItem('crust.verified', on ? 'on' : 'off');
    if (!on) { this.state = 'off'; this.message = ''; this.onChange(); }
  },

  status(state, message) { this.state = state; this.message = message; this.onChange(); },

  /** Learns committees from genesis (or from the last anchor kept here) up to the newest era
   * any node recorded. */
  async sync() {
    try {
      if (typeof JSON.rawJSON !== 'function') throw new Error('this browser cannot read large numbers exactly (JSON.rawJSON is missing)');
      if (!exports) exports = await load();
      const genesis = await call('genesis_hash');
      const pinned = localStorage.getItem(GENESIS_KEY);
      if (pinned && pinned !== genesis) {
        this.status('failed', `This node's genesis ${genesis} is not the genesis pinned in this browser (${pinned}). It serves another chain, or lies.`);
        return false;
      }
      if (!pinned) localStorage.setItem(GENESIS_KEY, genesis);
      this.genesis = genesis;
      let anchor = JSON.parse(localStorage.getItem(ANCHOR_KEY + genesis) ?? 'null');
      if (!anchor) {
        this.status('syncing', 'Proving era 0’s committee under the genesis block…');
        const { namespace } = await call('system_chain');
        const [first] = await call('staking_handoffs', { from: 0, limit: 1 });
        if (!first) throw new Error('this node recorded no committee handoffs (a data directory older than this release)');
        anchor = unwrap(invoke(OP_START, { genesis, namespace, handoff: first }));
      }
      for (;;) {
        const page = await call('staking_handoffs', { from: anchor.next_era });
        if (!page.length) break;
        for (const handoff of page) {
          this.status('syncing', `Learning era ${handoff.era}’s committee from era ${handoff.era - 1}’s certificate…`);
          anchor = unwrap(invoke(OP_LEARN, { anchor, handoff }));
        }
      }
      this.anchor = anchor;
      localStorage.setItem(ANCHOR_KEY + genesis, JSON.stringify(anchor));
      const eras = Object.keys(anchor.committees).map(Number);
      this.status('ready', `Verified mode: committees learned by proof from genesis ${genesis.slice(0, 10)}… (${pinned ? 'pinned' : 'pinned now, on first use'}) up to era ${Math.max(...eras)}.`);
      return true;
    } catch (e) {
      this.status('failed', `Verified mode could not start: ${e.message}`);
      return false;
    }
  },

  /** Calls `method` with proofs and checks the answer. Returns {answer, result}: result is
   * {ok: true, height, era} or {ok: false, lie: bool, message}. */
  async check(method, params) {
    const started = performance.now();
    const withProof = { ...params, prove: true };
    const { exact, shown: answer } = await callBoth(method, withProof);
    if (this.state !== 'ready' && !(await this.sync())) {
      return { answer, result: { ok: false, lie: false, message: this.message } };
    }
    try {
      if (!exports) exports = await load();
      const height = exact.proof ? exact.proof.height : exact.height;
      let finality = await call('chain_finality', { height });
      if (finality.era >= this.anchor.next_era) await this.sync();
      const headers = [];
      for (let x = height; x <= finality.height; x++) {
        headers.push(await call('chain_block', { height: x, bodies: false, receipts: false }));
      }
      const t = performance.now();
      const reply = invoke(OP_CHECK, { anchor: this.anchor, method, params: withProof, answer: exact, headers, finality });
      const check_ms = performance.now() - t;
      this.times.push({ method, check_ms, total_ms: performance.now() - started });
      if ('ok' in reply) return { answer, exact, result: { ok: true, height: reply.ok.height, era: reply.ok.era, value: reply.ok.value } };
      // (The verified value comes back through JSON.parse: compare amounts as strings.)
      return { answer, exact, result: { ok: false, lie: reply.kind !== 'unverifiable', message: reply.error } };
    } catch (e) {
      return { answer, exact, result: { ok: false, lie: false, message: e.message } };
    }
  },
};

// ---- signing ------------------------------------------------------------------------------
// The user's key is typed into the page and handed to the WebAssembly module only; what leaves
// the browser is the signed transaction.

/** The address of a secret phrase or `//Dev` key. */
export async function keyAddress(secret) {
  if (!exports) exports = await load();
  return unwrap(invoke(OP_ADDRESS, { secret })).address;
}

/** The fee settings and market prices a transaction is priced from: in verified mode both are
 * checked under a certified state root first (a node cannot make the page overpay), else taken
 * from the node as it answers. Returns {config, prices, checked}. */
async function pricing() {
  if (!verified.enabled()) {
    const [config, prices] = await Promise.all([call('system_config'), call('market_prices')]);
    return { config: config.config, prices: prices.prices, checked: false };
  }
  const out = { checked: true };
  for (const [method, field, what] of [['system_config', 'config', 'the fee settings'], ['market_prices', 'prices', 'the market prices']]) {
    const r = await verified.check(method, {});
    if (!r.result.ok) throw new Error(`${what} could not be verified, so nothing was signed: ${r.result.message}`);
    out[field] = r.exact[field];
  }
  return out;
}

/** Signs `action` (`{prepay: {cid, amount}}`, `{renew: {cid, file_size, tip, commitment}}` or
 * `{claim_rewards: {}}`) with the key; returns {tx, hash, signer, fee, cost, checked}, nothing
 * sent yet (`checked`: the fee and prices were verified). */
export async function signAction(secret, action) {
  if (!exports) exports = await load();
  const address = await keyAddress(secret);
  const [genesis, account, head, priced] = await Promise.all([
    call('genesis_hash'),
    call('state_account', { account: address }),
    call('chain_head'),
    pricing(),
  ]);
  if (!priced.config) throw new Error('the node has no runtime configuration');
  const signed = unwrap(invoke(OP_SIGN, {
    secret, genesis, nonce: account.next_nonce, head: head.height, config: priced.config, prices: priced.prices, action,
  }));
  return { ...signed, checked: priced.checked };
}

/** Submits a signed transaction and waits until a finalized block applied it (or refused it):
 * {height, success, error}. */
export async function submitAndWait(tx, timeoutMs = 60000) {
  const hash = await call('author_submit', { tx });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await call('author_txStatus', { hash });
    if (status.status === 'finalized') {
      return { hash, height: status.height, success: status.success, error: status.error };
    }
    await new Promise((ok) => setTimeout(ok, 500));
  }
  throw new Error(`transaction ${hash} not finalized within ${timeoutMs / 1000} s`);
}
