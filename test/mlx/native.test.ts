// The native hook layer against real MLX: events, shapes, memory, probe refusals, detach, stress.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBatch, type PrimitiveEvent } from '../../src/core/record/decode';

interface MemoryRecord {
  t: number;
  delta: number;
  live: number;
  op: string | null;
}
const memSink = (into: MemoryRecord[]) => (t: number, delta: number, live: number, cls: number) =>
  into.push({ t, delta, live, op: cls >= 0 ? hook.classes[cls] : null });
import { checkLayout, loadBinding, loadedMlxAddon, openHookLayer, packageRoot, type HookLayer } from '../../src/core/record/native';

const require = createRequire(import.meta.url);
const { core: mx, nn } = require('@frost-beta/mlx');

let hook: HookLayer;
const b = () => hook.binding;

/** Garbage-collects, letting Node run the N-API finalizers it queues for a later turn of the loop. */
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    ((globalThis as any).gc as () => void)();
    await new Promise((r) => setImmediate(r));
  }
}

function capture(fn: () => void): { prims: PrimitiveEvent[]; mem: MemoryRecord[]; dropped: number; t0: number; t1: number } {
  b().drain();
  b().setRecording(true);
  const t0 = b().now();
  fn();
  const t1 = b().now();
  b().setRecording(false);
  const batch = b().drain();
  const prims: PrimitiveEvent[] = [];
  const mem: MemoryRecord[] = [];
  decodeBatch(batch, hook.classes, (e) => e.op !== 'Synchronizer' && prims.push(e), memSink(mem), true);
  return { prims, mem, dropped: batch.dropped, t0, t1 };
}

beforeAll(() => {
  const h = openHookLayer(mx);
  if ('reason' in h) throw new Error(h.reason);
  hook = h;
});
afterAll(() => b().detach());

describe('native hook layer', () => {
  it('finds MLX primitive classes from the addon symbols, not a hand-kept list', () => {
    expect(hook.classes.length).toBeGreaterThan(80);
    for (const name of ['Matmul', 'AddMM', 'Softmax', 'fast::RMSNorm', 'Convolution', 'Split', 'DivMod']) expect(hook.classes).toContain(name);
  });

  it('records exactly one Matmul for [64,128] x [128,32] inside one eval, with shapes, dtypes and times', () => {
    const a = mx.random.normal([64, 128]);
    const w = mx.random.normal([128, 32]);
    mx.eval(a, w);
    const c = mx.matmul(a, w);
    const { prims, t0, t1 } = capture(() => mx.eval(c));
    const mm = prims.filter((p) => p.op === 'Matmul');
    expect(mm).toHaveLength(1);
    expect(prims).toHaveLength(1);
    const e = mm[0];
    expect(e.outputs).toEqual([{ shape: [64, 32], dtype: 'float32', bytes: 64 * 32 * 4 }]);
    expect(e.inputs).toEqual([
      { shape: [64, 128], dtype: 'float32', bytes: 64 * 128 * 4 },
      { shape: [128, 32], dtype: 'float32', bytes: 128 * 32 * 4 },
    ]);
    expect(e.t1).toBeGreaterThan(e.t0);
    expect(e.t0).toBeGreaterThanOrEqual(t0);
    expect(e.t1).toBeLessThanOrEqual(t1);
    expect(e.device).toBe('cpu');
    expect(e.outputIds[0]).toBe(b().inspect(c)!.desc);
    expect(e.inputIds).toEqual([b().inspect(a)!.desc, b().inspect(w)!.desc]);
    // eval_cpu runs on MLX's stream thread, not the JS thread.
    expect(e.thread).not.toBe(hook.jsThread);
  });

  it('gives every primitive its own shapes when one op class changes shapes from one call to the next', () => {
    // Add runs with shapes [3], [2,3], [4,2,3], [3], [2,3], ... in turn (decoding tries the shapes
    // an op class had last before hashing: each of these is a miss, then repeats are hits).
    const s1 = mx.ones([3]);
    const s2 = mx.ones([2, 3]);
    const s3 = mx.ones([4, 2, 3]);
    mx.eval(s1, s2, s3);
    let y = s1;
    const want: number[][] = [];
    for (let i = 0; i < 4; i++) {
      y = mx.add(mx.sum(mx.add(mx.add(mx.add(mx.sum(y), s1), s2), s3)), s1);
      want.push([3], [2, 3], [4, 2, 3], [3]);
    }
    const { prims } = capture(() => mx.eval(y));
    const adds = prims.filter((p) => p.op === 'Add');
    expect(adds.map((p) => p.outputs[0].shape)).toEqual(want);
    // MLX broadcasts the inputs first: each Add's inputs have its output's shape
    expect(adds.map((p) => p.inputs.map((t) => t.shape))).toEqual(want.map((w) => [w, w]));
  });

  it('records one event per executed primitive of a 2-layer MLP, in execution order, and none after detach', () => {
    const l1 = new nn.Linear(32, 64);
    const l2 = new nn.Linear(64, 8);
    mx.eval(l1.parameters(), l2.parameters());
    const x = mx.random.normal([4, 32]);
    mx.eval(x);
    const y = l2.forward(nn.relu(l1.forward(x)));
    // The graph's unevaluated nodes, counted by the native walk through the probed layout.
    const graphNodes = b().tagGraph([y], 999999, 0x7fffffff);
    const { prims } = capture(() => mx.eval(y));
    expect(prims.length).toBe(graphNodes);
    const ops = prims.map((p) => p.op);
    expect(ops.filter((o) => o === 'AddMM')).toHaveLength(2);
    expect(ops.indexOf('AddMM')).toBeLessThan(ops.lastIndexOf('AddMM'));
    // execution order: each event starts after the previous one ended (one stream thread)
    for (let i = 1; i < prims.length; i++) expect(prims[i].t0).toBeGreaterThanOrEqual(prims[i - 1].t1);
    // the last one produces y
    expect(prims[prims.length - 1].outputIds[0]).toBe(b().inspect(y)!.desc);
    expect(prims[prims.length - 1].outputs[0].shape).toEqual([4, 8]);

    const snap = b().snapshot();
    b().detach();
    const z = l2.forward(nn.relu(l1.forward(x)));
    const after = capture(() => mx.eval(z));
    expect(after.prims).toHaveLength(0);
    expect(b().attach(true)).toBe('');
    expect(b().snapshot().equals(snap)).toBe(true);
  });

  it('records the allocation of the matmul output, and live bytes return to baseline when freed', async () => {
    expect(typeof (globalThis as any).gc).toBe('function');
    await collect();
    const base = b().stats().liveBytes;
    const { mem, matmuls } = await (async () => {
      b().drain();
      b().setRecording(true);
      // ones(), not random: the random key state stays alive and would not be freed.
      let a: any = mx.ones([64, 128]);
      let w: any = mx.ones([128, 32]);
      let c: any = mx.matmul(a, w);
      mx.eval(c);
      const mid = b().stats().liveBytes;
      expect(mid - base).toBeGreaterThanOrEqual(64 * 32 * 4 + 64 * 128 * 4 + 128 * 32 * 4);
      a = w = c = null;
      await collect();
      b().setRecording(false);
      const mem: MemoryRecord[] = [];
      const matmuls: PrimitiveEvent[] = [];
      decodeBatch(b().drain(), hook.classes, (e) => e.op === 'Matmul' && matmuls.push(e), memSink(mem));
      return { mem, matmuls };
    })();
    const mallocs = mem.filter((m) => m.delta > 0);
    const out = mallocs.find((m) => m.op === 'Matmul' && m.delta >= 64 * 32 * 4);
    expect(out, 'a Matmul-attributed allocation of the output').toBeTruthy();
    // Its size is the block's footprint (malloc's header and rounding: a few words), and its time
    // lies within the Matmul that made it.
    expect(out!.delta).toBeLessThan(64 * 32 * 4 + 64);
    expect(matmuls.some((p) => out!.t >= p.t0 && out!.t <= p.t1)).toBe(true);
    expect(b().stats().liveBytes).toBe(base);
    const frees = mem.filter((m) => m.delta < 0);
    expect(frees.reduce((s, m) => s - m.delta, 0)).toBe(mallocs.reduce((s, m) => s + m.delta, 0));
  });

  it('does not subtract a block allocated before recording began when it is freed', async () => {
    await collect();
    b().setRecording(false);
    let a: any = mx.ones([1000]);
    mx.eval(a); // allocated while not recording: not in the set of tracked blocks
    const before = b().stats();
    b().setRecording(true);
    a = null;
    await collect();
    b().setRecording(false);
    b().drain();
    const after = b().stats();
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(after.untrackedFrees).toBeGreaterThan(before.untrackedFrees);
  });

  it('groups a burst of frees on the JS thread into few events, with exact totals and nothing dropped', async () => {
    await collect();
    const base = b().stats().liveBytes;
    b().drain(); // makes this (the JS) thread the one whose frees are grouped
    b().setRecording(true);
    let keep: any[] | null = [];
    for (let i = 0; i < 2000; i++) keep.push(mx.add(mx.ones([8]), mx.ones([8])));
    mx.eval(...keep);
    keep = null;
    await collect();
    b().setRecording(false);
    const mem: MemoryRecord[] = [];
    let jsFrees = 0;
    const batch = b().drain();
    expect(batch.dropped).toBe(0);
    const sink = memSink(mem);
    decodeBatch(batch, hook.classes, () => {}, (t, delta, live, cls, thread) => {
      sink(t, delta, live, cls);
      if (delta < 0 && thread === b().tid()) jsFrees++;
    });
    const mallocs = mem.filter((m) => m.delta > 0);
    const frees = mem.filter((m) => m.delta < 0);
    expect(mallocs.length).toBeGreaterThanOrEqual(4000);
    // The 2000 sums are freed by finalizers on this thread: events of up to 64 frees each. (The
    // inputs are freed one by one on MLX's stream thread, between the primitives that used them.)
    expect(jsFrees).toBeGreaterThan(0);
    expect(jsFrees).toBeLessThan(2000 / 20);
    expect(frees.reduce((s, m) => s - m.delta, 0)).toBe(mallocs.reduce((s, m) => s + m.delta, 0));
    expect(b().stats().liveBytes).toBe(base);
    // Live bytes after each event agree with the running sum of deltas.
    let live = mem[0].live - mem[0].delta;
    for (const m of [...mem].sort((x, y) => x.t - y.t)) {
      live += m.delta;
      expect(m.live).toBe(live);
    }
  });

  it('detach restores every vtable slot and the napi_wrap GOT entry exactly; attach/detach repeats', () => {
    b().detach();
    const original = b().snapshot();
    for (let i = 0; i < 5; i++) {
      expect(b().attach(true)).toBe('');
      expect(b().snapshot().equals(original)).toBe(false);
      expect(b().stats().wrapHook).toBe(true);
      b().detach();
      expect(b().snapshot().equals(original)).toBe(true);
      expect(b().stats().wrapHook).toBe(false);
    }
    expect(b().attach(true)).toBe('');
  });

  it('stays safe when attach/detach happen while evals run on the stream thread', async () => {
    const x = mx.random.normal([128, 128]);
    mx.eval(x);
    b().setRecording(true);
    for (let i = 0; i < 200; i++) {
      const y = mx.matmul(mx.exp(x), x);
      mx.asyncEval(y);
      if (i % 2) b().detach();
      else b().attach(true);
      if (i % 10 === 0) await new Promise((r) => setImmediate(r));
      mx.eval(y);
    }
    b().setRecording(false);
    b().detach();
    b().drain();
    expect(b().attach(true)).toBe('');
  });
});

describe('probe', () => {
  it('refuses an addon that is not MLX, with one clear line', () => {
    const own = join(packageRoot(), 'build', 'Release', 'mlx_trace.node');
    const r = loadBinding().binding!.open(own);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/no MLX primitive classes/);
    expect(r.reason!.split('\n')).toHaveLength(1);
    const r2 = loadBinding().binding!.open('/nonexistent/mlx.node');
    expect(r2.ok).toBe(false);
    expect(r2.reason).toMatch(/not loaded/);
    // re-open the real one for the remaining tests
    expect(loadBinding().binding!.open(loadedMlxAddon()!).ok).toBe(true);
  });

  it('refuses a deliberately wrong layout and patches nothing', () => {
    const bind = loadBinding().binding!;
    bind.detach();
    const before = bind.snapshot();
    const good = bind.getLayout();
    try {
      bind.setLayout({ dtype: good.dtype + 8 });
      expect(checkLayout(bind, mx)).toMatch(/^layout: dtype read as/);
      // A status read from the wrong word: walks would stop nowhere, or everywhere.
      bind.setLayout({ dtype: good.dtype, status: good.status + 8 });
      expect(checkLayout(bind, mx)).toMatch(/^layout: an (evaluated array|array no eval has taken) shows/);
      bind.setLayout({ status: good.status, inputs: good.inputs + 24 });
      const h = openHookLayer(mx);
      expect('reason' in h && h.reason).toMatch(/layout: the inputs of add/);
      expect(bind.snapshot().equals(before)).toBe(true);
    } finally {
      bind.setLayout(good);
    }
    const h = openHookLayer(mx);
    expect('reason' in h).toBe(false);
    hook = h as HookLayer;
  });
});

describe('stress', () => {
  it('many evals from async code with a full buffer: drops counted, no torn records', async () => {
    // Small rings: set before any new thread records. The stream thread's ring already exists, so
    // fill it instead: record without draining until it overflows.
    const x = mx.random.normal([8, 8]);
    mx.eval(x);
    b().drain();
    b().setRecording(true);
    const tasks = Array.from({ length: 8 }, async (_, k) => {
      for (let i = 0; i < 2500; i++) {
        let y = x;
        for (let j = 0; j < 4; j++) y = mx.add(mx.multiply(y, 1.0001), k);
        mx.eval(y);
        if (i % 50 === 0) await new Promise((r) => setImmediate(r));
      }
    });
    await Promise.all(tasks);
    b().setRecording(false);
    const batch = b().drain();
    let good = 0;
    decodeBatch(
      batch,
      hook.classes,
      (e) => {
        expect(e.t1).toBeGreaterThanOrEqual(e.t0);
        expect(hook.classes).toContain(e.op);
        for (const t of [...e.outputs, ...e.inputs]) {
          expect(t.shape.every((d) => d >= 0 && d <= 8)).toBe(true);
          expect(['float32', 'bool', 'int32']).toContain(t.dtype);
        }
        good++;
      },
      () => {},
    );
    expect(batch.dropped).toBeGreaterThan(0);
    expect(good).toBe(batch.count - countMem(batch));
    // one ring per recording thread (the stream thread and the JS thread, which allocates)
    expect(batch.count).toBeLessThanOrEqual((1 << 16) * b().stats().threads);
  });
});

function countMem(batch: { records: ArrayBuffer; count: number }): number {
  const dv = new DataView(batch.records);
  let n = 0;
  for (let i = 0; i < batch.count; i++) if (dv.getUint8(i * 48 + 38) >= 3) n++;
  return n;
}
