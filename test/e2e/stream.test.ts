/**
 * Streaming recording on real processes: an MLX loop streams its trace to a .mlxtrace file; a
 * SIGKILL leaves a .partial file that loadTrace reads up to its last complete block and says, in one
 * line, that the tail was cut; a normal exit leaves the complete file with what takeTrace would have
 * given; a long loop keeps its RSS flat; the preload and `mlx-trace run` stream by default.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrace } from '../../src/core/io/persist';
import type { Trace } from '../../src/core/model/trace';
import { buildCli, FIXTURES, startProcess } from '../helpers/cli';

const LOOP = join(FIXTURES, 'stream-loop.js');
const MLX_LOOP = join(FIXTURES, 'mlx-loop.js');
let dist: string;
let tmp: string;

beforeAll(async () => {
  dist = await buildCli('stream');
  tmp = mkdtempSync(join(tmpdir(), 'mlx-trace-stream-'));
}, 240_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (dist) rmSync(dist, { recursive: true, force: true });
});

/** A running node process, killed after `limitMs` whatever happens. */
const start = (args: string[], env: Record<string, string>, limitMs = 180_000) => startProcess(process.execPath, args, { env, limitMs });

const loopEnv = (path: string) => ({ MLX_TRACE_LIB: join(dist, 'index.js'), STREAM_PATH: path });

/** How many spans of each kind and name a trace has. */
function histogram(t: Trace): Record<string, number> {
  const h: Record<string, number> = {};
  for (const s of t.spans) h[`${s.kind}:${s.name}`] = (h[`${s.kind}:${s.name}`] ?? 0) + 1;
  return h;
}

describe('streaming recording', () => {
  it('a SIGKILLed app leaves a .partial file read up to its last complete block, with one line saying the tail was cut', async () => {
    const file = join(tmp, 'killed.mlxtrace');
    const app = start([LOOP, '--flush-ms', '50'], loopEnv(file));
    // Three flushes reached the file: the app is killed while it keeps recording.
    await app.until(/flushed \d+/, 3);
    app.child.kill('SIGKILL');
    const r = await app.ended;
    expect(r.signal).toBe('SIGKILL');
    expect(existsSync(file)).toBe(false);
    const t = loadTrace(file + '.partial');
    expect(t.spans.filter((s) => s.kind === 'primitive').length).toBeGreaterThan(100);
    expect(t.spans.filter((s) => s.kind === 'eval').length).toBeGreaterThan(2);
    expect(t.meta.streamed).toBe(true);
    const said = t.meta.truncated as string;
    expect(said).toMatch(/^the tail was cut \(the recording was not finished\): read \d+ spans and \d+ memory events up to byte \d+ of \d+/);
    expect(said).not.toContain('\n');
    // Cut again inside a block: still read, up to the block before.
    const bytes = readFileSync(file + '.partial');
    const cut = join(tmp, 'cut-again.mlxtrace');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
    const u = loadTrace(cut);
    expect(u.spans.length).toBeLessThanOrEqual(t.spans.length);
    expect(u.spans.length).toBeGreaterThan(0);
    expect(u.meta.truncated).toMatch(/^the tail was cut/);
  }, 240_000);

  it('a normal exit leaves the complete file, with the spans takeTrace would have given; a whole file cut stays truncated', async () => {
    const streamed = join(tmp, 'streamed.mlxtrace');
    const whole = join(tmp, 'whole.mlxtrace');
    const args = ['--steps', '200', '--ops', '20', '--flush-spans', '1000', '--flush-ms', '20'];
    const [a, b] = [start([LOOP, ...args], loopEnv(streamed)), start([LOOP, ...args, '--take'], loopEnv(whole))];
    expect((await a.ended).code).toBe(0);
    expect((await b.ended).code).toBe(0);
    expect(existsSync(streamed + '.partial')).toBe(false);
    const s = loadTrace(streamed);
    const w = loadTrace(whole);
    expect(s.meta.truncated).toBeUndefined();
    expect(s.meta.streamed).toBe(true);
    expect(s.spans.length).toBe(w.spans.length);
    expect(histogram(s)).toEqual(histogram(w));
    expect(s.spans.length).toBeGreaterThan(200 * 40);
    // Every primitive keeps its eval as parent across flushes.
    const ids = new Set(s.spans.map((x) => x.id));
    for (const x of s.spans) if (x.parentId !== null) expect(ids.has(x.parentId)).toBe(true);
    // A file written whole (layout version 1) cut short is refused as before.
    const bytes = readFileSync(whole);
    const cut = join(tmp, 'whole-cut.mlxtrace');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
    expect(() => loadTrace(cut)).toThrow(/truncated/);
  }, 240_000);

  it('a loop of 2M+ primitives keeps its RSS flat while it streams', async () => {
    const file = join(tmp, 'long.mlxtrace');
    // About 2,000 primitives per eval (a chain of 1,000 adds and their broadcasts), 1,100 evals.
    const app = start([LOOP, '--ops', '1000', '--steps', '1100', '--rss'], loopEnv(file), 600_000);
    const r = await app.ended;
    expect(r.code, r.stderr).toBe(0);
    const rss = [...r.stdout.matchAll(/rss (\d+) (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(rss.length).toBe(11);
    // From step 100 (~200k primitives, the columns and encoder warmed up) to step 1000 (~2M).
    const base = rss.find(([step]) => step === 100)![1];
    const peak = Math.max(...rss.filter(([step]) => step >= 100).map(([, v]) => v));
    const growthMb = (peak - base) / 2 ** 20;
    // Held in memory, 1.8M more primitives and their allocator events take well over 150 MB.
    expect(growthMb).toBeLessThan(64);
    expect(existsSync(file)).toBe(true);
  }, 660_000);

  it('the preload streams to trace.mlxtrace by default and a SIGTERM ends the file cleanly', async () => {
    const out = join(tmp, 'preload');
    const app = start(['--require', join(dist, 'register.js'), MLX_LOOP], { MLX_TRACE_OUT: out });
    await app.until(/ready \d+/);
    await new Promise((r) => setTimeout(r, 800));
    app.child.kill('SIGTERM');
    const r = await app.ended;
    expect(r.signal).toBe('SIGTERM');
    expect(existsSync(join(out, 'trace.mlxtrace.partial'))).toBe(false);
    const t = loadTrace(join(out, 'trace.mlxtrace'));
    expect(t.meta.truncated).toBeUndefined();
    expect(t.meta.argv).toEqual([MLX_LOOP]);
    expect(t.spans.some((s) => s.kind === 'layer')).toBe(true);
    expect(t.spans.some((s) => s.kind === 'primitive' && s.layer)).toBe(true);
    expect(r.stderr).toContain(`wrote ${join(out, 'trace.mlxtrace')}`);
  }, 240_000);

  it('mlx-trace run renders what a SIGKILLed app streamed, saying the tail was cut', async () => {
    const out = join(tmp, 'run-killed');
    const run = start([join(dist, 'cli.js'), 'run', '--out', out, '--no-report', MLX_LOOP], {});
    await run.until(/ready \d+/);
    // The app (not run) is killed outright once it has streamed for a while (flushes every 500 ms).
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(Number(/ready (\d+)/.exec(run.stdout())![1]), 'SIGKILL');
    const r = await run.ended;
    expect(r.code).toBe(137);
    expect(r.stderr).toMatch(/trace\.mlxtrace\.partial: the tail was cut \(the recording was not finished\)/);
    expect(r.stderr.split('\n').filter((l) => l.includes('the tail was cut'))).toHaveLength(1);
    for (const f of ['report.html', 'trace.chrome-trace.json', 'trace.mlxtrace.partial']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(loadTrace(join(out, 'trace.mlxtrace.partial')).spans.length).toBeGreaterThan(0);
  }, 240_000);
});
