// While MLX's thread waits for a CPU core (here real busy processes, one per core, compete for them), busy time
// passes with no primitive: the trace says how long (meta.coreWaitNs, from the kernel's schedstat) and
// the report says it beside coverage.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import type { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';
import { createLlama, generate, TINY_LLAMA } from '../../src/demo/llama';
import { CoreWaitReader, coreWaits, waitedBetween } from '../../src/core/record/core-wait';
import { formatReport, summarizeReport } from '../../src/exporters/terminal/report';
import { stripAnsi } from '../../src/exporters/terminal/format';
import { useHtmlSession } from '../helpers/html-browser';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');

const html = useHtmlSession();
let inst: MlxInstrumentation;
beforeAll(() => {
  inst = registerMlxInstrumentation();
});
afterAll(() => inst.disable());

describe('coreWaits', () => {
  it("reads this process's threads, this one included", () => {
    const w = coreWaits();
    expect(w.get(process.pid)).toBeGreaterThanOrEqual(0);
  });

  it('counts a thread born since the first reading from zero, and knows nothing of threads it never saw', () => {
    const before = new Map([[1, 100]]);
    const after = new Map([[1, 150], [2, 30]]);
    expect(waitedBetween(before, after, [1, 2])).toBe(80);
    expect(waitedBetween(before, after, [3])).toBeNull();
  });

  it('knows nothing of a thread missing from a reading of only some threads', () => {
    const before = new Map([[1, 100]]);
    const after = new Map([[1, 150], [2, 30]]);
    expect(waitedBetween(before, after, [1, 2], false)).toBe(50);
    expect(waitedBetween(before, after, [2], false)).toBeNull();
  });

  it('reads the threads it is asked for through one descriptor each, and leaves out one that is not there', () => {
    const reader = new CoreWaitReader();
    const all = coreWaits();
    const first = reader.read([process.pid, 0x7ffffff0]);
    expect([...first.keys()]).toEqual([process.pid]);
    expect(first.get(process.pid)).toBeGreaterThanOrEqual(all.get(process.pid)!);
    const fds = readdirSync('/proc/self/fd').length;
    let last = first.get(process.pid)!;
    for (let i = 0; i < 200; i++) {
      const w = reader.read([process.pid]).get(process.pid)!;
      expect(w).toBeGreaterThanOrEqual(last); // the kernel's count only grows
      last = w;
    }
    expect(readdirSync('/proc/self/fd').length).toBe(fds);
    expect(coreWaits().get(process.pid)).toBeGreaterThanOrEqual(last);
  });
});

describe('a decode loop whose MLX thread waits for a core', () => {
  it('records the wait in the trace and the report says it beside coverage', async () => {
    const model = createLlama(mlx, TINY_LLAMA);
    generate(mlx, model, { prompt: [1, 2, 3], tokens: 4 });
    inst.takeTrace();
    const hogs: ChildProcess[] = Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
    try {
      await new Promise((r) => setTimeout(r, 200)); // all running before the loop starts
      generate(mlx, model, { prompt: [1, 2, 3, 4, 5, 6, 7, 8], tokens: 200 });
    } finally {
      for (const h of hogs) h.kill('SIGKILL');
    }
    const t = inst.takeTrace('contended');
    const waited = t.meta.coreWaitNs;
    expect(typeof waited).toBe('number');
    const sum = summarizeReport(t);
    expect(sum.coreWaitNs).toBe(waited);
    // A process that never sleeps per core: MLX's thread often waits for one.
    expect(waited!).toBeGreaterThan(0.02 * sum.busyNs);
    const head = stripAnsi(formatReport(t, { width: 200 })).split('\n').slice(0, 4).join('\n');
    expect(head).toMatch(/coverage \d+(\.\d)?% · MLX's thread waited [\d.]+ ?[mµn]?s for a CPU core/);
    // The dashboard's Coverage card says it too.
    const o = await html.open(await html.exportTo('core-wait.html', t));
    try {
      const note = await o.page.locator('#summary .card', { hasText: 'Coverage' }).textContent();
      expect(note).toMatch(/MLX's thread waited [\d.]+ ?[mµn]?s for a CPU core/);
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });
});
