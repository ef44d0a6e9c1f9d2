/**
 * Ending a profiled app with real signals on real processes: the preload (node --require) and
 * `mlx-trace run` write the trace (and run's files) and exit as the app did; the run parent never
 * leaves the app running behind it.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrace } from '../../src/core/io/persist';
import { buildCli, FIXTURES, runCli, startProcess } from '../helpers/cli';

const LOOP = join(FIXTURES, 'mlx-loop.js');
let dist: string;
let tmp: string;

beforeAll(async () => {
  dist = await buildCli('signals');
  tmp = mkdtempSync(join(tmpdir(), 'mlx-trace-signals-'));
}, 240_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (dist) rmSync(dist, { recursive: true, force: true });
});

/** A running node process; `ready` resolves with the app's pid once it printed "ready <pid>". */
function start(args: string[], env: Record<string, string> = {}, detached = false) {
  const p = startProcess(process.execPath, args, { env, detached, limitMs: 90_000 });
  const ready = p.until(/ready (\d+)/).then((m) => Number(m[1]));
  // A test that waits only for the end leaves `ready` unread: that it rejects when the app ended first is no error.
  ready.catch(() => {});
  return { pid: p.pid, ready, ended: p.ended };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The trace the app left: its model's layers and at least one eval with primitives under it. */
function expectAppTrace(file: string) {
  expect(existsSync(file), file).toBe(true);
  const t = loadTrace(file);
  expect(t.spans.some((s) => s.kind === 'layer' && s.name === 'fc1 (Linear)')).toBe(true);
  expect(t.spans.some((s) => s.kind === 'eval')).toBe(true);
  expect(t.spans.some((s) => s.kind === 'primitive' && s.name === 'AddMM')).toBe(true);
}

const count = (text: string, what: string) => text.split(what).length - 1;

describe('the preload (node --require mlx-trace/register)', () => {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`writes the trace on ${sig}, then dies of ${sig} as the app would`, async () => {
      const out = join(tmp, `preload-${sig}`);
      const p = start(['--require', join(dist, 'register.js'), LOOP], { MLX_TRACE_OUT: out });
      const pid = await p.ready;
      expect(pid).toBe(p.pid);
      process.kill(pid, sig);
      const r = await p.ended;
      expect(r.signal, r.stderr).toBe(sig);
      expect(r.stderr).toMatch(/mlx-trace: wrote .*trace\.mlxtrace /);
      expectAppTrace(join(out, 'trace.mlxtrace'));
    }, 60_000);
  }

  it('writes the trace on SIGINT when the app is a synchronous loop that never yields to Node', async () => {
    const out = join(tmp, 'preload-sync');
    const p = start(['--require', join(dist, 'register.js'), LOOP, '--sync'], { MLX_TRACE_OUT: out });
    process.kill(await p.ready, 'SIGINT');
    const r = await p.ended;
    expect(r.signal, r.stderr).toBe('SIGINT');
    expectAppTrace(join(out, 'trace.mlxtrace'));
  }, 60_000);

  it("leaves SIGINT to the app's own handler and writes the trace when the app exits", async () => {
    const out = join(tmp, 'preload-own');
    const p = start(['--require', join(dist, 'register.js'), LOOP, '--own-handler'], { MLX_TRACE_OUT: out });
    process.kill(await p.ready, 'SIGINT');
    const r = await p.ended;
    expect(r.signal, r.stderr).toBe(null);
    expect(r.code, r.stderr).toBe(5);
    expect(count(r.stdout, 'app: SIGINT')).toBe(1);
    expectAppTrace(join(out, 'trace.mlxtrace'));
  }, 60_000);
});

describe('mlx-trace run', () => {
  const files = ['report.html', 'trace.chrome-trace.json', 'trace.mlxtrace'];
  const run = (out: string, ...app: string[]) => start([join(dist, 'cli.js'), 'run', '--no-report', '--out', out, LOOP, ...app], {}, true);

  it('Ctrl-C to the whole group (terminal): the app writes its trace, run its files, and exits 130', async () => {
    const out = join(tmp, 'run-group-int');
    const p = run(out);
    const app = await p.ready;
    expect(app).not.toBe(p.pid);
    process.kill(-p.pid, 'SIGINT');
    const r = await p.ended;
    expect(r.code, r.stderr).toBe(128 + constants.signals.SIGINT);
    expect(readdirSync(out).sort()).toEqual(files);
    expectAppTrace(join(out, 'trace.mlxtrace'));
    expect(alive(app)).toBe(false);
  }, 90_000);

  it('SIGTERM to the run process alone reaches the app: no orphan, files written, exit 143', async () => {
    const out = join(tmp, 'run-parent-term');
    const p = run(out);
    const app = await p.ready;
    process.kill(p.pid, 'SIGTERM');
    const r = await p.ended;
    expect(r.code, r.stderr).toBe(128 + constants.signals.SIGTERM);
    expect(alive(app), 'the app outlived mlx-trace run').toBe(false);
    expect(readdirSync(out).sort()).toEqual(files);
    expectAppTrace(join(out, 'trace.mlxtrace'));
  }, 90_000);

  it('SIGTERM to the run process alone ends a synchronous loop too (the app does not answer on the pipe)', async () => {
    const out = join(tmp, 'run-parent-term-sync');
    const p = run(out, '--sync');
    const app = await p.ready;
    process.kill(p.pid, 'SIGTERM');
    const r = await p.ended;
    expect(r.code, r.stderr).toBe(128 + constants.signals.SIGTERM);
    expect(alive(app)).toBe(false);
    expect(readdirSync(out).sort()).toEqual(files);
    expectAppTrace(join(out, 'trace.mlxtrace'));
  }, 90_000);

  for (const target of ['group', 'parent'] as const) {
    it(`an app with its own SIGINT handler (signal to the ${target}) sees it once, keeps its exit code, and the files are written`, async () => {
      const out = join(tmp, `run-own-${target}`);
      const p = run(out, '--own-handler');
      const app = await p.ready;
      process.kill(target === 'group' ? -p.pid : p.pid, 'SIGINT');
      const r = await p.ended;
      expect(r.code, r.stderr).toBe(5);
      expect(count(r.stdout, 'app: SIGINT')).toBe(1);
      expect(readdirSync(out).sort()).toEqual(files);
      expectAppTrace(join(out, 'trace.mlxtrace'));
      expect(alive(app)).toBe(false);
    }, 90_000);
  }

  it("says why the run's trace is empty when the app took its trace itself, and leaves the app's file alone", async () => {
    const out = join(tmp, 'run-own-take');
    const own = join(out, 'trace.json');
    const r = await runCli(dist, ['run', '--no-report', '--out', out, join(FIXTURES, 'mlx-takes-trace.js'), own], { env: { MLX_TRACE_LIB: join(dist, 'index.js') } });
    expect(r.stderr).toMatch(/took what was recorded with takeTrace\(\) \(1 time\) and no span was recorded after/);
    const t = loadTrace(own);
    expect(t.name).toBe('own');
    expect(t.spans.some((s) => s.kind === 'primitive' && s.name === 'Matmul')).toBe(true);
  }, 60_000);
});

describe('what to record (MLX_TRACE_* variables)', () => {
  it('MLX_TRACE_FLIGHT: SIGUSR2 dumps the ring, and the trace at the end is the ring too, both bounded', async () => {
    const out = join(tmp, 'flight');
    const p = start(['--require', join(dist, 'register.js'), LOOP], { MLX_TRACE_OUT: out, MLX_TRACE_FLIGHT: 'spans=400' });
    const app = await p.ready;
    // Well past the limit: each step records a few dozen spans.
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(app, 'SIGUSR2');
    const dumped = join(out, 'flight.1.mlxtrace');
    for (let i = 0; i < 200 && !existsSync(dumped); i++) await new Promise((r) => setTimeout(r, 50));
    process.kill(app, 'SIGINT');
    const r = await p.ended;
    expect(r.signal, r.stderr).toBe('SIGINT');
    expect(r.stderr).toMatch(/dumped the flight recorder to .*flight\.1\.mlxtrace/);
    for (const f of [dumped, join(out, 'trace.json')]) {
      const t = loadTrace(f);
      expect(t.spans.length, f).toBeGreaterThan(0);
      expect(t.spans.length, f).toBeLessThan(1000);
      expect(t.spans.some((s) => s.kind === 'primitive' && s.name === 'AddMM'), f).toBe(true);
    }
    expect((loadTrace(dumped).meta.flightRecorder as { evicted: number }).evicted).toBeGreaterThan(0);
  }, 60_000);

  it('MLX_TRACE_SCHEDULE under mlx-trace run: one file per window, the newest MLX_TRACE_KEEP kept, the newest rendered', async () => {
    const out = join(tmp, 'schedule');
    const r = await runCli(dist, ['run', '--no-report', '--out', out, LOOP, '--steps', '12'], {
      env: { MLX_TRACE_SCHEDULE: 'wait=1,active=2', MLX_TRACE_KEEP: '2', MLX_TRACE_LIB: join(dist, 'index.js') },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['report.html', 'trace.3.mlxtrace', 'trace.4.mlxtrace', 'trace.chrome-trace.json']);
    const t = loadTrace(join(out, 'trace.4.mlxtrace'));
    expect(t.meta.steps).toEqual({ first: 10, last: 11 });
    expect(t.spans.filter((s) => s.kind === 'eval')).toHaveLength(2);
  }, 60_000);

  it('a bad MLX_TRACE_* value is one line and the app is recorded as by default', async () => {
    const out = join(tmp, 'bad-env');
    const p = start(['--require', join(dist, 'register.js'), LOOP, '--steps', '3'], { MLX_TRACE_OUT: out, MLX_TRACE_FLIGHT: 'minutes=3' });
    const r = await p.ended;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n').filter((l) => l.includes('MLX_TRACE_FLIGHT'))).toEqual(['mlx-trace: MLX_TRACE_FLIGHT="minutes=3" ignored: expected seconds=N and/or spans=N']);
    expectAppTrace(join(out, 'trace.mlxtrace'));
  }, 60_000);
});
