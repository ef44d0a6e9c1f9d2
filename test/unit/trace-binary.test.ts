// The binary layout of saved traces (.mlxtrace): exact round trips through real files, the same
// answers as the JSON layout, one clear TraceFileError line for every way a file can be wrong, and a
// fuzz of cut and damaged files.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, gzipSync } from 'node:zlib';
import { saveTrace, loadTrace, TraceFileError, type TraceFileErrorCode } from '../../src/core/io/persist';
import { crc32Table } from '../../src/core/io/binary';
import type { Span, Trace } from '../../src/core/model/trace';
import { makeSyntheticTrace, mulberry32, syntheticTrace } from '../helpers/synthetic-trace';
import { recordRealOrMlp } from '../helpers/real-or-recorded';

let dir: string;
let real: Trace;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlx-trace-binary-'));
  real = await recordRealOrMlp();
}, 120_000);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const file = (name: string) => join(dir, name);

/**
 * 200k synthetic spans (four blocks of spans) saved in both layouts, once for the tests that need
 * them. The trace itself is not kept: a big live heap would slow every later test's collections.
 */
const bigTrace = () => makeSyntheticTrace({ primitives: 200_000, threads: 2 });
let big: { bin: string; json: string } | null = null;
const bigFiles = () => (big ??= saveBoth(bigTrace(), 'big'));

/** Calls fn and returns the TraceFileError it throws (fails the test for anything else). */
function traceError(fn: () => unknown): TraceFileError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof TraceFileError)) throw new Error(`expected a TraceFileError, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    return e;
  }
  throw new Error('expected a TraceFileError, nothing was thrown');
}

/** A trace with every optional field and awkward value the layout has to carry exactly. */
function awkwardTrace(): Trace {
  const t = syntheticTrace({ steps: 2, blocks: 1, primitivesPerLayer: 3 });
  t.name = 'quotes " backslash \\ newline \n unicode é 漢字 🙂 lone \ud800 surrogate';
  t.meta.fallbackReason = 'native layer refused: "ABI"';
  t.meta.generation = { tokens: 12, nested: [1, null, 'x'] };
  t.counters = [{ name: 'cpu.freq', unit: 'MHz', samples: [[0, 2400], [1000, 2600.5]] }];
  (t as unknown as Record<string, unknown>).comment = { note: 'an unknown top-level key', list: [1, 2] };
  const prims = t.spans.filter((s) => s.kind === 'primitive');
  prims[0].attrs = { 'op.variant': 'fused "fast" ✓', cached: true, ratio: 0.125 };
  prims[0].pass = 2;
  prims[0].warmup = false;
  prims[1].warmup = true;
  prims[1].flops = null;
  prims[1].bytes = null;
  prims[2].layerId = null;
  prims[2].layer = null;
  delete prims[3].layerId;
  delete prims[3].layer;
  delete prims[4].layerId; // layer without layerId: absent stays absent
  prims[5].start = 1_234_567_890_123;
  prims[5].end = 2 ** 53 - 1;
  prims[5].thread = -1.5;
  prims[5].flops = 1.5e300;
  prims[5].inputs = [...prims[5].inputs, { shape: [], dtype: 'bfloat16', bytes: 2 }, { shape: [0, 3], dtype: 'uint32', bytes: 0 }];
  (prims[6] as unknown as Record<string, unknown>).custom = 'a key no version knows';
  t.spans.find((s) => s.kind === 'layer')!.parentId = null;
  t.memory.push({ t: 5, delta: -3, live: 0 });
  t.memory.push({ t: 6, delta: 4, live: 4, op: null });
  (t.memory[0] as unknown as Record<string, unknown>).extra = [1, 'two'];
  t.dropped = 7;
  return t;
}

/** Saves `t` in both layouts and returns both paths. */
function saveBoth(t: Trace, name: string): { bin: string; json: string } {
  const bin = file(`${name}.mlxtrace`);
  const json = file(`${name}.json`);
  saveTrace(t, bin);
  saveTrace(t, json);
  return { bin, json };
}

// ---------------------------------------------------------------------------------------------
// The file's structure, read the way trace-binary.ts documents it (independently of its reader).

interface BlockInfo {
  /** Offset of the block's head. */
  at: number;
  type: number;
  count: number;
  length: number;
  /** Offset after its padding. */
  end: number;
}
const T = { header: 1, defs: 2, spans: 3, memory: 4, end: 5 };
const pad8 = (n: number) => (n + 7) & ~7;

function blocksOf(b: Buffer): BlockInfo[] {
  expect(b.subarray(0, 8).toString('latin1')).toBe('MLXTRACE');
  expect(b.readUInt32LE(8)).toBe(1);
  const out: BlockInfo[] = [];
  let at = 16;
  while (at < b.length) {
    const length = b.readUInt32LE(at + 8);
    const end = at + 16 + pad8(length);
    out.push({ at, type: b.readUInt32LE(at), count: b.readUInt32LE(at + 4), length, end });
    at = end;
  }
  return out;
}

function fixCrc(b: Buffer, blk: BlockInfo): Buffer {
  const c = crc32(b.subarray(blk.at + 16, blk.at + 16 + b.readUInt32LE(blk.at + 8)), crc32(b.subarray(blk.at, blk.at + 12)));
  b.writeUInt32LE(c, blk.at + 12);
  return b;
}

/** The file with block `index` given a new payload (and type/count), its length and checksum right. */
function replaceBlock(b: Buffer, blk: BlockInfo, payload: Buffer, type = blk.type, count = blk.count): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32LE(type, 0);
  head.writeUInt32LE(count, 4);
  head.writeUInt32LE(payload.length, 8);
  const block = Buffer.concat([head, payload, Buffer.alloc(pad8(payload.length) - payload.length)]);
  const out = Buffer.concat([b.subarray(0, blk.at), block, b.subarray(blk.end)]);
  return fixCrc(out, { ...blk, type, count, length: payload.length });
}

const payloadOf = (b: Buffer, blk: BlockInfo) => b.subarray(blk.at + 16, blk.at + 16 + blk.length);

/** The columns of a spans or memory block's payload (n rows), decoded as the layout documents them. */
function readColumns(p: Buffer, n: number, columns: number): { cols: number[][]; widths: number[]; flags: number[]; rest: Buffer } {
  const cols: number[][] = [];
  const widths: number[] = [];
  let at = 16 * columns;
  for (let c = 0; c < columns; c++) {
    const base = p.readDoubleLE(16 * c);
    const width = p.readUInt32LE(16 * c + 8);
    const read = [() => base, (j: number) => base + p[at + j], (j: number) => base + p.readUInt16LE(at + 2 * j), null, (j: number) => base + p.readUInt32LE(at + 4 * j), null, null, null, (j: number) => p.readDoubleLE(at + 8 * j)][width]!;
    cols.push(Array.from({ length: n }, (_, j) => read(j)));
    widths.push(width);
    at += pad8(width * n);
  }
  const flags = [...p.subarray(at, at + n)];
  return { cols, widths, flags, rest: p.subarray(pad8(at + n)) };
}

/** A payload holding these columns, the first `values` as f64 and the rest as u32 (the widest choices). */
function writeColumns(cols: number[][], values: number, flags: number[], rest: Buffer): Buffer {
  const n = flags.length;
  const table = Buffer.alloc(16 * cols.length);
  const parts = [table];
  cols.forEach((col, c) => {
    const width = c < values ? 8 : 4;
    table.writeUInt32LE(width, 16 * c + 8);
    const b = Buffer.alloc(pad8(width * n));
    col.forEach((v, j) => (width === 8 ? b.writeDoubleLE(v, 8 * j) : b.writeUInt32LE(v, 4 * j)));
    parts.push(b);
  });
  const f = Buffer.alloc(pad8(n));
  flags.forEach((v, j) => (f[j] = v));
  return Buffer.concat([...parts, f, rest]);
}

/** The file with the first spans (or memory) block's columns edited, re-packed at full width. */
function editColumns(b: Buffer, type: number, edit: (cols: number[][], flags: number[]) => void): Buffer {
  const blk = blocksOf(b).find((x) => x.type === type)!;
  const [columns, values] = type === T.spans ? [14, 8] : [4, 3];
  const { cols, flags, rest } = readColumns(payloadOf(b, blk), blk.count, columns);
  edit(cols, flags);
  return replaceBlock(b, blk, writeColumns(cols, values, flags, rest));
}
/** Span columns by name. */
const S = { id: 0, parentId: 1, start: 2, end: 3, thread: 4, flops: 5, bytes: 6, layerId: 7, kind: 8, name: 9, device: 10, layer: 11, inputs: 12, outputs: 13 };

// ---------------------------------------------------------------------------------------------

describe('round trip', () => {
  it('a real recorded trace comes back deep-equal, and equal to the JSON load of it', () => {
    expect(real.spans.length).toBeGreaterThan(10);
    const { bin, json } = saveBoth(real, 'real');
    const back = loadTrace(bin);
    expect(back).toStrictEqual(real);
    expect(back).toEqual(loadTrace(json));
    expect(readFileSync(bin).subarray(0, 8).toString('latin1')).toBe('MLXTRACE');
  });

  it.each([
    ['optional fields, unicode, counters and unknown keys', awkwardTrace],
    ['the synthetic trace', () => syntheticTrace()],
    ['an empty trace', () => ({ ...syntheticTrace(), spans: [], memory: [] })],
    ['a multi-threaded trace with gpu spans and overlaps', () => makeSyntheticTrace({ primitives: 500, threads: 3, device: 'mixed', overlaps: 4 })],
  ])('%s: exact, null vs absent kept, and what the JSON loader gives', (_name, make) => {
    const t = make();
    const { bin, json } = saveBoth(t, 'rt');
    const back = loadTrace(bin);
    expect(back).toStrictEqual(t);
    const fromJson = loadTrace(json);
    // JSON rows lose one thing: a layer without a layerId comes back with layerId null.
    fromJson.spans.forEach((s, i) => {
      if (!('layerId' in t.spans[i]) && 'layer' in t.spans[i]) delete s.layerId;
    });
    expect(back).toStrictEqual(fromJson);
    // Same keys, in the same order, as the JSON loader makes.
    for (let i = 0; i < back.spans.length; i++) expect(Object.keys(back.spans[i])).toEqual(Object.keys(fromJson.spans[i]));
    expect(Object.keys(back)).toEqual(Object.keys(fromJson));
    for (let i = 0; i < back.memory.length; i++) expect(Object.keys(back.memory[i])).toEqual(Object.keys(fromJson.memory[i]));
  });

  it('keeps absent and null apart for layerId, layer and op', () => {
    const back = loadTrace(saveBoth(awkwardTrace(), 'nulls').bin);
    const prims = back.spans.filter((s) => s.kind === 'primitive');
    expect([prims[2].layerId, prims[2].layer]).toEqual([null, null]);
    expect('layerId' in prims[3] || 'layer' in prims[3]).toBe(false);
    expect('layerId' in prims[4]).toBe(false);
    expect(typeof prims[4].layer).toBe('string');
    expect([prims[1].flops, prims[1].bytes]).toEqual([null, null]);
    expect(back.memory.at(-1)).toStrictEqual({ t: 6, delta: 4, live: 4, op: null });
    expect(back.memory.at(-2)).toStrictEqual({ t: 5, delta: -3, live: 0 });
  });

  it('JSON -> binary -> JSON gives the same JSON file, byte for byte', () => {
    const t = makeSyntheticTrace({ primitives: 2000, threads: 2, device: 'mixed' });
    saveTrace(t, file('a.json'));
    saveTrace(loadTrace(file('a.json')), file('b.mlxtrace'));
    saveTrace(loadTrace(file('b.mlxtrace')), file('c.json'));
    expect(readFileSync(file('c.json')).equals(readFileSync(file('a.json')))).toBe(true);
  });

  it('packs columns narrow (ids and ns times in 4 bytes or fewer), and reads any width the layout allows', () => {
    const t = makeSyntheticTrace({ primitives: 3000, threads: 1 });
    const p = file('packed.mlxtrace');
    saveTrace(t, p);
    const b = readFileSync(p);
    const spans = blocksOf(b).find((x) => x.type === T.spans)!;
    const { widths } = readColumns(payloadOf(b, spans), spans.count, 14);
    expect(Math.max(...widths)).toBeLessThanOrEqual(4);
    expect(widths[S.thread]).toBe(1);
    // Every column at full width (f64, u32): the same trace.
    writeFileSync(p, editColumns(editColumns(b, T.spans, () => {}), T.memory, () => {}));
    expect(statSync(p).size).toBeGreaterThan(b.length * 1.5);
    expect(loadTrace(p)).toStrictEqual(t);
  });

  it('picks the narrowest exact width whatever the values: a constant run then a fraction or -0, odd counts, the smallest last', () => {
    // One memory block whose 'delta' column holds `values`: its width, and every value back exactly (-0 too).
    const widthOf = (values: number[]): number => {
      const t = syntheticTrace({ steps: 1, blocks: 1, primitivesPerLayer: 1 });
      t.memory = values.map((delta, i) => ({ t: i, delta, live: 0 }));
      const p = file('widths.mlxtrace');
      saveTrace(t, p);
      const b = readFileSync(p);
      const mem = blocksOf(b).find((x) => x.type === T.memory)!;
      const back = loadTrace(p).memory.map((m) => m.delta);
      expect(back.every((v, i) => Object.is(v, values[i]))).toBe(true);
      return readColumns(payloadOf(b, mem), mem.count, 4).widths[1];
    };
    expect(widthOf([5, 5, 5, 5])).toBe(0);
    expect(widthOf([0, 0])).toBe(0);
    expect(widthOf([5, 5, 5, 5.5])).toBe(8);
    expect(widthOf([5, 5, 5.5, 5])).toBe(8);
    expect(widthOf([5, 5, 5, 5, 5.5])).toBe(8);
    expect(widthOf([5, 6, 6.5])).toBe(8);
    expect(widthOf([5, 6, 6.5, 7])).toBe(8);
    expect(widthOf([5.5, 5.5])).toBe(8);
    expect(widthOf([1, 0, -0, 2])).toBe(8);
    expect(widthOf([-0, -0])).toBe(8);
    expect(widthOf([-0, 3])).toBe(8);
    expect(widthOf([9, 9, 9, 4])).toBe(1);
    expect(widthOf([9, 4, 9])).toBe(1);
    expect(widthOf([9, 8, 7, 6, 5 - 256])).toBe(2);
    expect(widthOf([3, 3, 3 + 255])).toBe(1);
    expect(widthOf([3, 3 + 256])).toBe(2);
    expect(widthOf([-1, 2 ** 32 - 2])).toBe(4);
    expect(widthOf([0, 2 ** 32])).toBe(8);
    expect(widthOf([2 ** 53 - 1, 2 ** 53 - 2])).toBe(1);
    expect(widthOf([-(2 ** 53 - 1), 7 - (2 ** 53 - 1)])).toBe(1);
    expect(widthOf([2 ** 53, 2 ** 53])).toBe(8);
  });

  it('picks the layout by option, else by extension, and loads either whatever the name', () => {
    const t = syntheticTrace();
    saveTrace(t, file('bin.json'), { format: 'binary' });
    saveTrace(t, file('text.mlxtrace'), { format: 'json' });
    saveTrace(t, file('UPPER.MLXTRACE'));
    expect(readFileSync(file('bin.json')).subarray(0, 8).toString('latin1')).toBe('MLXTRACE');
    expect(readFileSync(file('UPPER.MLXTRACE')).subarray(0, 8).toString('latin1')).toBe('MLXTRACE');
    expect(readFileSync(file('text.mlxtrace'), 'utf8')).toMatch(/^\{"schema":"mlx-trace\/1"/);
    for (const p of ['bin.json', 'text.mlxtrace', 'UPPER.MLXTRACE']) expect(loadTrace(file(p))).toStrictEqual(t);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('shares one inputs/outputs array and frozen TensorInfos per list, as the JSON loader shares tensors', () => {
    const back = loadTrace(saveBoth(makeSyntheticTrace({ primitives: 300 }), 'share').bin);
    const prims = back.spans.filter((s) => s.kind === 'primitive');
    const lists = new Set(prims.map((s) => s.inputs));
    expect(lists.size).toBeLessThanOrEqual(8);
    expect(prims.every((s) => Object.isFrozen(s.inputs[0]))).toBe(true);
    expect(Object.isFrozen(prims[0].inputs)).toBe(false);
    expect(prims[0].outputs[0]).toBe(prims[4].outputs[0]);
  });

  it('crosses block boundaries: 200k spans in several blocks', () => {
    const { bin, json } = bigFiles();
    const t = bigTrace();
    const blocks = blocksOf(readFileSync(bin));
    expect(blocks.filter((b) => b.type === T.spans).map((b) => b.count)).toEqual([65536, 65536, 65536, t.spans.length - 3 * 65536]);
    expect(blocks[0].type).toBe(T.header);
    expect(blocks.at(-1)!.type).toBe(T.end);
    expect(loadTrace(bin)).toStrictEqual(t);
    expect(statSync(bin).size).toBeLessThan(statSync(json).size / 2);
  });

  it('carries huge attrs (blocks end early rather than grow without bound)', () => {
    const t = syntheticTrace({ steps: 1, blocks: 1, primitivesPerLayer: 6 });
    const blob = 'x'.repeat(12 << 20);
    for (const s of t.spans.filter((s) => s.kind === 'primitive')) s.attrs = { blob };
    const p = file('blob.mlxtrace');
    saveTrace(t, p);
    expect(blocksOf(readFileSync(p)).filter((b) => b.type === T.spans).length).toBeGreaterThan(1);
    expect(loadTrace(p)).toStrictEqual(t);
    rmSync(p);
  });

  it('can skip validation, still writing a file that loads', () => {
    const t = awkwardTrace();
    saveTrace(t, file('noval.mlxtrace'), { validate: false });
    expect(loadTrace(file('noval.mlxtrace'))).toStrictEqual(t);
  });

  it("computes zlib's CRC-32 without zlib too (Node before 20.15)", () => {
    const b = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7919) & 255));
    expect(crc32Table(b)).toBe(crc32(b));
    expect(crc32Table(b.subarray(500), crc32Table(b.subarray(0, 500)))).toBe(crc32(b));
  });
});

describe('saveTrace refuses exactly what the JSON layout refuses', () => {
  const cases: [string, (t: Trace) => void][] = [
    ['a NaN start', (t) => (t.spans[4].start = NaN)],
    ['a repeated id', (t) => (t.spans[5].id = t.spans[2].id)],
    ['an unknown kind', (t) => ((t.spans[1] as unknown as Record<string, unknown>).kind = 'op')],
    ['a tensor without dtype', (t) => ((t.spans.find((s) => s.kind === 'primitive')!.inputs as unknown[])[0] = { shape: [1], bytes: 4 })],
    ['attrs holding an object', (t) => ((t.spans[3] as unknown as Record<string, unknown>).attrs = { a: {} })],
    ['a memory event with an infinite live', (t) => (t.memory[1].live = Infinity)],
    ['a numeric op', (t) => ((t.memory[0] as unknown as Record<string, unknown>).op = 3)],
    ['a top-level key the JSON layout uses', (t) => ((t as unknown as Record<string, unknown>).layout = 'mine')],
    ['a BigInt in meta', (t) => ((t.meta as Record<string, unknown>).big = 10n)],
    ['a bad meta', (t) => ((t.meta as Record<string, unknown>).timing = 'wall')],
  ];
  it.each(cases)('%s', (_name, edit) => {
    const t = syntheticTrace();
    edit(t);
    const ej = traceError(() => saveTrace(t, file('refused.json')));
    const eb = traceError(() => saveTrace(t, file('refused.mlxtrace')));
    expect([eb.code, eb.detail]).toEqual([ej.code, ej.detail]);
    expect(eb.message).toBe(`${file('refused.mlxtrace')}: ${eb.detail}`);
    expect(existsSync(file('refused.mlxtrace'))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('refuses an unknown format by name', () => {
    const e = traceError(() => saveTrace(syntheticTrace(), file('x.bin'), { format: 'xml' as 'json' }));
    expect(e.detail).toBe(`not saved: format "xml" is not 'json' or 'binary'`);
  });

  it('names a path it cannot write', () => {
    const p = join(dir, 'missing-dir', 'trace.mlxtrace');
    const e = traceError(() => saveTrace(syntheticTrace(), p));
    expect([e.code, e.message]).toEqual(['unwritable', `${p}: cannot write: no such file or directory`]);
  });
});

describe('loadTrace errors', () => {
  let good: Buffer;
  let bigBytes: Buffer;
  beforeAll(() => {
    saveTrace(syntheticTrace(), file('good.mlxtrace'));
    good = readFileSync(file('good.mlxtrace'));
    bigBytes = readFileSync(bigFiles().bin);
  }, 60_000);

  const block = (b: Buffer, type: number, nth = 0) => blocksOf(b).filter((x) => x.type === type)[nth];
  /** The file with its header JSON edited. */
  const editHeader = (edit: (h: any) => void) => {
    const blk = block(good, T.header);
    const h = JSON.parse(payloadOf(good, blk).toString('utf8'));
    edit(h);
    return replaceBlock(good, blk, Buffer.from(JSON.stringify(h)));
  };
  /** The file with its first definitions block edited. */
  const editDefs = (edit: (d: any) => void) => {
    const blk = block(good, T.defs);
    const d = JSON.parse(payloadOf(good, blk).toString('utf8'));
    edit(d);
    return replaceBlock(good, blk, Buffer.from(JSON.stringify(d)));
  };
  const cases: { name: string; content: () => Buffer; code: TraceFileErrorCode; message: RegExp | string }[] = [
    { name: 'cut in the preamble', content: () => good.subarray(0, 11), code: 'truncated', message: 'truncated: the file ends inside its 16-byte preamble (byte 11)' },
    { name: 'cut at a block boundary', content: () => good.subarray(0, block(good, T.spans).end), code: 'truncated', message: /^truncated: the file ends after block 2, with 0 of \d+ spans and \d+ of \d+ memory events missing \(byte \d+\)$/ },
    { name: 'cut before the end block', content: () => good.subarray(0, good.length - 16), code: 'truncated', message: /^truncated: the file ends after block \d+, before the end block \(byte \d+\)$/ },
    { name: 'cut in a block head', content: () => good.subarray(0, block(good, T.spans).at + 5), code: 'truncated', message: /^truncated: the file ends inside the head of block 2 \(byte \d+\)$/ },
    {
      name: 'cut inside the second block of spans',
      content: () => bigBytes.subarray(0, block(bigBytes, T.spans, 1).at + 1000),
      code: 'truncated',
      message: /^truncated: block \d+ \(spans 65536-131071\) ends at byte \d+, the file at byte \d+$/,
    },
    {
      name: 'a damaged byte in the spans',
      content: () => {
        const b = Buffer.from(good);
        b[block(b, T.spans).at + 100] ^= 4;
        return b;
      },
      code: 'corrupt',
      message: /^corrupt: block 2 \(spans 0-\d+, bytes \d+-\d+\) does not match its checksum$/,
    },
    {
      name: 'a block length the columns cannot fit in',
      content: () => {
        const b = Buffer.from(good);
        const blk = block(b, T.memory);
        return replaceBlock(b, blk, payloadOf(b, blk).subarray(0, 16));
      },
      code: 'corrupt',
      message: /^corrupt: block \d+ \(memory events 0-\d+\) has 16 bytes, too few for its table of columns$/,
    },
    {
      name: 'more spans than the header announced',
      content: () => editHeader((h) => (h.spans = 3)),
      code: 'corrupt',
      message: /^corrupt: block 2 holds spans 0-\d+, and the header says the trace has 3$/,
    },
    {
      name: 'a header announcing more than the file holds',
      content: () => editHeader((h) => (h.memory = 1e9)),
      code: 'corrupt',
      message: /^corrupt: the file ends at block \d+, with 0 of \d+ spans and \d+ of 1000000000 memory events missing$/,
    },
    { name: 'fewer spans than the header announced', content: () => editHeader((h) => (h.spans += 1)), code: 'corrupt', message: /^corrupt: the file ends at block \d+, with 1 of \d+ spans and 0 of \d+ memory events missing$/ },
    {
      name: 'a newer layout version',
      content: () => {
        const b = Buffer.from(good);
        b.writeUInt32LE(3, 8);
        return b;
      },
      code: 'future-version',
      message: 'written in binary layout version 3, and this version of mlx-trace reads version 2: upgrade mlx-trace to open it',
    },
    {
      name: 'a version 1 file marked as layout version 2 (streamed) without a streamed header',
      content: () => {
        const b = Buffer.from(good);
        b.writeUInt32LE(2, 8);
        return b;
      },
      code: 'corrupt',
      message: /^corrupt: block 0 \(the header of a streamed file, layout version 2\) is not/,
    },
    {
      name: 'an unknown block type',
      content: () => {
        const b = Buffer.from(good);
        const blk = block(b, T.memory);
        return replaceBlock(b, blk, payloadOf(b, blk), 9);
      },
      code: 'future-version',
      message: /^block \d+ is of type 9, which this version of mlx-trace does not know: upgrade mlx-trace to open it$/,
    },
    {
      name: 'a column of a width the layout does not have',
      content: () => {
        const b = Buffer.from(good);
        const blk = block(b, T.spans);
        b.writeUInt32LE(3, blk.at + 16 + 16 * S.start + 8);
        return fixCrc(b, blk);
      },
      code: 'corrupt',
      message: /^corrupt: block 2 \(spans 0-\d+\) has column 2 of width 3$/,
    },
    { name: 'data after the end block', content: () => Buffer.concat([good, Buffer.alloc(8)]), code: 'corrupt', message: /^corrupt: 8 bytes after the end block/ },
    { name: 'a foreign schema', content: () => editHeader((h) => (h.trace.schema = 'speedscope')), code: 'not-a-trace', message: "not an mlx-trace file: 'schema' is \"speedscope\", expected 'mlx-trace/1'" },
    { name: 'no schema', content: () => editHeader((h) => delete h.trace.schema), code: 'not-a-trace', message: "not an mlx-trace file: it has no 'schema' field" },
    {
      name: 'a future schema',
      content: () => editHeader((h) => (h.trace.schema = 'mlx-trace/2')),
      code: 'future-version',
      message: "written by a newer mlx-trace (schema 'mlx-trace/2'); this version reads 'mlx-trace/1': upgrade mlx-trace to open it",
    },
    { name: 'meta without peaks', content: () => editHeader((h) => delete h.trace.meta.peaks), code: 'invalid-field', message: "meta has no 'peaks'" },
    { name: 'a negative dropped', content: () => editHeader((h) => (h.trace.dropped = -1)), code: 'invalid-field', message: "trace: 'dropped' is -1, expected a count" },
    { name: 'a header that is not JSON', content: () => replaceBlock(good, block(good, T.header), Buffer.from('{"spans":')), code: 'corrupt', message: 'corrupt: block 0 (the header) is not valid JSON' },
    {
      name: 'a span ending before it starts',
      content: () => editColumns(good, T.spans, (c) => (c[S.end][2] = c[S.start][2] - 1)),
      code: 'invalid-field',
      message: /^span 2: 'end' \(\d+\) is before 'start' \(\d+\)$/,
    },
    {
      name: 'a repeated span id',
      content: () => editColumns(good, T.spans, (c) => (c[S.id][5] = c[S.id][4])),
      code: 'invalid-field',
      message: /^span 5: id \d+ is used twice \(also by span 4\)$/,
    },
    {
      name: 'a NaN thread',
      content: () => editColumns(good, T.spans, (c) => (c[S.thread][1] = NaN)),
      code: 'invalid-field',
      message: "span 1: 'thread' is NaN, expected a number",
    },
    {
      name: 'a string number never defined',
      content: () => editColumns(good, T.spans, (c) => (c[S.name][2] = 999)),
      code: 'invalid-field',
      message: /^span 2: 'name' is string number 999, and \d+ are defined before it$/,
    },
    {
      name: 'a tensor list number never defined',
      content: () => editColumns(good, T.spans, (c) => (c[S.outputs][3] = 999)),
      code: 'invalid-field',
      message: /^span 3: 'outputs' is tensor list number 999, and \d+ are defined before it$/,
    },
    {
      name: 'a memory event with a NaN live',
      content: () => editColumns(good, T.memory, (c) => (c[2][1] = NaN)),
      code: 'invalid-field',
      message: "memory event 1: 'live' is NaN, expected a number",
    },
    { name: 'a kind no version knows', content: () => editDefs((d) => (d.strings[d.strings.indexOf('user')] = 'op')), code: 'invalid-field', message: /^span 0: 'kind' is "op", expected one of/ },
    { name: 'a tensor without dtype', content: () => editDefs((d) => delete d.tensors[0].dtype), code: 'invalid-field', message: /^span \d+ (inputs|outputs)\[0\] has no 'dtype'$/ },
    { name: 'a list naming a tensor never defined', content: () => editDefs((d) => d.lists.push([999])), code: 'corrupt', message: /^corrupt: block 1 \(definitions\): (list \d+ names tensor 999|holds \d+ definitions)/ },
    { name: 'gzip-compressed', content: () => gzipSync(good), code: 'invalid-json', message: 'is gzip-compressed: decompress it first (gunzip)' },
  ];

  it.each(cases)('$name', ({ content, code, message }) => {
    const p = file('bad.mlxtrace');
    writeFileSync(p, content());
    const e = traceError(() => loadTrace(p));
    expect([e.code, e.detail]).toEqual([code, expect.anything()]);
    expect(e.file).toBe(p);
    expect(e.message).toBe(`${p}: ${e.detail}`);
    expect(e.message).not.toMatch(/\n/);
    if (typeof message === 'string') expect(e.detail).toBe(message);
    else expect(e.detail).toMatch(message);
  });

  it('reads a binary file under any name', () => {
    writeFileSync(file('renamed.trace'), good);
    expect(loadTrace(file('renamed.trace')).spans.length).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzz: deterministic (fixed seed), so a failure names a variant that reproduces.

describe('loadTrace of a binary file under fuzzing', () => {
  const SEED = 0xb1a5;
  const rand = mulberry32(SEED);
  const int = (n: number) => Math.floor(rand() * n);
  type Outcome = TraceFileErrorCode | 'valid';
  let original: Buffer;

  beforeAll(() => {
    // The real trace with awkward fields added, so every block kind and flag is in the file.
    const t = structuredClone(real);
    const prims = t.spans.filter((s) => s.kind === 'primitive');
    prims[0].attrs = { note: 'quote " é 🙂', n: 3 };
    prims[1].pass = 1;
    delete (prims[2] as Partial<Span>).layerId;
    t.memory.push({ t: 1, delta: 2, live: 3, op: null });
    saveTrace(t, file('fuzz-base.mlxtrace'));
    original = readFileSync(file('fuzz-base.mlxtrace'));
  });

  function attempt(bytes: Buffer, label: string): Outcome {
    const p = file('variant.mlxtrace');
    writeFileSync(p, bytes);
    let t: Trace;
    try {
      t = loadTrace(p);
    } catch (e) {
      if (!(e instanceof TraceFileError)) throw new Error(`${label}: threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
      if (e.message.includes('\n') || !e.message.startsWith(`${p}: `)) throw new Error(`${label}: message not one line naming the file: ${e.message}`);
      return e.code;
    }
    // Whatever loads is a valid trace: saving re-checks every field, and it must come back equal.
    try {
      saveTrace(t, file('again.mlxtrace'));
    } catch (e) {
      throw new Error(`${label}: loaded but not a valid trace: ${(e as Error).message}`);
    }
    expect(loadTrace(file('again.mlxtrace')), label).toStrictEqual(t);
    return 'valid';
  }

  const tally = (counts: Map<Outcome, number>, o: Outcome) => counts.set(o, (counts.get(o) ?? 0) + 1);

  it('uses a file with every kind of block', () => {
    expect(new Set(blocksOf(original).map((b) => b.type))).toEqual(new Set(Object.values(T)));
  });

  it('gives a TraceFileError for every cut: at each block boundary, near it, and at random', () => {
    const points = new Set<number>();
    for (const b of blocksOf(original)) for (const d of [-9, -8, -1, 0, 1, 8, 12, 16, 17]) points.add(b.at + d);
    for (let i = 0; i < 32; i++) points.add(i);
    while (points.size < 2000) points.add(int(original.length));
    const counts = new Map<Outcome, number>();
    for (const n of points) if (n >= 0 && n < original.length) tally(counts, attempt(original.subarray(0, n), `cut to ${n} of ${original.length} (seed ${SEED})`));
    expect(counts.get('valid') ?? 0).toBe(0);
    expect(counts.get('truncated')).toBeGreaterThan(1800);
  });

  it('gives a TraceFileError for a cut at every block boundary of a file of several span blocks', () => {
    const bytes = readFileSync(bigFiles().bin);
    for (const b of blocksOf(bytes)) {
      expect(attempt(bytes.subarray(0, b.at), `cut to ${b.at}`)).toBe('truncated');
      if (b.type === T.spans || b.type === T.memory) expect(attempt(bytes.subarray(0, b.end - 1), `cut to ${b.end - 1}`)).toBe('truncated');
    }
  });

  it('gives a TraceFileError or a valid trace for every damaged byte', () => {
    const counts = new Map<Outcome, number>();
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(original);
      const n = 1 + int(4);
      const at: number[] = [];
      for (let k = 0; k < n; k++) {
        const x = int(b.length);
        at.push(x);
        if (rand() < 0.5) b[x] ^= 1 << int(8);
        else b[x] = int(256);
      }
      tally(counts, attempt(b, `damage #${i} at ${at.join(',')} (seed ${SEED})`));
    }
    if (process.env.FUZZ_VERBOSE) console.log(original.length, [...counts]);
    // The checksums catch damage to any payload; damage in the padding leaves a valid trace.
    expect(counts.get('corrupt') ?? 0).toBeGreaterThan(2000);
  });

  it('gives a TraceFileError or a valid trace for edited block lengths, counts and types (checksums made right or not)', () => {
    const blocks = blocksOf(original);
    const counts = new Map<Outcome, number>();
    const values = (v: number) => [0, 1, v - 1, v + 1, v + 8, v * 2, 0x7fffffff, 0xffffffff, int(1 << 20)];
    for (let i = 0; i < 1000; i++) {
      const b = Buffer.from(original);
      const blk = blocks[int(blocks.length)];
      const field = int(3);
      const old = b.readUInt32LE(blk.at + 4 * field);
      const pick = values(old);
      const v = pick[int(pick.length)] >>> 0;
      b.writeUInt32LE(v, blk.at + 4 * field);
      const fixed = rand() < 0.7;
      if (fixed) fixCrc(b, blk);
      tally(counts, attempt(b, `block at ${blk.at}: ${['type', 'count', 'length'][field]} ${old} -> ${v}${fixed ? ', checksum fixed' : ''} (seed ${SEED})`));
    }
    if (process.env.FUZZ_VERBOSE) console.log([...counts]);
    for (const code of ['corrupt', 'truncated', 'future-version'] as const) expect(counts.get(code) ?? 0, code).toBeGreaterThan(20);
  });

  it('gives a TraceFileError or a valid trace for random column values with the checksum made right', () => {
    const blocks = blocksOf(original).filter((b) => b.type === T.spans || b.type === T.memory);
    const junk = [NaN, Infinity, -1, 0, 0.5, 2 ** 53, -0, 1e300];
    const counts = new Map<Outcome, number>();
    for (let i = 0; i < 1000; i++) {
      const b = Buffer.from(original);
      const blk = blocks[int(blocks.length)];
      const x = blk.at + 16 + int(blk.length);
      if (rand() < 0.5 && x + 8 <= blk.at + 16 + blk.length) b.writeDoubleLE(junk[int(junk.length)], x & ~7);
      else b[x] = int(256);
      fixCrc(b, blk);
      tally(counts, attempt(b, `column edit at ${x} (seed ${SEED})`));
    }
    if (process.env.FUZZ_VERBOSE) console.log([...counts]);
    // The base is a real recording: its timings, and so its column widths and which bytes are
    // padding, differ from run to run (observed 98 to 160 of the 1000 here).
    expect(counts.get('invalid-field') ?? 0).toBeGreaterThan(50);
    expect(counts.get('valid') ?? 0).toBeGreaterThan(20);
  });
});
