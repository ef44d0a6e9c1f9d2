// The live view's cost to the app: the decode loop (src/demo/llama.ts, TINY_LLAMA) traced with the live
// server running and its page open in a real Chromium, against the same loop untraced, as interleaved
// arms in one process; and the same arms without the live view, for reference.
//
// What makes the figure the same from run to run: the window is full before anything is timed (the
// page's and the server's work per refresh is then what it is in a long session), and each arm lasts
// a refresh, and the figure is the ratio of the arms' summed throughputs (not a median of pairs, which
// would leave out the arms a refresh's work fell in: the server's batch, the page's apply and drawing).
// Between arms the event loop turns for a refresh and a bit, so the last data of a traced arm reaches
// the page then, not during the untraced arm that follows. The pairs' spread goes beside the figure.
import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { cpuNs, median, pairedStats } from '../lib.mjs';

const require = createRequire(import.meta.url);
const ROOT = new URL('../../', import.meta.url).pathname;
const mlx = require('@frost-beta/mlx');
const sdk = require(`${ROOT}dist/index.js`);
const { createLlama, generate, TINY_LLAMA } = require(`${ROOT}dist/demo.js`);

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
/** Each arm decodes for this long; a pair is a traced and an untraced arm, the first in turn each. */
const ARM_MS = 1000;
// 30 pairs: with 12 the pairs' 95 % interval was ±5.7-6.8 points, and two runs on one day read 16.8 and 9.9.
const PAIRS = 30;
/** The server's refresh (its default) and the pause between arms: a refresh and the page's apply. */
const REFRESH_MS = 1000;
const PAUSE_MS = REFRESH_MS + 400;
const WINDOW_S = 10;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TICK_S = 0.01;

/** CPU seconds of a process (all its threads), from /proc. */
function procCpuS(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (+f[11] + +f[12]) * TICK_S;
  } catch {
    return 0;
  }
}

/** CPU seconds of every process below this one (the browser Playwright started and its renderers). */
function childrenCpuS() {
  const parent = new Map();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const s = readFileSync(`/proc/${p}/stat`, 'utf8');
      parent.set(+p, +s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
    } catch { /* it ended */ }
  }
  let total = 0;
  for (const [p] of parent) {
    let q = parent.get(p);
    while (q > 1 && q !== process.pid) q = parent.get(q) ?? 0;
    if (q === process.pid) total += procCpuS(p);
  }
  return total;
}

/** CPU ns of the app's own thread (the one that runs the decode loop and the live feed). */
const appThreadNs = () => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);

export default [
  {
    id: 'live.decode_overhead_pct',
    unit: '%',
    goal: 12,
    better: 'lower',
    async run() {
      // A long-running app's recording: the last seconds (what serveLive keeps when the app chose nothing),
      // in both phases, so the two record the same way and neither grows a trace over the run.
      const inst = sdk.registerMlxInstrumentation({ flightRecorder: { seconds: WINDOW_S } });
      const model = createLlama(mlx, TINY_LLAMA);
      const tokens = 64;
      /** Decodes for ms; tokens/s, and the app thread's CPU ns per token. */
      const arm = (ms) => {
        const c0 = appThreadNs(), t0 = performance.now();
        let n = 0;
        while (performance.now() - t0 < ms) {
          generate(mlx, model, { prompt: [1, 2, 3], tokens });
          n += tokens;
        }
        const secs = (performance.now() - t0) / 1000;
        return { rate: n / secs, tokens: n, secs, cpuPerToken: (appThreadNs() - c0) / n };
      };
      arm(1000);
      /** Traced/untraced arms, alternating which goes first so a drift in load falls on both. */
      const pairs = async () => {
        const ratios = [], on = [], off = [], cpuOn = [];
        // Tokens, seconds decoding, and CPU seconds (this process's threads and the page's processes, over the
        // arm and the pause after it, where the page takes in the arm's last data) of each side.
        const sum = { on: { n: 0, s: 0, cpu: 0 }, off: { n: 0, s: 0, cpu: 0 } };
        for (let p = 0; p < PAIRS; p++) {
          const r = {};
          for (const side of p % 2 ? ['off', 'on'] : ['on', 'off']) {
            if (side === 'off') inst.disable();
            const cpu0 = cpuNs() / 1e9 + childrenCpuS();
            r[side] = arm(ARM_MS);
            sum[side].n += r[side].tokens;
            sum[side].s += r[side].secs;
            if (side === 'off') inst.enable();
            await sleep(PAUSE_MS);
            sum[side].cpu += cpuNs() / 1e9 + childrenCpuS() - cpu0;
          }
          ratios.push(r.on.rate / r.off.rate);
          on.push(r.on.rate);
          off.push(r.off.rate);
          cpuOn.push(r.on.cpuPerToken);
        }
        const pct = pairedStats(ratios.map((x) => (1 - x) * 100));
        const overhead = (1 - sum.on.n / sum.on.s / (sum.off.n / sum.off.s)) * 100;
        // CPU per token says what the traced side costs apart from waiting for a core: steadier on a shared machine.
        const cpuUsPerToken = (x) => (x.cpu / x.n) * 1e6;
        const cpuOverhead = (cpuUsPerToken(sum.on) / cpuUsPerToken(sum.off) - 1) * 100;
        return { tokensOn: sum.on.n, overhead, pct, on: median(on), off: median(off), cpuPerToken: median(cpuOn), cpuOverhead, cpuOnUs: cpuUsPerToken(sum.on), cpuOffUs: cpuUsPerToken(sum.off) };
      };
      const plain = await pairs();

      const { chromium } = await import('playwright-core');
      const live = inst.serveLive({ port: 0, refreshMs: REFRESH_MS, windowSeconds: WINDOW_S });
      const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
      try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        await page.goto(live.url);
        // A full window before anything is timed: what the page and the server hold in a long session.
        const fill = performance.now();
        while (performance.now() - fill < (WINDOW_S + 2) * 1000) {
          arm(250);
          await sleep(5);
        }
        await sleep(PAUSE_MS);
        const stats0 = await (await fetch(`${live.url}stats`)).json();
        const page0 = childrenCpuS(), wall0 = performance.now();
        const withLive = await pairs();
        const pageShare = (childrenCpuS() - page0) / ((performance.now() - wall0) / 1000);
        const stats = await (await fetch(`${live.url}stats`)).json();
        const sent = stats.sent && stats0.sent ? { batches: stats.sent.batches - stats0.sent.batches, bytes: stats.sent.bytes - stats0.sent.bytes } : null;
        const state = await page.evaluate(() => ({ ...window.__mlxLive }));
        return {
          value: withLive.overhead,
          extra: {
            arms: `${PAIRS} pairs of ${ARM_MS} ms arms`,
            pairs_median_pct: +withLive.pct.median.toFixed(1),
            overhead_ci95_pct: +withLive.pct.ci95.toFixed(1),
            traced_live_tokens_per_s: +withLive.on.toFixed(1),
            untraced_tokens_per_s: +withLive.off.toFixed(1),
            traced_without_live_overhead_pct: +plain.overhead.toFixed(1),
            traced_without_live_ci95_pct: +plain.pct.ci95.toFixed(1),
            untraced_tokens_per_s_before_live: +plain.off.toFixed(1),
            cpu_overhead_pct: +withLive.cpuOverhead.toFixed(1),
            cpu_us_per_token_traced_live: +withLive.cpuOnUs.toFixed(0),
            cpu_us_per_token_untraced: +withLive.cpuOffUs.toFixed(0),
            cpu_overhead_without_live_pct: +plain.cpuOverhead.toFixed(1),
            app_thread_us_per_token_live: +(withLive.cpuPerToken / 1e3).toFixed(1),
            app_thread_us_per_token_no_live: +(plain.cpuPerToken / 1e3).toFixed(1),
            worker_cpu_share: stats.cpuShare,
            page_cpu_share: +pageShare.toFixed(3),
            batches_sent: sent?.batches ?? null,
            kb_per_batch: sent && sent.batches ? Math.round(sent.bytes / sent.batches / 1024) : null,
            page_kb_per_token: sent ? +(sent.bytes / 1024 / withLive.tokensOn).toFixed(2) : null,
            page_apply_ms: +state.applyMs.toFixed(1),
            page_applies: state.applied,
            page_spans: state.spans,
            page_primitives: state.primitives,
            page_primitives_not_sent: state.notSent,
            page_skipped: state.skipped,
          },
        };
      } finally {
        await browser.close();
        await live.close();
        inst.disable();
      }
    },
  },
];
