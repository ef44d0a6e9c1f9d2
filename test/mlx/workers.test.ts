// mlx-trace in worker_threads Workers: real workers in a real child process (a crash must not take
// the test runner with it). The scenarios are in test/fixtures/workers-scenario.cjs.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCli, FIXTURES, runProcess } from '../helpers/cli';

const MAIN_EVAL = ['Abs', 'Add', 'Exp', 'Multiply', 'Negative', 'Subtract'].join(',');
const WORKER_EVAL = ['Cos', 'Log1p', 'Sin', 'Sqrt', 'Square', 'Tanh'].join(',');
const WORKER_OPS = WORKER_EVAL.split(',');
const MAIN_OPS = MAIN_EVAL.split(',');

interface Side {
  evals: Record<string, number>;
  ops: Record<string, number>;
  orphans: number;
  negative: number;
  dropped: number;
}
interface Outcome {
  main: Side;
  worker?: Side | null;
  workerExit: number;
  timing: string;
  threadsBefore?: number;
  threadsAfter?: number;
}

let bundle: string;
beforeAll(async () => {
  bundle = join(await buildCli('workers'), 'index.js');
}, 200_000);

async function scenario(...args: string[]): Promise<Outcome> {
  const r = await runProcess(process.execPath, [join(FIXTURES, 'workers-scenario.cjs'), bundle, ...args], { timeoutMs: 180_000 });
  // A crash (exit 139, SIGSEGV) or a hang fails here, with what the process said.
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Outcome;
}

/** Evals that ran the main thread's six-primitive graph, each with exactly its six primitives. */
function expectMainOnly(side: Side, graphEvals: number): void {
  expect(side.evals[MAIN_EVAL]).toBe(graphEvals);
  expect(side.ops.Add).toBe(graphEvals); // no Add outside those evals either
  for (const op of WORKER_OPS) expect(side.ops[op] ?? 0).toBe(0);
  expect(side.orphans).toBe(0);
  expect(side.negative).toBe(0);
}

describe('mlx-trace in worker threads', () => {
  it('a worker that registers and exits without disable() leaves a process that keeps running MLX and tracing', async () => {
    const out = await scenario('exit');
    expect(out.workerExit).toBe(0);
    expect(out.timing).toBe('native');
    expectMainOnly(out.main, 10);
  });

  it('a worker terminate()d while it evaluates leaves a process that keeps running MLX and tracing', async () => {
    const out = await scenario('terminate');
    expect(out.workerExit).toBe(1);
    expect(out.timing).toBe('native');
    expectMainOnly(out.main, 10);
  });

  it('with both threads instrumented, the worker exiting without disable() leaves main tracing exactly', async () => {
    const out = await scenario('both');
    expect(out.workerExit).toBe(0);
    expectMainOnly(out.main, 50);
  });

  it("with only main instrumented, a worker's primitives never land under main's evals", async () => {
    const out = await scenario('concurrent', 'main');
    expect(out.worker).toBeNull();
    expectMainOnly(out.main, 450);
  });

  it('with both instrumented and running at once, each trace holds exactly its own thread\'s primitives per eval', async () => {
    const out = await scenario('concurrent', 'both');
    expectMainOnly(out.main, 450);
    const w = out.worker!;
    expect(w.evals[WORKER_EVAL]).toBe(400);
    for (const op of MAIN_OPS) expect(w.ops[op] ?? 0).toBe(0);
    for (const op of WORKER_OPS) expect(w.ops[op]).toBe(400);
    expect(w.orphans).toBe(0);
  });

  it("a worker's inner nodes at reused addresses (its graphs freed as it goes) never land in main's trace", async () => {
    const out = await scenario('reuse');
    // The worker's Add of a vector and a scalar puts a Broadcast in each graph: none may show here.
    expectMainOnly(out.main, 50);
    expect(out.main.evals).toEqual({ [MAIN_EVAL]: 50, 'Broadcast,Broadcast,Full,Full': 1 });
    expect(out.main.ops.Broadcast).toBe(2);
  });

  it('workers that come and go one after another leave no rings behind and no primitive in main\'s evals', async () => {
    const out = await scenario('many', '12');
    // Each worker's thread recorded into a ring; the next worker takes it over once it is drained.
    expect(out.threadsAfter).toBe(out.threadsBefore);
    expectMainOnly(out.main, 34);
    // The rest of main's evals are its own set-up evals (ones and full: Full and Broadcast each).
    expect(out.main.evals).toEqual({ [MAIN_EVAL]: 34, 'Broadcast,Broadcast,Full,Full': 13 });
  });
});
