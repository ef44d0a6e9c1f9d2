// The decode benchmarks' programs in lockstep (bench/lib.mjs, bench/decode-process.mjs): real
// processes generating with real MLX, each taking its turns on a line, and a program that fails
// ending the group with its own one-line reason.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli';

const script = join(ROOT, 'bench', 'decode-process.mjs');
const lib = join(ROOT, 'bench', 'lib.mjs');

interface Answer {
  ns: number;
  cpuNs: number;
  gcNs: number;
  dropped: number;
}

describe('lockstep programs', () => {
  it('gives every side one timed answer per round, from a generation that took time on its own clock', async () => {
    const { lockstep } = await import(lib);
    const sides = ['untraced', 'traced', 'idle'];
    const got: Answer[][][] = await lockstep({ script, args: ['tiny', '12', '4'], sides, groups: 2, rounds: 3, untimed: 1 });
    expect(got).toHaveLength(2);
    for (const group of got) {
      expect(group).toHaveLength(sides.length);
      for (const answers of group) {
        expect(answers).toHaveLength(3);
        for (const a of answers) {
          expect(a.ns).toBeGreaterThan(0);
          expect(a.cpuNs).toBeGreaterThan(0);
          expect(a.gcNs).toBeGreaterThanOrEqual(0);
          expect(a.gcNs).toBeLessThan(a.ns);
          expect(a.dropped).toBe(0);
        }
      }
    }
  });

  it('ends the group when a program fails, with that program\'s one-line reason', async () => {
    const { lockstep } = await import(lib);
    await expect(lockstep({ script, args: ['tiny', '12', '4'], sides: ['untraced', 'tracd'], groups: 1, rounds: 1 })).rejects.toThrow(
      /tracd tiny 12 4 ended \(exit 2\): decode-process: side must be traced, untraced or idle, not tracd/,
    );
  });

  it('names the program whose answer is not JSON', async () => {
    const { lockstep } = await import(lib);
    const dir = join(ROOT, 'test-output', 'bench-decode');
    mkdirSync(dir, { recursive: true });
    const talker = join(dir, 'talker.mjs');
    writeFileSync(talker, "process.stdout.write('ready\\n');\nprocess.stdin.on('data', () => process.stdout.write('warming up\\n'));\n");
    await expect(lockstep({ script: talker, args: ['demo'], sides: ['chatty'], groups: 1, rounds: 1 })).rejects.toThrow(
      'chatty demo answered a turn with a line that is not JSON: warming up',
    );
  });

  it('refuses a token count that is not a number, in one line', () => {
    const r = spawnSync(process.execPath, [script, 'traced', 'tiny', 'many', '4'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['decode-process: TOKENS must be a positive number and WARM a number, not many 4']);
  });
});

describe('small-eval program', () => {
  const smallEval = join(ROOT, 'bench', 'small-eval-process.mjs');

  it('answers with one traced-less-untraced difference per pair, in ns a primitive, and the untraced speed', () => {
    const r = spawnSync(process.execPath, [smallEval, '3'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.wall).toHaveLength(3);
    expect(out.cpu).toHaveLength(3);
    for (const d of [...out.wall, ...out.cpu]) expect(Number.isFinite(d)).toBe(true);
    // An add of two [4] arrays, built, evaluated and waited for, takes over 100 ns here.
    expect(out.untraced).toBeGreaterThan(100);
    // One eval of 300 adds built in a layer, each add's output allocated.
    expect(out.recorded).toEqual({ primitives: 300, withLayer: 300, memory: expect.any(Number) });
    expect(out.recorded.memory).toBeGreaterThanOrEqual(300);
  });

  it('records without the part its options turn off: the allocator hooks, or layer tagging', () => {
    const run = (options: string) => {
      const r = spawnSync(process.execPath, [smallEval, '1', options], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout.trim().split('\n').pop()!).recorded;
    };
    expect(run('{"memory":false}')).toEqual({ primitives: 300, withLayer: 300, memory: 0 });
    const noLayers = run('{"layers":false}');
    expect(noLayers.withLayer).toBe(0);
    expect(noLayers.memory).toBeGreaterThanOrEqual(300);
  });

  it('refuses options that are not a JSON object, in one line', () => {
    const r = spawnSync(process.execPath, [smallEval, '1', '[1]'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['small-eval-process: OPTIONS must be a JSON object, not [1]']);
  });

  it('refuses a pair count that is not a number, in one line', () => {
    const r = spawnSync(process.execPath, [smallEval, 'lots'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['small-eval-process: PAIRS must be a positive number, not lots']);
  });
});
