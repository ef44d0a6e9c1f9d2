// The layer tag table (native/tags.h) holds an entry per node built since the last drain. An eval of a
// graph far bigger than the table's first size makes it grow: no entry of that eval may be lost (a lost
// entry is a primitive without its layer), and the table grows to what its entries need, not to the
// largest size, where every tagging and every drain lookup would miss the cache.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import type { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';
import { layerResolver } from '../../src/core/model/span-facts';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const mx = mlx.core;

let inst: MlxInstrumentation;
let Chain: new () => { forward(x: unknown, n: number): unknown };

beforeAll(() => {
  inst = registerMlxInstrumentation();
  Chain = class extends mlx.nn.Module {
    forward(x: unknown, n: number) {
      let y = x;
      for (let i = 0; i < n; i++) y = mx.add(y, x);
      return y;
    }
  };
});
afterAll(() => inst.disable());

describe('the tag table under one big eval', () => {
  it('keeps the layer of every primitive of 20,000-node graphs, and grows only to what they need', () => {
    const stats = () => inst.hookLayer!.binding.stats();
    const chain = new Chain();
    const x = mx.ones([4]);
    mx.eval(x);
    const NODES = 20_000, EVALS = 12;
    const evicted0 = stats().tagEvictions;
    inst.takeTrace();
    for (let e = 0; e < EVALS; e++) mx.eval(chain.forward(x, NODES));
    const t = inst.takeTrace();
    expect(t.dropped).toBe(0);
    const layerOf = layerResolver(t);
    let prims = 0, inChain = 0;
    for (const s of t.spans) {
      if (s.kind !== 'primitive' || s.name !== 'Add') continue;
      prims++;
      if (layerOf(s).includes('Chain')) inChain++;
    }
    expect(prims).toBe(NODES * EVALS);
    expect(inChain).toBe(prims);
    const s = stats();
    expect(s.tagEvictions - evicted0).toBe(0);
    // 20,000 entries of 32 bytes take 640 KB; the table doubles at a set pair that is full, which two
    // choices per node keep from happening until most of it is. Its largest size is 8 MB.
    expect(s.tagTableBytes).toBeGreaterThan(64 * 1024);
    expect(s.tagTableBytes).toBeLessThanOrEqual(4 * 1024 * 1024);
  });
});

describe("the tag table's copy of what it tagged lately", () => {
  it('never says a node was tagged in this eval when the table says otherwise, through ends, releases, evictions and growth', () => {
    const bind = inst.hookLayer!.binding;
    for (const seed of [1, 2, 3]) {
      const c = bind.checkTagTable(seed);
      expect(c.checks).toBeGreaterThan(500_000);
      expect(c.evicted).toBeGreaterThan(0); // the largest table was filled: live entries of one eval went
      expect(c.wrong).toBe(0);
    }
  });
});
