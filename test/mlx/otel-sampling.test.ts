// Requests the app's OpenTelemetry sampler leaves out, on real MLX: nothing of them is recorded or
// sent, their arrays are not tagged with layers as they are made, and sampled requests beside them
// (interleaved across awaits, or opened inside an unsampled forward) keep every span and layer.
import { createRequire } from 'node:module';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { context, ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  ParentBasedSampler,
  SamplingDecision,
  SimpleSpanProcessor,
  type Sampler,
  type SamplingResult,
} from '@opentelemetry/sdk-trace-base';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import type { Trace } from '../../src/core/model/trace';

const require = createRequire(import.meta.url);
const { core: mx, nn } = require('@frost-beta/mlx');

/** The app's sampler: a root span named 'keep…' is sampled, any other root is not; children follow their parent. */
const byName: Sampler = {
  shouldSample(_ctx: Context, _traceId: string, name: string): SamplingResult {
    return { decision: name.startsWith('keep') ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
  },
  toString: () => 'ByName',
};

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ sampler: new ParentBasedSampler({ root: byName }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
const inst = registerMlxInstrumentation({ tracerProvider: provider });
afterAll(() => inst.disable());

/** A small MLP: its AddMM primitives belong to 'layers.0 (Linear)' and 'layers.2 (Linear)'. */
const mlp = () => new nn.Sequential(new nn.Linear(16, 32), new nn.ReLU(), new nn.Linear(32, 4));
const LINEARS = ['layers.0 (Linear)', 'layers.2 (Linear)'];
const model = mlp();
mx.eval(model.parameters());
const x = mx.ones([2, 16]);
mx.eval(x);

const tagged = () => inst.hookLayer!.binding.stats().builtTagged;
/** The layer of each AddMM primitive of a trace. */
const addmm = (t: Trace) => t.spans.filter((s) => s.kind === 'primitive' && s.name === 'AddMM').map((s) => s.layer);
const tick = () => new Promise((r) => setTimeout(r, 1));

beforeEach(() => {
  inst.takeTrace();
  exporter.reset();
});

describe('unsampled requests', () => {
  it('record nothing, send nothing, and tag no array as it is made; a sampled request does all three', () => {
    expect(inst.hookLayer?.buildState).not.toBeNull();
    const before = tagged();
    inst.withSpan('drop', () => {
      for (let i = 0; i < 3; i++) mx.eval(model.forward(mx.multiply(x, i + 1)));
    });
    expect(tagged()).toBe(before);
    expect(inst.takeTrace().spans).toEqual([]);
    expect(exporter.getFinishedSpans()).toEqual([]);

    inst.withSpan('keep', () => mx.eval(model.forward(mx.multiply(x, 2))));
    expect(tagged()).toBeGreaterThan(before);
    const t = inst.takeTrace();
    expect(t.spans.filter((s) => s.kind !== 'primitive').map((s) => `${s.kind} ${s.name}`).sort()).toEqual([
      'eval eval',
      'layer Sequential',
      'layer layers.0 (Linear)',
      'layer layers.1 (ReLU)',
      'layer layers.2 (Linear)',
      'user keep',
    ]);
    expect(addmm(t)).toEqual(LINEARS);
    expect(exporter.getFinishedSpans().map((s) => s.name)).toContain('AddMM');
  });

  it('interleaved with sampled ones across awaits leave every sampled request its layers and primitives', async () => {
    const request = (name: string, rows: number) =>
      inst.withSpan(name, async () => {
        await tick();
        const y = model.forward(mx.ones([rows, 16]));
        await tick();
        mx.eval(y);
        await tick();
      });
    await Promise.all([1, 2, 3, 4, 5, 6].map((rows) => request(rows % 2 ? `drop ${rows}` : `keep ${rows}`, rows)));
    const t = inst.takeTrace();
    const users = t.spans.filter((s) => s.kind === 'user');
    expect(users.map((s) => s.name).sort()).toEqual(['keep 2', 'keep 4', 'keep 6']);
    const byId = new Map(t.spans.map((s) => [s.id, s]));
    const requestOf = (id: number | null | undefined): string => {
      let s = id == null ? undefined : byId.get(id);
      while (s && s.kind !== 'user') s = s.parentId == null ? undefined : byId.get(s.parentId);
      return s?.name ?? '';
    };
    for (const rows of [2, 4, 6]) {
      const prims = t.spans.filter((s) => s.kind === 'primitive' && s.name === 'AddMM' && requestOf(s.parentId) === `keep ${rows}`);
      expect(prims.map((s) => s.layer)).toEqual(LINEARS);
      // Its own batch: the output shape starts with its row count.
      for (const p of prims) expect(p.outputs[0].shape[0]).toBe(rows);
    }
    const sent = exporter.getFinishedSpans();
    expect(sent.some((s) => s.name.startsWith('drop'))).toBe(false);
    expect(sent.filter((s) => s.name === 'AddMM')).toHaveLength(6);
  });

  it('a sampled request opened inside an unsampled forward tags its arrays with its layers again', () => {
    class Outer extends nn.Module {
      inner: any;
      constructor() {
        super();
        this.inner = mlp();
      }
      forward(v: any) {
        // A fresh root context inside the unsampled request: the sampler keeps this one.
        return context.with(ROOT_CONTEXT, () =>
          inst.withSpan('keep inner', () => {
            const y = this.inner.forward(v);
            mx.eval(y);
            return y;
          }),
        );
      }
    }
    const outer = new Outer();
    mx.eval(outer.parameters());
    inst.withSpan('drop outer', () => {
      mx.eval(outer.forward(x));
    });
    const t = inst.takeTrace();
    expect(t.spans.filter((s) => s.kind === 'user').map((s) => s.name)).toEqual(['keep inner']);
    // The inner model is the root of the traced layers: its paths start there.
    expect(addmm(t)).toEqual(LINEARS);
    // Back in the unsampled forward, arrays are left untagged again.
    const before = tagged();
    inst.withSpan('drop again', () => mx.eval(model.forward(x)));
    expect(tagged()).toBe(before);
  });

  it('a graph an unsampled request builds (untagged) and a sampled eval runs has primitives of no layer, not of an earlier graph', () => {
    const layers = new Set<string | null | undefined>();
    for (let round = 0; round < 20; round++) {
      // Layer-tagged nodes whose primitives are never drained: built under a sampled request, run unsampled.
      let built: unknown[] = [];
      inst.withSpan('keep build', () => {
        for (let i = 0; i < 10; i++) built.push(model.forward(mx.multiply(x, i)));
      });
      inst.withSpan('drop eval', () => mx.eval(...built));
      built = [];
      (globalThis as { gc?: () => void }).gc?.();
      let ys: unknown[] = [];
      inst.withSpan('drop build', () => {
        ys = Array.from({ length: 10 }, (_, i) => mx.add(mx.multiply(x, i), 1));
      });
      inst.takeTrace();
      inst.withSpan('keep eval', () => mx.eval(...ys));
      for (const s of inst.takeTrace().spans) if (s.kind === 'primitive') layers.add(s.layer);
    }
    expect([...layers]).toEqual([null]);
  });

  it("an unsampled request under an app's own span: its evals and forwards record nothing and tag nothing", () => {
    const tracer = provider.getTracer('app');
    const before = tagged();
    tracer.startActiveSpan('drop app', (span) => {
      mx.eval(model.forward(x));
      span.end();
    });
    expect(tagged()).toBe(before);
    expect(inst.takeTrace().spans).toEqual([]);
    tracer.startActiveSpan('keep app', (span) => {
      mx.eval(model.forward(x));
      span.end();
    });
    expect(addmm(inst.takeTrace())).toEqual(LINEARS);
  });
});
