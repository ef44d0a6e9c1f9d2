/**
 * Layer attribution that does not depend on load order: an ES module app whose model classes are
 * statically imported (defined before registerMlxInstrumentation() runs) gets the layer tree it gets
 * under the preload, or, when nothing reaches its weights before its first forward, one line naming
 * inst.instrumentModule(model).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrace } from '../../src/core/io/persist';
import type { Trace } from '../../src/core/model/trace';
import { buildCli, FIXTURES, runProcess } from '../helpers/cli';

const APP = join(FIXTURES, 'esm-order', 'app.mjs');
let dist: string;
let tmp: string;

beforeAll(async () => {
  dist = await buildCli('esm-order');
  tmp = mkdtempSync(join(tmpdir(), 'mlx-trace-esm-order-'));
}, 240_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (dist) rmSync(dist, { recursive: true, force: true });
});

/** Layer span names with how often each ran, and the layer each primitive was built by. */
function layerTree(t: Trace) {
  const layers: Record<string, number> = {};
  for (const s of t.spans) if (s.kind === 'layer') layers[s.name] = (layers[s.name] ?? 0) + 1;
  const builtBy = new Set(t.spans.filter((s) => s.kind === 'primitive' && s.layer).map((s) => s.layer!));
  return { layers, builtBy };
}

async function registered(name: string, ...args: string[]) {
  const file = join(tmp, `${name}.json`);
  const r = await runProcess(process.execPath, [APP, ...args], { env: { MLX_TRACE_LIB: pathToFileURL(join(dist, 'index.mjs')).href, OUT_FILE: file } });
  expect(r.code, r.stderr).toBe(0);
  return { r, trace: loadTrace(file) };
}

describe('an ES module app that imports its model before registering', () => {
  let preload: ReturnType<typeof layerTree>;

  beforeAll(async () => {
    const out = join(tmp, 'preload');
    const r = await runProcess(process.execPath, ['--import', pathToFileURL(join(dist, 'register.mjs')).href, APP], { env: { MLX_TRACE_OUT: out } });
    expect(r.code, r.stderr).toBe(0);
    preload = layerTree(loadTrace(join(out, 'trace.mlxtrace')));
  }, 60_000);

  it('the preload sees the whole tree: custom blocks, paths, primitives built by each', () => {
    expect(preload.layers).toMatchObject({ Model: 2, 'blocks.0 (Block)': 2, 'blocks.2.fc (Linear)': 2, 'blocks.1.norm (RMSNorm)': 2, 'head (Linear)': 2 });
    expect(preload.builtBy).toContain('blocks.2.fc (Linear)');
  });

  it('gets the same layer tree with no extra call once it reaches the weights (parameters())', async () => {
    const { r, trace } = await registered('weights');
    expect(layerTree(trace)).toEqual(preload);
    expect(r.stderr).not.toMatch(/instrumentModule/);
  }, 60_000);

  it('says in one line to call inst.instrumentModule(model) when its first forward comes before anything else', async () => {
    const { r, trace } = await registered('forward-first', '--no-weights');
    const lines = r.stderr.split('\n').filter((l) => /instrumentModule/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^mlx-trace: layers of (Model|Block) are not traced .*inst\.instrumentModule\(model\)/);
    // What it says is true: without the call, the custom layers are missing.
    expect(layerTree(trace).layers.Model).toBeUndefined();
  }, 60_000);

  it('inst.instrumentModule(model) gives the same tree as the preload, with no warning', async () => {
    const { r, trace } = await registered('instrumented', '--no-weights', '--instrument');
    expect(layerTree(trace)).toEqual(preload);
    expect(r.stderr).not.toMatch(/not traced/);
  }, 60_000);
});
