/**
 * A user's app where the native hook layer cannot load: one line on stderr at the first registration,
 * with the reason and the command that fixes it in a user's app, and the same reason in the trace.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadTrace } from '../../src/core/io/persist';
import { buildCli, FIXTURES, runCli, runProcess } from '../helpers/cli';

let dist: string;
let tmp: string;

beforeAll(async () => {
  dist = await buildCli('native-missing');
  tmp = mkdtempSync(join(tmpdir(), 'mlx-trace-native-missing-'));
}, 240_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (dist) rmSync(dist, { recursive: true, force: true });
});

it('the preload, then the app registering (and re-enabling) too: one line naming npm rebuild mlx-trace', async () => {
  const out = join(tmp, 'preload');
  const missing = join(tmp, 'nowhere', 'mlx_trace.node');
  const app = `const inst = require(${JSON.stringify(join(dist, 'index.js'))}).registerMlxInstrumentation();
    inst.disable(); inst.enable();
    require(${JSON.stringify(join(FIXTURES, 'mlx-app.js'))});`;
  const r = await runProcess(process.execPath, ['--require', join(dist, 'register.js'), '-e', app], { env: { MLX_TRACE_OUT: out, MLX_TRACE_NATIVE: missing } });
  expect(r.code, r.stderr).toBe(0);
  const lines = r.stderr.split('\n').filter((l) => l.includes('timing'));
  expect(lines.filter((l) => /unavailable/.test(l))).toHaveLength(1);
  expect(lines[0]).toMatch(/^mlx-trace: per-primitive timing unavailable, timing at JS level .*not built .*npm rebuild mlx-trace/);
  expect(r.stderr).not.toContain('build:native');
  const t = loadTrace(join(out, 'trace.mlxtrace'));
  expect(t.meta.timing).toBe('js');
  expect(t.meta.fallbackReason).toMatch(/npm rebuild mlx-trace/);
}, 60_000);

it('mlx-trace run shows the line as well (the preload is quiet otherwise)', async () => {
  const r = await runCli(dist, ['run', '--no-report', '--out', join(tmp, 'run'), join(FIXTURES, 'mlx-app.js')], { env: { MLX_TRACE_NATIVE: join(tmp, 'none.node') } });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr.split('\n').filter((l) => /per-primitive timing unavailable/.test(l))).toHaveLength(1);
}, 60_000);
