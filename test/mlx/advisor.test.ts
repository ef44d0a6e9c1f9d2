// The advisor on real MLX programs: each rule finds the problem in a program that has it and stays quiet on
// the same program written the recommended way; nothing fires on the demo transformer.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import { advise, ADVISOR_LIMITS, type AdviceRule, type Finding } from '../../src/core/analysis/advisor';
import { formatFindings } from '../../src/exporters/terminal/findings';
import type { Span, Trace } from '../../src/core/model/trace';
import { createTransformer, nextToken } from '../../src/demo/transformer';
import { createLlama, generate, TINY_LLAMA } from '../../src/demo/llama';
import { syntheticTrace } from '../helpers/synthetic-trace';
import type { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const { core: mx, nn } = mlx;

let inst: MlxInstrumentation;
beforeAll(() => {
  inst = registerMlxInstrumentation();
});
afterAll(() => inst.disable());

/** Runs fn under tracing and returns only what it did. */
async function record(fn: () => unknown): Promise<Trace> {
  inst.takeTrace();
  await fn();
  return inst.takeTrace('advisor');
}

/** Frees arrays whose JS objects are unreachable (node-mlx releases memory on garbage collection). */
async function settle(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run vitest with --expose-gc (vitest.config.ts sets it)');
  // Finalizers of collected arrays run after the collection: give them two rounds.
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

const byRule = (t: Trace, rule: AdviceRule) => advise(t).filter((f) => f.rule === rule);

/**
 * The one finding of a rule, with evidence that names spans of this trace. Every program that has a problem
 * calls no mx.fast function, so a span marked attrs.fast there is a stale mark from the SDK (it would hide
 * the span from the advisor): checked first, to say so instead of failing on a missing span later.
 */
function theFinding(t: Trace, rule: AdviceRule): { f: Finding; spans: Span[] } {
  const stale = t.spans.filter((s) => s.attrs?.fast).map((s) => `${s.id} ${s.name} (${s.attrs!.fast})`);
  expect(stale, 'stale mx.fast marks on primitives of a program that calls no mx.fast function').toEqual([]);
  const found = byRule(t, rule);
  expect(found, `${rule} in ${formatFindings(advise(t)).join('\n')}`).toHaveLength(1);
  const f = found[0];
  const ids = new Map(t.spans.map((s) => [s.id, s]));
  expect(f.evidence.length).toBeGreaterThan(0);
  for (const id of f.evidence) expect(ids.has(id), `evidence span ${id}`).toBe(true);
  expect(f.message.length).toBeGreaterThan(0);
  expect(f.suggestion.length).toBeGreaterThan(0);
  expect(f.timeAtStake).toBeGreaterThanOrEqual(0);
  return { f, spans: f.evidence.map((id) => ids.get(id)!) };
}

describe('type promotion', () => {
  // A small half-precision "model" made of element-wise ops (this CPU build runs Matmul in float32 only).
  const make = () => {
    const x = mx.random.normal([64, 256]).astype(mx.float16);
    const w1 = mx.random.normal([256]).astype(mx.float16);
    const w2 = mx.random.normal([256]).astype(mx.float16);
    const b = mx.zeros([256], mx.float16);
    mx.eval(x, w1, w2, b);
    return (scale: unknown) => {
      let h = mx.multiply(x, scale);
      h = mx.add(mx.multiply(h, w1), b);
      h = mx.multiply(h, mx.sigmoid(h));
      return mx.sum(mx.multiply(h, w2), -1);
    };
  };

  it('finds float16 data pulled into float32 by a float32 scalar array', async () => {
    const layer = make();
    const t = await record(() => mx.eval(layer(mx.array(0.5))));
    const { f, spans } = theFinding(t, 'type-promotion');
    expect(f.message).toContain('float16');
    const upcasts = spans.filter((s) => s.name === 'AsType' && s.inputs[0].dtype === 'float16' && s.outputs[0].dtype === 'float32');
    expect(upcasts.length).toBeGreaterThan(0);
    const slow = spans.filter((s) => s.name !== 'AsType');
    expect(slow.map((s) => s.name)).toEqual(expect.arrayContaining(['Multiply', 'Add']));
    for (const s of slow) expect(s.outputs[0].dtype).toBe('float32');
  });

  it('stays quiet when the scalar is a JS number (weakly typed)', async () => {
    const layer = make();
    const t = await record(() => mx.eval(layer(0.5)));
    expect(t.spans.some((s) => s.kind === 'primitive' && s.outputs[0]?.dtype === 'float16')).toBe(true);
    expect(byRule(t, 'type-promotion')).toEqual([]);
  });

  it('stays quiet on a float32 program that casts a bool mask', async () => {
    const x = mx.random.normal([16, 16]);
    mx.eval(x);
    const t = await record(() => mx.eval(mx.add(x, mx.less(x, 0).astype(mx.float32))));
    expect(byRule(t, 'type-promotion')).toEqual([]);
  });
});

describe('composed operations with a fused equivalent', () => {
  const x = () => mx.random.normal([4, 32, 64]);
  const q = () => mx.random.normal([1, 4, 32, 16]);
  const cases: {
    name: string;
    text: RegExp;
    needs: string[];
    inputs: () => any[];
    hand: (...a: any[]) => any;
    fused: (...a: any[]) => any;
  }[] = [
    {
      name: 'RMSNorm',
      text: /RMS normalization/,
      needs: ['Square', 'Reduce', 'Sqrt', 'Multiply'],
      inputs: () => [x(), mx.ones([64])],
      hand: (a, w) => mx.multiply(mx.multiply(a, mx.rsqrt(mx.add(mx.mean(mx.square(a), -1, true), 1e-5))), w),
      fused: (a, w) => mx.fast.rmsNorm(a, w, 1e-5),
    },
    {
      name: 'LayerNorm',
      text: /Layer normalization/,
      needs: ['Subtract', 'Square', 'Reduce', 'Sqrt'],
      inputs: () => [x(), mx.ones([64]), mx.zeros([64])],
      hand: (a, w, b) => {
        const c = mx.subtract(a, mx.mean(a, -1, true));
        const v = mx.mean(mx.square(c), -1, true);
        return mx.add(mx.multiply(mx.multiply(c, mx.rsqrt(mx.add(v, 1e-5))), w), b);
      },
      fused: (a, w, b) => mx.fast.layerNorm(a, w, b, 1e-5),
    },
    {
      name: 'RoPE',
      text: /Rotary position embedding/,
      needs: ['Sin', 'Cos', 'Multiply', 'Subtract'],
      inputs: () => [q()],
      hand: (a) => {
        const [, , len, dims] = a.shape;
        const half = dims / 2;
        const inv = mx.exp(mx.multiply(mx.arange(0, half), -Math.log(10000) / half));
        const ang = mx.multiply(mx.arange(0, len).reshape(len, 1), inv.reshape(1, half));
        const [cos, sin] = [mx.cos(ang), mx.sin(ang)];
        const [x1, x2] = mx.split(a, 2, -1);
        return mx.concatenate([mx.subtract(mx.multiply(x1, cos), mx.multiply(x2, sin)), mx.add(mx.multiply(x1, sin), mx.multiply(x2, cos))], -1);
      },
      fused: (a) => mx.fast.rope(a, a.shape[3], false, 10000, 1, 0),
    },
    {
      name: 'attention',
      text: /Attention is spelled out/,
      needs: ['Matmul', 'Softmax'],
      inputs: () => [q(), q(), q()],
      hand: (qq, k, v) => mx.matmul(mx.softmax(mx.multiply(mx.matmul(qq, k.transpose(0, 1, 3, 2)), 0.25), -1), v),
      fused: (qq, k, v) => mx.fast.scaledDotProductAttention(qq, k, v, 0.25),
    },
    {
      name: 'softmax',
      text: /Softmax is spelled out/,
      needs: ['Exp', 'Reduce', 'Divide'],
      inputs: () => [x()],
      hand: (a) => {
        const e = mx.exp(mx.subtract(a, mx.max(a, -1, true)));
        return mx.divide(e, mx.sum(e, -1, true));
      },
      fused: (a) => mx.softmax(a, -1),
    },
  ];

  // The fused version runs first: hand-written ops that come after an mx.fast call must not inherit its mark.
  it.each(cases)('$name: the mx.fast spelling is not flagged, the hand-written one is', async (c) => {
    const args = c.inputs();
    mx.eval(...args);
    const fixed = await record(() => mx.eval(c.fused(...args)));
    expect(fixed.spans.filter((s) => s.kind === 'primitive').length).toBeGreaterThan(0);
    expect(byRule(fixed, 'unfused-op')).toEqual([]);

    const bad = await record(() => mx.eval(c.hand(...args)));
    const { f, spans } = theFinding(bad, 'unfused-op');
    expect(f.message).toMatch(c.text);
    expect(spans.map((s) => s.name)).toEqual(expect.arrayContaining(c.needs));
  });

  // What the rule relies on from the SDK: only primitives of an mx.fast fallback graph carry attrs.fast,
  // also when the hand-written graph reuses memory the fallback graph had (a stale mark would hide ops).
  it.each(cases)('$name: hand-written primitives after an mx.fast call carry no fast mark', async (c) => {
    const args = c.inputs();
    mx.eval(...args);
    const fixed = await record(() => mx.eval(c.fused(...args)));
    const marked = fixed.spans.filter((s) => s.kind === 'primitive' && s.attrs?.fast);
    if (c.name !== 'softmax') expect(marked.length).toBeGreaterThan(0);
    const bad = await record(() => mx.eval(c.hand(...args)));
    const stale = bad.spans.filter((s) => s.attrs?.fast).map((s) => `${s.name} (${s.attrs!.fast})`);
    expect(stale).toEqual([]);
  });

  it('attention with a hand-written softmax is reported once, as attention', async () => {
    const [qq, k, v] = [q(), q(), q()];
    mx.eval(qq, k, v);
    const t = await record(() => {
      const s = mx.multiply(mx.matmul(qq, k.transpose(0, 1, 3, 2)), 0.25);
      const e = mx.exp(mx.subtract(s, mx.max(s, -1, true)));
      mx.eval(mx.matmul(mx.divide(e, mx.sum(e, -1, true)), v));
    });
    const { f, spans } = theFinding(t, 'unfused-op');
    expect(f.message).toMatch(/Attention/);
    expect(spans.map((s) => s.name)).toEqual(expect.arrayContaining(['Matmul', 'Exp', 'Divide']));
  });

  it('groups by the layer that built the primitives', async () => {
    class Norm extends nn.Module {
      w: any;
      constructor() {
        super();
        this.w = mx.ones([64]);
      }
      forward(a: any) {
        return mx.multiply(mx.multiply(a, mx.rsqrt(mx.add(mx.mean(mx.square(a), -1, true), 1e-6))), this.w);
      }
    }
    class Net extends nn.Module {
      n1: any; n2: any;
      constructor() {
        super();
        this.n1 = new Norm();
        this.n2 = new Norm();
      }
      forward(a: any) {
        return this.n2.forward(mx.add(this.n1.forward(a), 1));
      }
    }
    const net = new Net();
    const a = x();
    mx.eval(a, net.parameters());
    const t = await record(() => mx.eval(net.forward(a)));
    const { f, spans } = theFinding(t, 'unfused-op');
    expect(f.message).toContain('2 places');
    expect(new Set(spans.map((s) => s.layer))).toEqual(new Set(['n1 (Norm)', 'n2 (Norm)']));
  });
});

describe('evaluating too often', () => {
  it('finds item() in a loop; tolist() once is fine', async () => {
    const v = mx.random.normal([64]);
    mx.eval(v);
    const bad = await record(() => {
      let sum = 0;
      for (let i = 0; i < 32; i++) sum += v.index(i).item() as number;
      return sum;
    });
    const { f, spans } = theFinding(bad, 'eval-too-often');
    expect(f.message).toMatch(/sync points/);
    expect(spans.length).toBe(32);
    for (const s of spans) expect([s.kind, s.name]).toEqual(['sync', 'item']);

    const fixed = await record(() => (v.tolist() as number[]).reduce((a, b) => a + b, 0));
    expect(byRule(fixed, 'eval-too-often')).toEqual([]);
  });

  it('finds an eval per tiny op; one eval per iteration block is fine', async () => {
    const start = mx.ones([32]);
    mx.eval(start);
    const bad = await record(() => {
      let y = start;
      for (let i = 0; i < 32; i++) {
        y = mx.add(mx.multiply(y, 0.5), 1);
        mx.eval(y);
      }
    });
    const { spans } = theFinding(bad, 'eval-too-often');
    expect(spans.length).toBe(32);
    for (const s of spans) expect(s.kind).toBe('eval');

    // One primitive preempted for 20 ms (another process on the core) does not hide the run.
    const slowed: Trace = { ...bad, spans: bad.spans.map((s) => ({ ...s })) };
    const ev = slowed.spans.find((s) => s.id === spans[5].id)!;
    const prim = slowed.spans.find((s) => s.parentId === ev.id && s.kind === 'primitive')!;
    prim.end += 20e6;
    ev.end += 20e6;
    expect(byRule(slowed, 'eval-too-often').map((f) => f.evidence.length)).toEqual([32]);

    const fixed = await record(() => {
      let y = start;
      for (let i = 0; i < 32; i++) y = mx.add(mx.multiply(y, 0.5), 1);
      mx.eval(y);
    });
    expect(byRule(fixed, 'eval-too-often')).toEqual([]);
  });

  it('finds a graph grown over thousands of iterations; an eval every few hundred is fine', async () => {
    const start = mx.ones([16]);
    mx.eval(start);
    const bad = await record(() => {
      let y = start;
      for (let i = 0; i < 6000; i++) y = mx.add(y, 1);
      mx.eval(y);
    });
    const { spans } = theFinding(bad, 'graph-too-large');
    expect(spans.map((s) => s.kind)).toEqual(['eval']);
    expect(bad.spans.filter((s) => s.parentId === spans[0].id).length).toBeGreaterThan(10_000);

    const fixed = await record(() => {
      let y = start;
      for (let i = 0; i < 6000; i++) {
        y = mx.add(y, 1);
        if (i % 500 === 499) mx.eval(y);
      }
    });
    expect(byRule(fixed, 'graph-too-large')).toEqual([]);
    expect(byRule(fixed, 'eval-too-often')).toEqual([]);
  });
});

describe('recompiled functions', () => {
  // Values no earlier run used, so the backend cannot reuse a kernel it built before (it caches them on disk).
  const fresh = () => [1 + Math.random(), 2 + Math.random()];
  const body = (a: any, s: any) => mx.multiply(mx.add(a, s), s);

  it('finds a compiled function recompiled for each new JS-number argument', async () => {
    const f = mx.compile(body);
    const a = mx.ones([64]);
    mx.eval(a);
    const t = await record(() => {
      for (const c of fresh()) mx.eval(f(a, c));
    });
    const { f: finding, spans } = theFinding(t, 'recompile');
    expect(finding.message).toMatch(/constant/);
    expect(spans.map((s) => s.name)).toEqual(['Compiled']);
    expect(finding.timeAtStake).toBe(spans[0].end - spans[0].start);
  });

  it('stays quiet when the changing value is an mx.array argument', async () => {
    const f = mx.compile(body);
    const a = mx.ones([64]);
    mx.eval(a);
    const t = await record(() => {
      for (const c of fresh()) mx.eval(f(a, mx.array(c)));
    });
    expect(t.spans.filter((s) => s.name === 'Compiled')).toHaveLength(2);
    expect(byRule(t, 'recompile')).toEqual([]);
  });
});

describe('memory', () => {
  const N = 24; // 24 weights of 1024x1024: 96 MiB in float32, 48 MiB in float16

  async function steps(weights: any[]) {
    for (let i = 0; i < 6; i++) mx.eval(mx.sum(mx.multiply(weights[i], 2)));
  }

  it('finds weights materialized in float32 and cast afterwards', async () => {
    await settle();
    const t = await record(async () => {
      let w32: any[] | null = Array.from({ length: N }, () => mx.random.normal([1024, 1024]));
      mx.eval(w32);
      const w16 = w32.map((w) => w.astype(mx.float16));
      mx.eval(w16);
      w32 = null;
      await settle();
      await steps(w16);
    });
    const { f, spans } = theFinding(t, 'memory-peak');
    expect(f.timeAtStake).toBe(0);
    // The eval where memory peaked, and the allocations that filled it: the float32 weights and their casts.
    expect(spans.filter((s) => s.kind === 'eval')).toHaveLength(1);
    expect(spans.some((s) => s.name === 'AsType')).toBe(true);
  });

  it('stays quiet when the weights are created in their final dtype', async () => {
    await settle();
    const t = await record(async () => {
      const w16 = Array.from({ length: N }, () => mx.random.normal([1024, 1024], mx.float16));
      mx.eval(w16);
      await settle();
      await steps(w16);
    });
    expect(t.memory.length).toBeGreaterThan(0);
    expect(byRule(t, 'memory-peak')).toEqual([]);
  });

  it('finds a large broadcast temporary; the matmul formulation has none', async () => {
    const a = mx.random.normal([512, 64]);
    const b = mx.random.normal([512, 64]);
    mx.eval(a, b);
    await settle();
    // Squared distances between all rows of a and b.
    const bad = await record(() => mx.eval(mx.sum(mx.square(mx.subtract(mx.expandDims(a, 1), mx.expandDims(b, 0))), -1)));
    const { spans } = theFinding(bad, 'large-temporary');
    const temps = spans.filter((s) => s.outputs[0].bytes >= 64 * 2 ** 20);
    expect(temps.map((s) => s.name)).toEqual(expect.arrayContaining(['Subtract', 'Square']));

    await settle();
    const fixed = await record(() => {
      const aa = mx.sum(mx.square(a), -1, true);
      const bb = mx.sum(mx.square(b), -1).reshape(1, 512);
      mx.eval(mx.subtract(mx.add(aa, bb), mx.multiply(mx.matmul(a, b.T), 2)));
    });
    expect(byRule(fixed, 'large-temporary')).toEqual([]);
    expect(byRule(fixed, 'memory-peak')).toEqual([]);
  });
});

describe('broadcast arrays copied by a reshape', () => {
  // One grouped-query attention step over a 60-token cache: 4 query heads, 2 KV heads, the repeat before the
  // attention as older Llama ports wrote it. Attention is hand-written here (the program calls no mx.fast
  // function); the unfused-op rule reports that part on its own.
  // Made once the instrumentation is registered, so it extends the instrumented nn.Module.
  const attention = (repeat: boolean) => {
    class Attention extends nn.Module {
      forward(q: any, k: any, v: any) {
        if (repeat) {
          k = mx.repeat(k, 2, 1);
          v = mx.repeat(v, 2, 1);
          return mx.matmul(mx.softmax(mx.matmul(q, k.transpose(0, 1, 3, 2)), -1), v);
        }
        // Broadcasting does the repeat: the queries of one KV head side by side, k and v unrepeated.
        const qq = q.reshape(1, 2, 2, 1, 64);
        const s = mx.softmax(mx.matmul(qq, mx.expandDims(k, 2).transpose(0, 1, 2, 4, 3)), -1);
        return mx.matmul(s, mx.expandDims(v, 2)).reshape(1, 4, 1, 64);
      }
    }
    return new Attention();
  };
  const steps = (attn: { forward(q: any, k: any, v: any): any }) => {
    const q = mx.random.normal([1, 4, 1, 64]);
    const k = mx.random.normal([1, 2, 60, 64]);
    const v = mx.random.normal([1, 2, 60, 64]);
    mx.eval(q, k, v);
    return record(() => {
      for (let i = 0; i < 12; i++) mx.eval(attn.forward(q, k, v));
    });
  };

  it('finds the copy mx.repeat makes of keys and values, and names the layer and shapes', async () => {
    const t = await steps(attention(true));
    const { f, spans } = theFinding(t, 'broadcast-copy');
    expect(new Set(spans.map((s) => s.name))).toEqual(new Set(['Reshape']));
    expect(spans).toHaveLength(24); // keys and values, each step
    expect(f.message).toMatch(/mx\.repeat/);
    expect(f.message).toContain('[1,2,2,60,64] -> [1,4,60,64]');
    expect(f.message).toContain('Attention');
    expect(f.suggestion).toMatch(/scaledDotProductAttention/);
    expect(f.timeAtStake).toBe(spans.reduce((a, s) => a + s.end - s.start, 0));
  });

  it('stays quiet when broadcasting does the repeat, and the results are the same', async () => {
    const q = mx.random.normal([1, 4, 1, 64]);
    const k = mx.random.normal([1, 2, 60, 64]);
    const v = mx.random.normal([1, 2, 60, 64]);
    const diff = mx.max(mx.abs(mx.subtract(attention(true).forward(q, k, v), attention(false).forward(q, k, v)))).item();
    expect(diff).toBeLessThan(1e-5);
    const t = await steps(attention(false));
    expect(t.spans.filter((s) => s.name === 'Reshape').length).toBeGreaterThan(0);
    expect(byRule(t, 'broadcast-copy')).toEqual([]);
  });

  it('stays quiet on the copy a transposed attention output needs', async () => {
    const o = mx.random.normal([1, 8, 256, 64]);
    mx.eval(o);
    const t = await record(() => {
      for (let i = 0; i < 8; i++) mx.eval(o.transpose(0, 2, 1, 3).reshape(1, 256, 512));
    });
    // It does copy (far slower than a view), and it is not a broadcast's.
    const reshapes = t.spans.filter((s) => s.name === 'Reshape').map((s) => s.end - s.start).sort((a, b) => a - b);
    expect(reshapes[reshapes.length >> 1]).toBeGreaterThanOrEqual(ADVISOR_LIMITS.copyMinNs);
    expect(byRule(t, 'broadcast-copy')).toEqual([]);
  });

  it("finds nothing in the demo's decode loop (grouped heads go to the fused attention as they are)", async () => {
    const model = createLlama(mlx, TINY_LLAMA);
    const t = await record(() => generate(mlx, model, { prompt: [1, 2, 3, 4, 5, 6, 7, 8], tokens: 24 }));
    expect(t.spans.filter((s) => s.kind === 'primitive').length).toBeGreaterThan(1000);
    expect(byRule(t, 'broadcast-copy')).toEqual([]);
  });
});

describe('the demo transformer, written the recommended way', () => {
  it('gets no finding for a prefill and a few decode steps, one eval per token', async () => {
    await settle();
    const t = await record(() => {
      const model = createTransformer(mlx);
      const caches = model.newCache();
      const prompt = mx.array([Array.from({ length: 32 }, (_, i) => (i * 7) % 1024)], mx.uint32);
      let tok = nextToken(mx, model.forward(prompt, caches));
      mx.eval(tok);
      for (let i = 0; i < 6; i++) {
        tok = nextToken(mx, model.forward(tok, caches));
        mx.eval(tok);
      }
    });
    expect(t.spans.filter((s) => s.kind === 'eval').length).toBeGreaterThanOrEqual(8);
    expect(formatFindings(advise(t))).toEqual([formatFindings([])[0]]);
  });
});

describe('advise and formatFindings', () => {
  const finding: Finding = {
    rule: 'recompile',
    severity: 'critical',
    message: 'A compiled function was compiled again 2 times.',
    evidence: [3, 5, 8, 13, 21, 34, 55, 89, 144, 233],
    suggestion: 'Pass values that change as mx.array arguments.',
    timeAtStake: 2.5e9,
  };

  it('rejects what is not a trace with one clear line', () => {
    for (const bad of [null, 42, {}, { spans: 'x' }]) {
      expect(() => advise(bad as unknown as Trace)).toThrow(/^advise: (expected a Trace object|not an mlx-trace\/1 trace)/);
    }
  });

  it('formats plain lines without color, ANSI only when asked and NO_COLOR is unset', () => {
    const plain = formatFindings([finding]);
    expect(plain.join('\n')).not.toMatch(/\x1b\[/);
    expect(plain[0]).toBe('critical  recompile  A compiled function was compiled again 2 times. (2.50 s at stake)');
    expect(plain[1]).toContain('fix: Pass values');
    expect(plain[2]).toContain('spans: 3, 5, 8, 13, 21, 34, 55, 89 (+2 more)');
    const saved = process.env.NO_COLOR;
    try {
      delete process.env.NO_COLOR;
      expect(formatFindings([finding], { color: true }).join('\n')).toMatch(/\x1b\[31m/);
      process.env.NO_COLOR = '1';
      expect(formatFindings([finding], { color: true }).join('\n')).not.toMatch(/\x1b\[/);
    } finally {
      if (saved === undefined) delete process.env.NO_COLOR;
      else process.env.NO_COLOR = saved;
    }
  });

  it('reads hand-built and partial traces without throwing', () => {
    expect(advise(syntheticTrace({ steps: 3 }))).toEqual(expect.any(Array));
    const t = syntheticTrace({ steps: 1 });
    const partial = {
      ...t,
      meta: { ...t.meta, peaks: undefined, host: undefined },
      memory: [{ t: 0, delta: 1, live: 1 }],
      spans: t.spans.map((s, i) => (i % 3 === 0 ? ({ ...s, inputs: undefined, outputs: [{}], attrs: undefined } as unknown as Span) : s)),
    } as unknown as Trace;
    expect(advise(partial)).toEqual(expect.any(Array));
    expect(advise({ ...t, spans: [], memory: [] })).toEqual([]);
  });

  it('says so when there is nothing to report', () => {
    expect(formatFindings([])).toEqual(['No findings: nothing in this trace matches a known MLX performance pitfall.']);
  });
});
