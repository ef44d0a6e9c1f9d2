// Chrome JSON and Perfetto protobuf export throughput on a large synthetic trace, written to real files.
// Build first (npx tsup): these import the package from dist/.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportChromeTrace, exportPerfetto } from '../../dist/index.mjs';
import { benchTrace } from '../lib.mjs';

const PRIMITIVES = 500_000;

/** Same shape as test/helpers/synthetic-trace.ts makeSyntheticTrace (plain JS: benches run on dist). */
export function syntheticTrace(primitives, { threads = 2, perEval = 1000, blocks = 2 } = {}) {
  let seed = 1;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const between = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
  const JS = 4242;
  const ops = ['Matmul', 'Add', 'Multiply', 'Softmax', 'Gather', 'Exp', 'CustomKernel'];
  const spans = [];
  const memory = [];
  let id = 1;
  let t = 1000;
  let live = 0;
  const host = (kind, name, parentId, start) => {
    const s = { id: id++, parentId, kind, name, start, end: start, thread: JS, device: 'cpu', inputs: [], outputs: [], flops: null, bytes: null };
    spans.push(s);
    return s;
  };
  for (let made = 0, e = 0; made < primitives; e++) {
    const count = Math.min(perEval, primitives - made);
    const step = host('user', `step ${e}`, null, t);
    t += between(100, 500);
    const model = host('layer', 'model (Model)', step.id, t);
    t += between(200, 800);
    const leaves = [];
    for (let b = 0; b < blocks; b++) {
      const block = host('layer', `layers.${b} (Block)`, model.id, t);
      t += 200;
      for (const leafName of ['attention', 'mlp']) {
        const leaf = host('layer', `layers.${b}.${leafName}`, block.id, t);
        t += between(500, 2000) + Math.ceil(count / (2 * blocks)) * 300;
        leaf.end = t;
        leaves.push(leaf);
        t += 100;
      }
      block.end = t;
      t += 100;
    }
    model.end = t;
    t += 500;
    const ev = host('eval', 'eval', step.id, t);
    const clocks = new Array(threads).fill(t + 1000);
    for (let k = 0; k < count; k++) {
      const leaf = leaves[Math.floor((k * leaves.length) / count)];
      const m = 8 << (k % 4);
      // Fresh tensor objects per span, as a recorder would produce.
      const x = { shape: [m, 64], dtype: 'float32', bytes: m * 256 };
      const op = ops[(made + k) % ops.length];
      const w = k % threads;
      const start = clocks[w];
      const end = start + between(1000, 40000);
      clocks[w] = end + between(100, 1500);
      spans.push({
        id: id++, parentId: ev.id, kind: 'primitive', name: op, start, end, thread: JS + 1 + w, device: 'cpu',
        inputs: [x, { shape: [64, 64], dtype: 'float32', bytes: 16384 }], outputs: [{ shape: [m, 64], dtype: 'float32', bytes: m * 256 }],
        flops: op === 'Gather' || op === 'CustomKernel' ? null : 2 * m * 64 * 64, bytes: m * 512 + 16384,
        layerId: leaf.id, layer: leaf.name,
      });
      live += m * 256;
      memory.push({ t: start + 10, delta: m * 256, live, op });
    }
    made += count;
    t = Math.max(...clocks) + 300;
    ev.end = t;
    step.end = t + 200;
    memory.push({ t: step.end - 50, delta: -live, live: 0, op: null });
    live = 0;
    t = step.end + 2000;
  }
  memory.sort((a, b) => a.t - b.t);
  return benchTrace(spans, memory);
}

let trace = null;
const getTrace = () => (trace ??= syntheticTrace(PRIMITIVES));

/**
 * Runs fn while sampling RSS every 5 ms; returns its result, wall and CPU time (this process, incl. the
 * file-system threads) and the peak RSS above the start. CPU time is reported too because the machine is
 * shared: wall time under load says more about the neighbours than about the exporter.
 */
async function measured(fn) {
  const rss0 = process.memoryUsage.rss();
  const cpu0 = process.cpuUsage();
  let peak = rss0;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  const t0 = performance.now();
  try {
    const result = await fn();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, ms, cpuMs: (cpu.user + cpu.system) / 1000, rssGrowthMb: (peak - rss0) / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

function withDir(fn) {
  const dir = mkdtempSync(join(tmpdir(), 'mlx-trace-bench-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

export default [
  {
    id: 'export.chrome_events_per_s',
    unit: 'events/s',
    goal: 1_000_000,
    better: 'higher',
    run: () =>
      withDir(async (dir) => {
        const tr = getTrace();
        const path = join(dir, 'trace.chrome-trace.json');
        await exportChromeTrace(tr, path); // warm-up: JIT, caches
        const runs = [];
        for (let i = 0; i < 3; i++) runs.push(await measured(() => exportChromeTrace(tr, path)));
        const best = runs.reduce((a, b) => (b.ms < a.ms ? b : a));
        return {
          value: best.result.events / (best.ms / 1000),
          extra: {
            events: best.result.events,
            spans: best.result.spans,
            file_mb: +(statSync(path).size / 2 ** 20).toFixed(1),
            ms: +best.ms.toFixed(0),
            events_per_cpu_s: Math.round(best.result.events / (best.cpuMs / 1000)),
            load1: +loadavg()[0].toFixed(2),
            peak_rss_growth_mb: +Math.max(...runs.map((r) => r.rssGrowthMb)).toFixed(1),
          },
        };
      }),
  },
  {
    id: 'export.perfetto_events_per_s',
    unit: 'events/s',
    goal: 1_000_000,
    better: 'higher',
    run: () =>
      withDir(async (dir) => {
        const tr = getTrace();
        const path = join(dir, 'trace.perfetto-trace');
        await exportPerfetto(tr, path);
        const runs = [];
        for (let i = 0; i < 3; i++) runs.push(await measured(() => exportPerfetto(tr, path)));
        const best = runs.reduce((a, b) => (b.ms < a.ms ? b : a));
        const json = await exportChromeTrace(tr, join(dir, 'trace.chrome-trace.json'));
        return {
          value: best.result.events / (best.ms / 1000),
          extra: {
            events: best.result.events,
            size_ratio_perfetto_over_json: +(best.result.bytes / json.bytes).toFixed(3),
            perfetto_mb: +(best.result.bytes / 2 ** 20).toFixed(1),
            json_mb: +(json.bytes / 2 ** 20).toFixed(1),
            ms: +best.ms.toFixed(0),
            events_per_cpu_s: Math.round(best.result.events / (best.cpuMs / 1000)),
            load1: +loadavg()[0].toFixed(2),
            peak_rss_growth_mb: +Math.max(...runs.map((r) => r.rssGrowthMb)).toFixed(1),
          },
        };
      }),
  },
];
