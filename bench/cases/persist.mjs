// saveTrace / loadTrace throughput on a large synthetic trace written to a real file, and the cost
// model's price per primitive. Build first (npx tsup): these import the package from dist/.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveTrace, loadTrace, estimateCost } from '../../dist/index.mjs';
import { benchTrace } from '../lib.mjs';

const PRIMITIVES = 300_000;

/** One tensor list per (op, size) of frozen tensors, shared by the spans that have it, as the recorder makes them. */
const lists = new Map();
function shared(key, make) {
  let l = lists.get(key);
  if (!l) lists.set(key, (l = make().map((t) => Object.freeze(t))));
  return l;
}

/** Primitive spans under evals. */
function bigTrace(n) {
  const ops = ['Matmul', 'Add', 'Multiply', 'Softmax', 'Gather', 'Exp', 'fast::RMSNorm', 'Reshape'];
  const spans = [];
  const memory = [];
  let id = 1;
  let t = 1_000_000_000_000; // ns timestamps of a long-running process: not small integers
  let evalSpan = null;
  for (let k = 0; k < n; k++) {
    if (k % 1000 === 0) {
      if (evalSpan) evalSpan.end = t;
      evalSpan = { id: id++, parentId: null, kind: 'eval', name: 'eval', start: t, end: t, thread: 4242, device: 'cpu', inputs: [], outputs: [], flops: null, bytes: null };
      spans.push(evalSpan);
    }
    const m = 8 << (k % 4);
    const op = ops[k % ops.length];
    const start = t;
    t += 1000 + (k % 97) * 37;
    spans.push({
      id: id++, parentId: evalSpan.id, kind: 'primitive', name: op, start, end: t, thread: 4243 + (k % 2), device: 'cpu',
      inputs: shared(`in ${m}`, () => [{ shape: [1, m, 256], dtype: 'float32', bytes: m * 1024 }, { shape: [256, 256], dtype: 'float32', bytes: 262144 }]),
      outputs: shared(`out ${m}`, () => [{ shape: [1, m, 256], dtype: 'float32', bytes: m * 1024 }]),
      flops: 2 * m * 256 * 256, bytes: m * 2048 + 262144, layerId: 2, layer: `layers.${k % 4}.attention`,
    });
    memory.push({ t: start + 10, delta: m * 1024, live: m * 1024 * ((k % 1000) + 1), op });
    t += 200;
  }
  evalSpan.end = t;
  return benchTrace(spans, memory);
}

let trace = null;
const getTrace = () => (trace ??= bigTrace(PRIMITIVES));

function withDir(fn) {
  const dir = mkdtempSync(join(tmpdir(), 'mlx-trace-bench-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Best of `runs` timings of fn: wall ms, and the process's CPU ms (user + system) of the same run,
 * which other work on a busy machine disturbs less than wall time.
 */
function best(fn, runs = 3) {
  let ms = Infinity;
  let cpuMs = Infinity;
  let result;
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    result = fn();
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (wall < ms) {
      ms = wall;
      cpuMs = (c.user + c.system) / 1000;
    }
  }
  return { ms, cpuMs, result };
}

/**
 * saveTrace of the big trace to `file` in `dir` (the layout follows the extension): the best of
 * three with validation, the best of three without, and the file's size.
 */
function measureSave(dir, file) {
  const tr = getTrace();
  const path = join(dir, file);
  saveTrace(tr, path); // warm-up
  const v = best(() => saveTrace(tr, path));
  const nv = best(() => saveTrace(tr, path, { validate: false }));
  const size = statSync(path).size;
  return {
    tr,
    value: (v.ms * 1e6) / tr.spans.length,
    extra: {
      file_mb: +(size / 2 ** 20).toFixed(1),
      mb_per_s: +(size / 2 ** 20 / (v.ms / 1000)).toFixed(1),
      no_validate_ns_per_span: +((nv.ms * 1e6) / tr.spans.length).toFixed(0),
      cpu_ns_per_span: +((v.cpuMs * 1e6) / tr.spans.length).toFixed(0),
    },
    ms: v.ms,
  };
}

/** The case loading the big trace saved as `file`. */
function loadCase(id, goal, file) {
  return {
    id,
    unit: 'ns',
    goal,
    better: 'lower',
    run: () =>
      withDir((dir) => {
        const tr = getTrace();
        const path = join(dir, file);
        saveTrace(tr, path);
        loadTrace(path); // warm-up
        const v = best(() => loadTrace(path), 2);
        const size = statSync(path).size;
        if (v.result.spans.length !== tr.spans.length) throw new Error('loaded a different number of spans');
        return {
          value: (v.ms * 1e6) / tr.spans.length,
          extra: {
            file_mb: +(size / 2 ** 20).toFixed(1),
            mb_per_s: +(size / 2 ** 20 / (v.ms / 1000)).toFixed(1),
            cpu_ns_per_span: +((v.cpuMs * 1e6) / tr.spans.length).toFixed(0),
          },
        };
      }),
  };
}

export default [
  {
    id: 'persist.save_ns_per_span',
    unit: 'ns',
    // A share of sdk.pipeline_ns_per_primitive's 1000 ns budget, which counts saveTrace.
    goal: 500,
    better: 'lower',
    run: () =>
      withDir((dir) => {
        const m = measureSave(dir, 'trace.json');
        const records = m.tr.spans.length + m.tr.memory.length;
        return {
          value: m.value,
          extra: { spans: m.tr.spans.length, memory_events: m.tr.memory.length, ns_per_record: +((m.ms * 1e6) / records).toFixed(0), ...m.extra },
        };
      }),
  },
  loadCase('persist.load_ns_per_span', 5000, 'trace.json'),
  {
    id: 'persist.save_binary_ns_per_span',
    unit: 'ns',
    // The binary layout's share of sdk.pipeline_ns_per_primitive: about 100 ns per primitive and its memory event.
    goal: 150,
    better: 'lower',
    run: () =>
      withDir((dir) => {
        const m = measureSave(dir, 'trace.mlxtrace');
        saveTrace(m.tr, join(dir, 'trace.json'));
        return { value: m.value, extra: { json_file_mb: +(statSync(join(dir, 'trace.json')).size / 2 ** 20).toFixed(1), ...m.extra } };
      }),
  },
  loadCase('persist.load_binary_ns_per_span', 1000, 'trace.mlxtrace'),
  {
    id: 'cost.estimate_ns_per_op',
    unit: 'ns',
    goal: 150,
    better: 'lower',
    run: () => {
      const prims = getTrace().spans.filter((s) => s.kind === 'primitive');
      let sink = 0;
      const pass = () => {
        for (const s of prims) {
          const c = estimateCost(s.name, s.inputs, s.outputs);
          sink += c.flops ?? 0;
        }
      };
      pass(); // warm-up
      const v = best(pass, 5);
      if (!(sink > 0)) throw new Error('no flops priced');
      return { value: (v.ms * 1e6) / prims.length, extra: { ops: prims.length } };
    },
  },
];
