// One program of the pipeline benchmark (bench/pipeline-process.mjs): a real process recording real
// MLX evals, taking and saving the trace, and answering with one JSON line; bad arguments get one line.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli';

const script = join(ROOT, 'bench', 'pipeline-process.mjs');
const lib = join(ROOT, 'bench', 'lib.mjs');

describe('pipeline program', () => {
  it('answers with each pair\'s difference and each round\'s take and save, of a trace that held every primitive', () => {
    const out = spawnSync(process.execPath, [script, '2', '4', '200'], { encoding: 'utf8', cwd: ROOT });
    expect(out.status, out.stderr).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const r = JSON.parse(lines[0]);
    expect(r.diffs).toHaveLength(8);
    expect(r.diffs.every((d: number) => Number.isFinite(d))).toBe(true);
    expect(r.rounds).toHaveLength(2);
    for (const round of r.rounds) for (const k of ['take', 'save', 'read', 'saveJson']) expect(round[k]).toBeGreaterThan(0);
    // Four traced evals of 200 primitives a round, each built in the layer.
    expect(r.last).toMatchObject({ prims: 800, attributed: 800, dropped: 0 });
    expect(r.last.memory).toBeGreaterThan(0);
  });

  it('says in one line what its arguments must be', () => {
    const out = spawnSync(process.execPath, [script, '2', 'many'], { encoding: 'utf8', cwd: ROOT });
    expect(out.status).toBe(2);
    expect(out.stderr.trim()).toBe('pipeline-process: ROUNDS PAIRS PER_EVAL must be positive whole numbers, not 2 many');
    expect(out.stdout).toBe('');
  });

  it('is run by the benchmark to its end, and a program that fails is named with its one line', async () => {
    const { runProgram } = await import(lib);
    expect(runProgram(script, ['1', '2', '100']).last).toMatchObject({ prims: 200, attributed: 200 });
    expect(() => runProgram(script, ['0'])).toThrow(
      'pipeline-process ended (exit 2): pipeline-process: ROUNDS PAIRS PER_EVAL must be positive whole numbers, not 0',
    );
  });
});
