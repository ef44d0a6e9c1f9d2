// A taken trace: plain data to every reader, with its arrays made on first read; saved to .mlxtrace
// unread, it is written from the recorder's columns to the same bytes as after reading it.
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerMlxInstrumentation } from '../src/core/api';
import { loadTrace, saveTrace } from '../src/core/persist';
import type { Trace } from '../src/core/trace';
import type { MlxInstrumentation } from '../src/instrumentations/mlx/instrumentation';

const require = createRequire(import.meta.url);
const { core: mx, nn } = require('@frost-beta/mlx');

class Block extends nn.Module {
  fc: any;
  w: any;
  constructor() {
    super();
    this.fc = new nn.Linear(16, 16);
    this.w = mx.ones([16]);
  }
  forward(x: any) {
    // mx.fast runs its fallback graph on the CPU: those primitives carry attrs (other keys in a row).
    return mx.fast.rmsNorm(nn.relu(this.fc.forward(x)), this.w, 1e-5);
  }
}

let inst: MlxInstrumentation;
let dir: string;
beforeAll(() => {
  inst = registerMlxInstrumentation();
  dir = mkdtempSync(join(tmpdir(), 'mlx-trace-taken-'));
});
afterAll(() => {
  inst.disable();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh recording of a few evals of a small model: evals, layers, primitives, memory events. */
async function record(): Promise<Trace> {
  const m = new Block();
  inst.instrumentModule(m); // defined before registration
  const x = mx.random.normal([8, 16]);
  mx.eval(x);
  inst.takeTrace();
  for (let i = 0; i < 3; i++) {
    mx.eval(m.forward(x));
    await new Promise((r) => setImmediate(r));
  }
  return inst.takeTrace('taken');
}

const isAccessor = (o: object, k: string) => typeof Object.getOwnPropertyDescriptor(o, k)?.get === 'function';

describe('a taken trace', () => {
  it('saved unread is the same file, byte for byte, as saved after its arrays were made', async () => {
    const trace = await record();
    expect(isAccessor(trace, 'spans')).toBe(true);
    const unread = join(dir, 'unread.mlxtrace');
    saveTrace(trace, unread);
    expect(isAccessor(trace, 'spans')).toBe(true); // saving did not make the arrays
    const prims = trace.spans.filter((s) => s.kind === 'primitive');
    expect(prims.length).toBeGreaterThan(20);
    expect(prims.some((s) => s.attrs?.fast === 'rmsNorm')).toBe(true);
    expect(prims.some((s) => s.layer === 'Block')).toBe(true);
    expect(trace.memory.length).toBeGreaterThan(0);
    const read = join(dir, 'read.mlxtrace');
    saveTrace(trace, read);
    expect(readFileSync(unread).equals(readFileSync(read))).toBe(true);
    expect(loadTrace(unread)).toEqual(JSON.parse(JSON.stringify(trace)));
  });

  it('reads as plain data: keys, JSON, clone, spread, console output; arrays become data properties', async () => {
    const trace = await record();
    expect(Object.keys(trace)).toEqual(['schema', 'name', 'meta', 'spans', 'memory', 'dropped']);
    expect(inspect(trace, { depth: 0 })).not.toMatch(/Getter/);
    const json = JSON.parse(JSON.stringify(trace));
    expect(Array.isArray(json.spans) && json.spans.length > 0).toBe(true);
    expect(structuredClone(trace)).toEqual(json);
    expect({ ...trace }).toEqual(json);
    expect(isAccessor(trace, 'spans')).toBe(false);
    expect(isAccessor(trace, 'memory')).toBe(false);
    expect(trace.spans).toBe(trace.spans);
  });

  it('keeps what a program changes: an edited span, or an array replaced before it was read', async () => {
    const edited = await record();
    edited.spans[0].name = 'renamed';
    saveTrace(edited, join(dir, 'edited.mlxtrace'));
    expect(loadTrace(join(dir, 'edited.mlxtrace')).spans[0].name).toBe('renamed');

    const replaced = await record();
    replaced.memory = [];
    expect(isAccessor(replaced, 'memory')).toBe(false);
    saveTrace(replaced, join(dir, 'replaced.mlxtrace'));
    const back = loadTrace(join(dir, 'replaced.mlxtrace'));
    expect(back.memory).toEqual([]);
    expect(back.spans.length).toBeGreaterThan(20);

    // Frozen before its arrays were read: they are still made, and an edit of a span still counts.
    const frozen = Object.freeze(await record());
    frozen.spans[1].name = 'edited';
    saveTrace(frozen, join(dir, 'frozen.mlxtrace'));
    expect(loadTrace(join(dir, 'frozen.mlxtrace')).spans[1].name).toBe('edited');
  });

  it('is independent of the next window: recording goes on into new columns', async () => {
    const first = await record();
    const second = await record();
    const ids = new Set(first.spans.map((s) => s.id));
    expect(second.spans.every((s) => !ids.has(s.id) || s.kind !== 'primitive')).toBe(true);
    expect(first.spans.filter((s) => s.kind === 'primitive').length).toBe(second.spans.filter((s) => s.kind === 'primitive').length);
  });
});
