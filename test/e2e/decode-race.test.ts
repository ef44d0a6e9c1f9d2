/**
 * Pipelined decode loops in several processes at once, so MLX's stream thread is often preempted: the
 * drain then meets a launched node's record before MLX has detached the node, and the next step's
 * walk must not read that node's inputs (a read of inputs being freed is a SIGSEGV in tag_walk). The race
 * is timing's: a build with it crashes in some runs of this test, not all.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildCli, ROOT, runProcess } from '../helpers/cli';

let dist: string;

beforeAll(async () => {
  dist = await buildCli('decode-race');
}, 240_000);

afterAll(() => {
  if (dist) rmSync(dist, { recursive: true, force: true });
});

const APP = (d: string) => `
const mlx = require('@frost-beta/mlx');
const sdk = require(${JSON.stringify(join(d, 'index.js'))});
const { createLlama, generate, TINY_LLAMA } = require(${JSON.stringify(join(d, 'demo.js'))});
const inst = sdk.registerMlxInstrumentation({ flightRecorder: { seconds: 10, spans: 2e6 } });
const model = createLlama(mlx, TINY_LLAMA);
const t0 = Date.now();
let tokens = 0;
while (Date.now() - t0 < 4000) { generate(mlx, model, { prompt: [1, 2, 3], tokens: 24 }); tokens += 24; }
const t = inst.takeTrace();
process.stdout.write(JSON.stringify({ tokens, primitives: t.spans.filter((s) => s.kind === 'primitive').length }));
`;

it('traced decode loops, three at a time on two cores, all run to the end', async () => {
  for (let round = 0; round < 4; round++) {
    const runs = await Promise.all(Array.from({ length: 3 }, () => runProcess(process.execPath, ['-e', APP(dist)], { cwd: ROOT, timeoutMs: 120_000 })));
    for (const r of runs) {
      // A crash ends the process by a signal: code 128 here, with nothing on stdout.
      expect(r.code, r.stderr).toBe(0);
      const done = JSON.parse(r.stdout);
      expect(done.tokens).toBeGreaterThan(0);
      expect(done.primitives).toBeGreaterThan(100);
    }
  }
}, 240_000);
