// The decode loop (asyncEval of step n+1, then item() of step n) traced on real MLX: every primitive
// lies inside the span that owns it, each step's primitives are all there, and tracing changes no token.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import type { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';
import type { Span, Trace } from '../../src/core/model/trace';
import { createLlama, generate, sampleTopP, TINY_LLAMA, type Llama } from '../../src/demo/llama';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const mx = mlx.core;

const PROMPT = [3, 1, 4, 1, 5, 9, 2, 6];
const TOKENS = 40;
let inst: MlxInstrumentation;
let model: Llama;

beforeAll(() => {
  inst = registerMlxInstrumentation();
  model = createLlama(mlx, TINY_LLAMA); // after registration: its classes are instrumented
});
afterAll(() => inst.disable());

const primitives = (t: Trace) => t.spans.filter((s) => s.kind === 'primitive');

/** Primitives of one synchronous step (the prompt's, or one cached token's), traced with mx.eval. */
function stepPrimitives(): { prompt: number; token: number } {
  const caches = model.newCache();
  inst.takeTrace();
  const first = sampleTopP(mx, model.forward(mx.array([PROMPT], mx.int32), caches));
  mx.eval(first);
  const prompt = primitives(inst.takeTrace()).length;
  mx.eval(sampleTopP(mx, model.forward(first, caches)));
  const token = primitives(inst.takeTrace()).length;
  return { prompt, token };
}

describe('decode loop under registerMlxInstrumentation', () => {
  it('generates the same tokens traced as untraced with the same seed', () => {
    inst.disable();
    mx.random.seed(11);
    const untraced = generate(mlx, model, { prompt: PROMPT, tokens: TOKENS });
    inst.enable();
    mx.random.seed(11);
    const traced = generate(mlx, model, { prompt: PROMPT, tokens: TOKENS });
    inst.takeTrace();
    expect(traced).toEqual(untraced);
    expect(new Set(traced).size).toBeGreaterThan(1);
  });

  it('puts every primitive inside the span that owns it, and misses none of any step', () => {
    mx.random.seed(5);
    const { prompt, token } = stepPrimitives();
    expect(prompt).toBeGreaterThan(100);
    expect(token).toBeGreaterThan(100);
    mx.random.seed(5);
    generate(mlx, model, { prompt: PROMPT, tokens: TOKENS });
    const t = inst.takeTrace('decode');
    expect(t.dropped).toBe(0);
    const byId = new Map<number, Span>(t.spans.map((s) => [s.id, s]));
    const prims = primitives(t);
    // The prompt's step, then one step per token after the first (generate launches TOKENS - 1 more).
    expect(prims.length).toBe(prompt + (TOKENS - 1) * token);
    const owners = new Map<number, number>();
    const outside: string[] = [];
    for (const p of prims) {
      const owner = byId.get(p.parentId!);
      expect(owner, `primitive ${p.id} (${p.name}) has no owner`).toBeDefined();
      expect(['eval', 'sync']).toContain(owner!.kind);
      owners.set(owner!.id, (owners.get(owner!.id) ?? 0) + 1);
      if (p.start < owner!.start || p.end > owner!.end) outside.push(`${p.name} [${p.start}, ${p.end}] outside ${owner!.name} [${owner!.start}, ${owner!.end}]`);
    }
    expect(outside).toEqual([]);
    // Each asyncEval's span lasts until its work completed: no item() starts before the asyncEval
    // that launched the token it reads... and every launch is accounted for, on an eval or a sync span.
    const launches = t.spans.filter((s) => s.kind === 'eval' && s.name === 'asyncEval');
    expect(launches).toHaveLength(TOKENS);
    const items = t.spans.filter((s) => s.kind === 'sync' && s.name === 'item');
    expect(items).toHaveLength(TOKENS);
    // Step n's work (launched by asyncEval n) is complete when item() n returns.
    for (let n = 0; n < TOKENS; n++) expect(launches[n].end).toBeLessThanOrEqual(items[n].end);
    const owned = [...owners.values()].reduce((a, b) => a + b, 0);
    expect(owned).toBe(prims.length);
  });
});
