// A taken trace: plain data to every reader, with its arrays made on first read; saved to .mlxtrace
// unread, it is written from the recorder's columns to the same bytes as after reading it.
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import { loadTrace, saveTrace } from '../../src/core/io/persist';
import { MemoryLog, PrimitiveLog, PRIM_FAST_SHIFT, PRIM_GPU, PRIM_TRUNCATED, registerSignature, type Signature } from '../../src/core/record/event-log';
import type { LiveSpan } from '../../src/core/record/recorder';
import { lazyTrace, TakenColumns } from '../../src/core/record/taken-trace';
import type { TensorInfo, Trace } from '../../src/core/model/trace';
import type { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';
import { mulberry32, syntheticTrace } from '../helpers/synthetic-trace';

const require = createRequire(import.meta.url);
const { core: mx, nn } = require('@frost-beta/mlx');

class Block extends nn.Module {
  fc: any;
  w: any;
  constructor() {
    super();
    this.fc = new nn.Linear(16, 16);
    this.w = mx.ones([16]);
  }
  forward(x: any) {
    // mx.fast runs its fallback graph on the CPU: those primitives carry attrs (other keys in a row).
    return mx.fast.rmsNorm(nn.relu(this.fc.forward(x)), this.w, 1e-5);
  }
}

let inst: MlxInstrumentation;
let dir: string;
beforeAll(() => {
  inst = registerMlxInstrumentation();
  dir = mkdtempSync(join(tmpdir(), 'mlx-trace-taken-'));
});
afterAll(() => {
  inst.disable();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh recording of a few evals of a small model: evals, layers, primitives, memory events. */
async function record(): Promise<Trace> {
  const m = new Block();
  inst.instrumentModule(m); // defined before registration
  const x = mx.random.normal([8, 16]);
  mx.eval(x);
  inst.takeTrace();
  for (let i = 0; i < 3; i++) {
    mx.eval(m.forward(x));
    await new Promise((r) => setImmediate(r));
  }
  return inst.takeTrace('taken');
}

const isAccessor = (o: object, k: string) => typeof Object.getOwnPropertyDescriptor(o, k)?.get === 'function';

describe('a taken trace', () => {
  it('saved unread is the same file, byte for byte, as saved after its arrays were made', async () => {
    const trace = await record();
    expect(isAccessor(trace, 'spans')).toBe(true);
    const unread = join(dir, 'unread.mlxtrace');
    saveTrace(trace, unread);
    expect(isAccessor(trace, 'spans')).toBe(true); // saving did not make the arrays
    const prims = trace.spans.filter((s) => s.kind === 'primitive');
    expect(prims.length).toBeGreaterThan(20);
    expect(prims.some((s) => s.attrs?.fast === 'rmsNorm')).toBe(true);
    expect(prims.some((s) => s.layer === 'Block')).toBe(true);
    expect(trace.memory.length).toBeGreaterThan(0);
    const read = join(dir, 'read.mlxtrace');
    saveTrace(trace, read);
    expect(readFileSync(unread).equals(readFileSync(read))).toBe(true);
    expect(loadTrace(unread)).toEqual(JSON.parse(JSON.stringify(trace)));
  });

  it('reads as plain data: keys, JSON, clone, spread, console output; arrays become data properties', async () => {
    const trace = await record();
    expect(Object.keys(trace)).toEqual(['schema', 'name', 'meta', 'spans', 'memory', 'dropped']);
    expect(inspect(trace, { depth: 0 })).not.toMatch(/Getter/);
    const json = JSON.parse(JSON.stringify(trace));
    expect(Array.isArray(json.spans) && json.spans.length > 0).toBe(true);
    expect(structuredClone(trace)).toEqual(json);
    expect({ ...trace }).toEqual(json);
    expect(isAccessor(trace, 'spans')).toBe(false);
    expect(isAccessor(trace, 'memory')).toBe(false);
    expect(trace.spans).toBe(trace.spans);
  });

  it('keeps what a program changes: an edited span, or an array replaced before it was read', async () => {
    const edited = await record();
    edited.spans[0].name = 'renamed';
    saveTrace(edited, join(dir, 'edited.mlxtrace'));
    expect(loadTrace(join(dir, 'edited.mlxtrace')).spans[0].name).toBe('renamed');

    const replaced = await record();
    replaced.memory = [];
    expect(isAccessor(replaced, 'memory')).toBe(false);
    saveTrace(replaced, join(dir, 'replaced.mlxtrace'));
    const back = loadTrace(join(dir, 'replaced.mlxtrace'));
    expect(back.memory).toEqual([]);
    expect(back.spans.length).toBeGreaterThan(20);

    // Frozen before its arrays were read: they are still made, and an edit of a span still counts.
    const frozen = Object.freeze(await record());
    frozen.spans[1].name = 'edited';
    saveTrace(frozen, join(dir, 'frozen.mlxtrace'));
    expect(loadTrace(join(dir, 'frozen.mlxtrace')).spans[1].name).toBe('edited');
  });

  it('is independent of the next window, which is recorded into the same columns', async () => {
    const x = mx.ones([4]);
    mx.eval(x);
    const window = () => {
      let y = x;
      for (let k = 0; k < 1500; k++) y = mx.add(y, 1);
      mx.eval(y);
    };
    const rec = inst.recorder as unknown as { prims: PrimitiveLog };
    inst.takeTrace();
    window();
    const columns = rec.prims.id;
    const traces = [inst.takeTrace()];
    // Fresh columns would cost a page fault per page as the program fills them; these are paged in.
    for (let i = 0; i < 3; i++) {
      window();
      expect(rec.prims.id).toBe(columns);
      traces.push(inst.takeTrace());
    }
    // Read after the windows that followed it: each trace still holds its own primitives.
    const seen = new Set<number>();
    for (const t of traces) {
      const adds = t.spans.filter((s) => s.kind === 'primitive' && s.name === 'Add');
      expect(adds.length).toBe(1500);
      for (const s of adds) {
        expect(seen.has(s.id)).toBe(false);
        seen.add(s.id);
        expect(t.spans.find((e) => e.id === s.parentId)?.kind).toBe('eval');
      }
    }
  });
});

// The columns of a window built by hand, with what real recordings rarely show at once: runs of one
// op long and short, JS-side spans between primitives (a primitive among them), primitives with no
// parent, no layer or a layer with no name, unpriced ops, a class with no name, t1 before t0, attrs,
// memory events out of time order, and enough rows for several blocks.
interface Window {
  js: LiveSpan[];
  prims: PrimitiveLog;
  mem: MemoryLog;
  layerNames: Map<number, string>;
}
const CLASSES = ['Add', 'Multiply', 'Matmul', 'Gather'];
function window(seed: number, primitives: number, hugeAttrs = 0): Window {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const t = (shape: number[]): TensorInfo => Object.freeze({ shape, dtype: 'float32', bytes: 4 * shape.reduce((a, b) => a * b, 1) }) as TensorInfo;
  const a = t([4, 8]);
  const b = t([8, 8]);
  // Equal to `a` but another object, as in a merged trace.
  const a2 = t([4, 8]);
  const sigs = ([
    { inputs: [a, a], outputs: [a] },
    { inputs: [a, b], outputs: [a] },
    { inputs: [a2], outputs: [t([32])] },
    { inputs: [], outputs: [b] },
  ] as Signature[]).map(registerSignature);
  const prims = new PrimitiveLog();
  const mem = new MemoryLog();
  const js: LiveSpan[] = [];
  const layerNames = new Map<number, string>();
  const span = (id: number, kind: LiveSpan['kind'], name: string, start: number, extra: Partial<LiveSpan> = {}): LiveSpan => ({
    id, parentId: null, kind, name, start, end: start + 1000, thread: 1, device: 'cpu', inputs: [], outputs: [], ...extra,
  });
  let id = 1;
  let time = 5_000;
  let evalId = 0;
  const layers: number[] = [0];
  if (hugeAttrs) js.push(span(id++, 'user', 'huge', time, { attrs: { blob: 'x'.repeat(hugeAttrs) } }));
  while (prims.length < primitives) {
    const r = rnd();
    if (r < 0.02) {
      evalId = id;
      js.push(span(id++, 'eval', 'eval', time));
    } else if (r < 0.03) {
      const l = id++;
      layers.push(l);
      js.push(span(l, 'layer', `layers.${l}`, time, { parentId: evalId || null }));
      // Some layers have no name (layerNames lost it): layer null with a layerId.
      if (rnd() < 0.8) layerNames.set(l, `layers.${l} (Block)`);
    } else if (r < 0.035) {
      // A primitive kept as an object, priced at the take; one with attrs and a price of its own.
      js.push(span(id++, 'primitive', pick(CLASSES), time, { parentId: evalId || null, inputs: [a, a], outputs: [a], layerId: null, layer: null }));
      js.push(span(id++, 'primitive', 'Custom', time, { flops: 7, bytes: 9, attrs: { costOp: 'Add', note: 'kept' } }));
    } else {
      // A run of one op on one shape in one layer, 1 to 40 rows.
      const cls = rnd() < 0.05 ? 9 : Math.floor(rnd() * CLASSES.length);
      const sig = pick(sigs);
      const flags = (rnd() < 0.5 ? PRIM_GPU : 0) | (rnd() < 0.05 ? PRIM_TRUNCATED : 0) | (rnd() < 0.05 ? 2 << PRIM_FAST_SHIFT : 0);
      const layer = pick(layers);
      const parent = rnd() < 0.1 ? 0 : evalId;
      const thread = pick([11, 12]);
      for (let k = 1 + Math.floor(rnd() * (rnd() < 0.3 ? 40 : 3)); k > 0 && prims.length < primitives; k--) {
        const t0 = time;
        const t1 = rnd() < 0.05 ? t0 - 10 : t0 + 1 + Math.floor(rnd() * 500);
        prims.push(id++, parent, t0, t1, layer, thread, cls, flags, sig);
        // Two threads' events, drained one after the other: out of time order.
        mem.push(rnd() < 0.1 ? time - 3000 : time + 1, 64, 1000 + prims.length, rnd() < 0.3 ? -1 : cls);
        time += 100 + Math.floor(rnd() * 300);
      }
    }
    time += 50;
  }
  return { js, prims, mem, layerNames };
}

const head = () => {
  const { schema, name, meta, dropped } = syntheticTrace({ steps: 1 });
  return { schema, name, meta, dropped };
};

/** The window saved unread (from its columns), then after its arrays were made (as objects): the bytes of both. */
function bothWays(w: Window, from?: { spans: number; prims: number; memory: number }): [Buffer, Buffer, Trace] {
  const cols = new TakenColumns(w.js, w.prims, w.mem, w.layerNames, CLASSES, 1234, from?.spans, from?.prims, from?.memory);
  const trace = lazyTrace(head(), cols);
  const unread = join(dir, 'cols-unread.mlxtrace');
  saveTrace(trace, unread);
  expect(isAccessor(trace, 'spans')).toBe(true);
  void trace.spans;
  void trace.memory;
  const read = join(dir, 'cols-read.mlxtrace');
  saveTrace(trace, read, { validate: false });
  return [readFileSync(unread), readFileSync(read), trace];
}

describe('a taken trace saved from its columns', () => {
  it('is the same file as from its objects, across blocks and every kind of row', () => {
    const w = window(7, 150_000);
    const [unread, read, trace] = bothWays(w);
    expect(unread.equals(read)).toBe(true);
    // What the window was meant to hold is there.
    expect(trace.spans.length).toBeGreaterThan(2 * 65536);
    expect(trace.spans.some((s) => s.kind === 'eval')).toBe(true);
    expect(trace.spans.some((s) => s.kind === 'primitive' && s.attrs?.note === 'kept')).toBe(true);
    expect(trace.spans.some((s) => s.name === 'class#9')).toBe(true);
    expect(trace.spans.some((s) => s.kind === 'primitive' && s.flops === null)).toBe(true);
    expect(trace.spans.some((s) => s.parentId === null && s.kind === 'primitive')).toBe(true);
    expect(trace.spans.some((s) => s.layerId === null)).toBe(true);
    expect(trace.spans.some((s) => typeof s.layerId === 'number' && s.layer === null)).toBe(true);
    expect(trace.spans.some((s) => s.attrs?.truncated === true)).toBe(true);
    expect(w.mem.t.subarray(0, w.mem.length).some((t, i, ts) => i > 0 && t < ts[i - 1])).toBe(true);
    expect(loadTrace(join(dir, 'cols-unread.mlxtrace'))).toEqual(JSON.parse(JSON.stringify(trace)));
  });

  it('is the same file for a window that starts part way through the columns', () => {
    const w = window(11, 70_000);
    const [unread, read] = bothWays(w, { spans: 40, prims: 1000, memory: 900 });
    expect(unread.equals(read)).toBe(true);
  });

  it('ends a block where the object path does when other keys fill it (a huge attrs, then primitives with attrs)', () => {
    // The JS span's other keys leave room for about one primitive's ('{"attrs":{"truncated":true}}').
    const w = window(3, 3000, (32 << 20) - 21 - 40);
    const [unread, read] = bothWays(w);
    expect(unread.equals(read)).toBe(true);
  });
});
