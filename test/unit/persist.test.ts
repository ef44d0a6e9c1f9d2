// Saved traces: exact round trips through real files, and one clear TraceFileError line for every
// way a file can be wrong.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, readdirSync, mkdirSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { saveTrace, loadTrace, TraceFileError, type TraceFileErrorCode } from '../../src/core/io/persist';
import type { Span, Trace } from '../../src/core/model/trace';
import { syntheticTrace, makeSyntheticTrace } from '../helpers/synthetic-trace';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlx-trace-persist-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const file = (name: string) => join(dir, name);

/** Calls fn and returns the TraceFileError it throws (fails the test for anything else). */
function traceError(fn: () => unknown): TraceFileError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TraceFileError);
    return e as TraceFileError;
  }
  throw new Error('expected a TraceFileError, nothing was thrown');
}

/** A trace with every optional field and awkward values the JSON layer has to carry exactly. */
function awkwardTrace(): Trace {
  const t = syntheticTrace({ steps: 1, blocks: 1, primitivesPerLayer: 2 });
  t.name = 'quotes " backslash \\ newline \n tab \t unicode é 漢字 🙂 lone \ud800 surrogate';
  t.meta.fallbackReason = 'native layer refused: "ABI"';
  t.meta.passes = 3;
  t.meta.generation = { tokens: 12, tokensPerSecond: 34.5, nested: [1, null, 'x'] };
  const p = t.spans.find((s) => s.kind === 'primitive')!;
  p.attrs = { 'op.variant': 'fused', cached: true, ratio: 0.125 };
  p.pass = 2;
  p.warmup = false;
  p.start = 1_234_567_890_123; // ns timestamps beyond 2^31
  p.end = 2 ** 53 - 1;
  p.flops = 1.5e15;
  p.layer = null;
  p.layerId = null;
  p.inputs.push({ shape: [], dtype: 'bfloat16', bytes: 2 }, { shape: [0, 3], dtype: 'uint32', bytes: 0 });
  // Runs of backslashes before quotes: the reader must tell escaped quotes from closing ones.
  t.spans.find((s) => s.kind === 'layer')!.name = 'a\\"b\\\\"c\\\\\\" \\ end\\';
  t.memory.push({ t: 5, delta: -3, live: 0 });
  t.dropped = 7;
  return t;
}

/**
 * The row layout decoded by its documentation (trace-rows.ts), independently of RowDecoder: strings
 * and tensors are literal the first time and numbers after; 14-field rows have layerId and layer;
 * a trailing object holds the other keys.
 */
function fromRows(file: any): Trace {
  const { layout, spanFields, memoryFields, spans, memory, ...rest } = file;
  expect(layout).toBe('rows');
  expect(spanFields).toEqual(['id', 'parentId', 'kind', 'name', 'start', 'end', 'thread', 'device', 'inputs', 'outputs', 'flops', 'bytes', 'layerId', 'layer']);
  expect(memoryFields).toEqual(['t', 'delta', 'live', 'op']);
  const strings: string[] = [];
  const tensors: unknown[] = [];
  const str = (v: string | number) => (typeof v === 'string' ? (strings.push(v), v) : strings[v]);
  const list = (v: unknown[]) => v.map((x) => (typeof x === 'number' ? tensors[x] : (tensors.push(x), x)));
  const split = (row: any[], min: number) => {
    const last = row[row.length - 1];
    const obj = row.length > min && last !== null && typeof last === 'object' && !Array.isArray(last);
    return { fields: obj ? row.slice(0, -1) : row, extra: obj ? (last as object) : {} } as { fields: any[]; extra: object };
  };
  const outSpans = spans.map((row: any[]) => {
    const { fields: f, extra } = split(row, 12);
    const s: any = {
      id: f[0], parentId: f[1], kind: str(f[2]), name: str(f[3]), start: f[4], end: f[5], thread: f[6], device: str(f[7]),
      inputs: list(f[8]), outputs: list(f[9]), flops: f[10], bytes: f[11],
    };
    if (f.length === 14) Object.assign(s, { layerId: f[12], layer: f[13] === null ? null : str(f[13]) });
    return Object.assign(s, extra);
  });
  const outMemory = memory.map((row: any[]) => {
    const { fields: f, extra } = split(row, 3);
    const m: any = { t: f[0], delta: f[1], live: f[2] };
    if (f.length === 4) m.op = f[3] === null ? null : str(f[3]);
    return Object.assign(m, extra);
  });
  return { ...rest, spans: outSpans, memory: outMemory };
}

describe('round trip', () => {
  const cases: [string, () => Trace][] = [
    ['the synthetic trace', () => syntheticTrace()],
    ['optional fields, unicode, escapes and big numbers', awkwardTrace],
    ['an empty trace', () => ({ ...syntheticTrace(), spans: [], memory: [] })],
    ['a multi-threaded trace with gpu spans and overlaps', () => makeSyntheticTrace({ primitives: 500, threads: 3, device: 'mixed', overlaps: 4 })],
  ];

  it.each(cases)('%s comes back deep-equal', (_name, make) => {
    const t = make();
    const p = file('rt.json');
    saveTrace(t, p);
    expect(loadTrace(p)).toStrictEqual(t);
    // Plain JSON: any JSON reader gets the trace back by the rules documented in trace-rows.ts.
    expect(fromRows(JSON.parse(readFileSync(p, 'utf8')))).toStrictEqual(t);
  });

  it('rows whose fields from thread to layer take turns, each differing from another in one field, come back exact', () => {
    // The row writer copies the bytes of a recent row's tail when a row repeats it: 12 signatures
    // (more than it keeps), each one field away from the first, in turns and in runs.
    const t = syntheticTrace({ steps: 1, blocks: 1, primitivesPerLayer: 2 });
    const proto = t.spans.find((s) => s.kind === 'primitive')!;
    const other = [{ shape: [3], dtype: 'float32', bytes: 12 }];
    const variants: ((s: Span) => void)[] = [
      () => {},
      (s) => (s.thread += 1),
      (s) => (s.device = 'gpu'),
      (s) => (s.inputs = other),
      (s) => (s.outputs = other),
      (s) => (s.flops = null),
      (s) => (s.bytes = 7),
      (s) => (s.layerId = 9),
      (s) => (s.layer = 'other.layer'),
      (s) => (s.layer = null),
      (s) => {
        delete s.layer;
        delete s.layerId;
      },
      (s) => (s.flops = 0),
    ];
    let id = Math.max(...t.spans.map((s) => s.id));
    for (let k = 0; k < 300; k++) {
      const v = k < 150 ? (k * 7) % variants.length : Math.floor(k / 13) % variants.length;
      const s: Span = { ...proto, id: ++id, start: proto.start + k, end: proto.start + k + 1, layerId: 4, layer: 'blocks.0' };
      variants[v](s);
      t.spans.push(s);
    }
    const p = file('tails.json');
    saveTrace(t, p);
    expect(loadTrace(p)).toStrictEqual(t);
    expect(fromRows(JSON.parse(readFileSync(p, 'utf8')))).toStrictEqual(t);
  });

  it('comes back deep-equal when read in tiny chunks (every value crosses a chunk boundary)', () => {
    const t = awkwardTrace();
    const p = file('chunks.json');
    saveTrace(t, p);
    for (const chunkBytes of [16, 17, 31, 64, 1000]) expect(loadTrace(p, { chunkBytes })).toStrictEqual(t);
  });

  it('writes one row per span after the header, each string and tensor once, and leaves no temporary file', () => {
    const t = syntheticTrace();
    const p = file('layout.json');
    saveTrace(t, p);
    const text = readFileSync(p, 'utf8');
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^\{"schema":"mlx-trace\/1",.*"layout":"rows","spanFields":\["id",.*"spans":\[$/);
    const rows = lines.slice(1, 1 + t.spans.length).map((l) => JSON.parse(l.replace(/,$/, '')));
    expect(rows.every((r) => Array.isArray(r) && r[0] > 0)).toBe(true);
    expect(rows.map((r) => r[0])).toEqual(t.spans.map((s) => s.id));
    // The op names are written out once each, then referred to by number.
    const names = new Set(t.spans.map((s) => s.name));
    for (const n of names) expect(text.split(JSON.stringify(n)).length - 1).toBe(1);
    // A fifth or so of the object layout's size.
    expect(text.length).toBeLessThan(JSON.stringify(t).length / 2.5);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('reads other layouts of the same JSON: pretty-printed, keys in another order, spans before the schema', () => {
    const t = syntheticTrace();
    const p = file('foreign.json');
    const reordered = { memory: t.memory, spans: t.spans, dropped: t.dropped, meta: t.meta, name: t.name, schema: t.schema };
    writeFileSync(p, '\ufeff' + JSON.stringify(reordered, null, 2));
    expect(loadTrace(p)).toStrictEqual(t);
  });

  it('round-trips a trace larger than the 4 MB read chunk', () => {
    const t = makeSyntheticTrace({ primitives: 50_000 });
    const p = file('big.json');
    saveTrace(t, p);
    expect(statSync(p).size).toBeGreaterThan(4 << 20);
    expect(loadTrace(p)).toEqual(t);
  });

  it('replaces an existing file', () => {
    const p = file('replace.json');
    saveTrace(syntheticTrace({ name: 'first' }), p);
    saveTrace(syntheticTrace({ name: 'second' }), p);
    expect(loadTrace(p).name).toBe('second');
  });
});

describe('loadTrace errors', () => {
  const good = () => syntheticTrace();
  /** Text of a good trace with one edit applied to the parsed object. */
  const edited = (edit: (o: Record<string, any>) => void) => {
    const o = JSON.parse(JSON.stringify(good()));
    edit(o);
    return JSON.stringify(o);
  };
  const saved = () => {
    const p = file('good.json');
    saveTrace(good(), p);
    return readFileSync(p);
  };

  const cases: { name: string; content: () => string | Buffer; code: TraceFileErrorCode; message: RegExp | string }[] = [
    { name: 'empty file', content: () => '', code: 'empty', message: 'the file is empty' },
    { name: 'whitespace only', content: () => '  \n', code: 'truncated', message: /^truncated: the file ends at the start of the file/ },
    {
      name: 'truncated in the middle of the spans',
      content: () => saved().subarray(0, Math.floor(saved().length / 2)),
      code: 'truncated',
      message: /^truncated: the file ends in span \d+ \(byte \d+ of \d+\)$/,
    },
    {
      name: 'truncated before the closing brace',
      content: () => saved().subarray(0, saved().length - 3),
      code: 'truncated',
      message: /^truncated: the file ends after memory event \d+/,
    },
    { name: 'truncated in the header', content: () => saved().subarray(0, 40), code: 'truncated', message: /^truncated: the file ends in 'name'/ },
    {
      name: 'invalid JSON inside a span',
      content: () => saved().toString('utf8').replace(',"primitive",', ',primitive,'),
      code: 'invalid-json',
      message: /^invalid JSON in span \d+ \(bytes \d+-\d+\)$/,
    },
    { name: 'not JSON at all', content: () => 'hello world', code: 'invalid-json', message: "invalid JSON: expected '{' at the start of the file, found 'h' (byte 0)" },
    { name: 'gzip-compressed', content: () => gzipSync(saved()), code: 'invalid-json', message: 'is gzip-compressed: decompress it first (gunzip)' },
    { name: 'a JSON array (a Chrome trace?)', content: () => '[{"ph":"X"}]', code: 'invalid-json', message: "invalid JSON: expected '{' at the start of the file, found '[' (byte 0)" },
    { name: 'data after the end', content: () => saved().toString('utf8') + '{}', code: 'invalid-json', message: /^invalid JSON: unexpected data after the end of the trace, '\{' \(byte \d+\)$/ },
    { name: 'no schema', content: () => '{"traceEvents":[]}', code: 'not-a-trace', message: "not an mlx-trace file: it has no 'schema' field" },
    {
      name: 'wrong schema',
      content: () => edited((o) => (o.schema = 'speedscope')),
      code: 'not-a-trace',
      message: "not an mlx-trace file: 'schema' is \"speedscope\", expected 'mlx-trace/1'",
    },
    {
      name: 'future schema version',
      content: () => edited((o) => (o.schema = 'mlx-trace/2')),
      code: 'future-version',
      message: "written by a newer mlx-trace (schema 'mlx-trace/2'); this version reads 'mlx-trace/1': upgrade mlx-trace to open it",
    },
    {
      name: 'future schema even when the spans are unreadable to this version',
      content: () => edited((o) => { o.schema = 'mlx-trace/3'; o.spans = [{ completely: 'different' }]; }),
      code: 'future-version',
      message: /^written by a newer mlx-trace \(schema 'mlx-trace\/3'\)/,
    },
    { name: "span 17 without 'end'", content: () => edited((o) => delete o.spans[17].end), code: 'invalid-field', message: "span 17 has no 'end'" },
    { name: 'span with a string start', content: () => edited((o) => (o.spans[3].start = '12')), code: 'invalid-field', message: `span 3: 'start' is "12", expected a number` },
    { name: 'span ending before it starts', content: () => edited((o) => (o.spans[2].end = o.spans[2].start - 1)), code: 'invalid-field', message: /^span 2: 'end' \(\d+\) is before 'start' \(\d+\)$/ },
    { name: 'unknown span kind', content: () => edited((o) => (o.spans[0].kind = 'op')), code: 'invalid-field', message: `span 0: 'kind' is "op", expected one of 'eval', 'layer', 'primitive', 'sync', 'user'` },
    { name: 'tensor without dtype', content: () => edited((o) => delete o.spans[1].inputs[0].dtype), code: 'invalid-field', message: "span 1 inputs[0] has no 'dtype'" },
    { name: 'duplicate span id', content: () => edited((o) => (o.spans[5].id = o.spans[4].id)), code: 'invalid-field', message: /^span 5: id \d+ is used twice \(also by span 4\)$/ },
    { name: 'memory event without live', content: () => edited((o) => delete o.memory[1].live), code: 'invalid-field', message: "memory event 1 has no 'live'" },
    { name: 'meta without peaks', content: () => edited((o) => delete o.meta.peaks), code: 'invalid-field', message: "meta has no 'peaks'" },
    { name: 'bad timing mode', content: () => edited((o) => (o.meta.timing = 'wall')), code: 'invalid-field', message: `meta: 'timing' is "wall", expected 'native' or 'js'` },
    {
      name: 'an extra meta fact that JSON cannot carry back (1e999 is Infinity)',
      content: () => edited((o) => (o.meta.generation = { rates: [1, '__HUGE__'] })).replace('"__HUGE__"', '1e999'),
      code: 'invalid-field',
      message: 'meta.generation.rates[1] is not a finite number',
    },
    { name: 'no spans', content: () => edited((o) => delete o.spans), code: 'invalid-field', message: "the trace has no 'spans'" },
    { name: 'spans not an array', content: () => edited((o) => (o.spans = {})), code: 'invalid-field', message: "trace: 'spans' is {}, expected an array" },
    { name: 'negative dropped', content: () => edited((o) => (o.dropped = -1)), code: 'invalid-field', message: "trace: 'dropped' is -1, expected a count" },
    // The row layout (what saveTrace writes).
    { name: 'a row naming a string never written', content: () => editRow(3, (r) => (r[3] = 999)), code: 'invalid-field', message: /^span 2: 'name' is 999, expected a string or the number of one written earlier \(\d+ so far\)$/ },
    { name: 'a row naming a tensor never written', content: () => editRow(3, (r) => (r[8] = [999])), code: 'invalid-field', message: /^span 2: 'inputs\[0\]' is 999, expected a tensor or the number of one written earlier/ },
    { name: 'a row with a field missing', content: () => editRow(3, (r) => r.splice(4, 1)), code: 'invalid-field', message: /^span 2 is a row of \d+ fields, expected 12 or 14/ },
    { name: 'a row with a bad value', content: () => editRow(3, (r) => (r[5] = 'late')), code: 'invalid-field', message: `span 2: 'end' is "late", expected a number` },
    { name: 'a layout from a newer version', content: () => saved().toString('utf8').replace('"layout":"rows"', '"layout":"columns"'), code: 'future-version', message: /^written in layout "columns", which this version of mlx-trace cannot read/ },
    { name: 'span fields from a newer version', content: () => saved().toString('utf8').replace('"spanFields":["id",', '"spanFields":["uid",'), code: 'future-version', message: /^its 'spanFields' are \["uid",/ },
  ];
  /** The saved file with line `n` (a span row; line 1 is the first) edited. */
  function editRow(n: number, edit: (row: unknown[]) => void): string {
    const lines = saved().toString('utf8').split('\n');
    const comma = lines[n].endsWith(',');
    const row = JSON.parse(comma ? lines[n].slice(0, -1) : lines[n]);
    edit(row);
    lines[n] = JSON.stringify(row) + (comma ? ',' : '');
    return lines.join('\n');
  }

  it.each(cases)('$name', ({ content, code, message }) => {
    const p = file('bad.json');
    writeFileSync(p, content());
    const e = traceError(() => loadTrace(p));
    expect(e.code).toBe(code);
    expect(e.file).toBe(p);
    expect(e.message).toBe(`${p}: ${e.detail}`);
    expect(e.message).not.toMatch(/\n/);
    if (typeof message === 'string') expect(e.detail).toBe(message);
    else expect(e.detail).toMatch(message);
  });

  it('names a missing file', () => {
    const e = traceError(() => loadTrace(file('nope.json')));
    expect([e.code, e.message]).toEqual(['not-found', `${file('nope.json')}: no such file`]);
  });

  it('names a directory', () => {
    const e = traceError(() => loadTrace(dir));
    expect([e.code, e.message]).toEqual(['unreadable', `${dir}: cannot read: is a directory`]);
  });
  // (A chmod-0 file is readable by root, which CI runs as; the directory case above covers 'unreadable'.)
});

describe('saveTrace errors', () => {
  it('refuses a trace that loadTrace would refuse, and writes nothing', () => {
    const t = syntheticTrace();
    t.spans[4].start = NaN;
    const p = file('nan.json');
    const e = traceError(() => saveTrace(t, p));
    expect([e.code, e.message]).toEqual(['invalid-field', `${p}: not saved: span 4: 'start' is NaN, expected a number`]);
    expect(existsSync(p)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('refuses a wrong schema', () => {
    const t = { ...syntheticTrace(), schema: 'mlx-trace/0' } as unknown as Trace;
    expect(traceError(() => saveTrace(t, file('s.json'))).detail).toBe("not saved: 'schema' is \"mlx-trace/0\", expected 'mlx-trace/1'");
  });

  it('names a path it cannot write', () => {
    mkdirSync(file('adir'), { recursive: true });
    const p = join(dir, 'missing-dir', 'trace.json');
    const e = traceError(() => saveTrace(syntheticTrace(), p));
    expect([e.code, e.message]).toEqual(['unwritable', `${p}: cannot write: no such file or directory`]);
    const e2 = traceError(() => saveTrace(syntheticTrace(), file('adir')));
    expect(e2.code).toBe('unwritable');
    expect(e2.message).toMatch(new RegExp(`^${file('adir').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot write: `));
  });

  it('refuses what JSON cannot hold, and leaves out what JSON.stringify leaves out', () => {
    const t = syntheticTrace();
    (t.meta as Record<string, unknown>).big = 10n;
    const e = traceError(() => saveTrace(t, file('bigint.json')));
    expect([e.code, e.detail]).toEqual(['invalid-field', 'not saved: Do not know how to serialize a BigInt']);
    delete (t.meta as Record<string, unknown>).big;
    (t.spans[0] as unknown as Record<string, unknown>).callback = () => 1;
    saveTrace(t, file('fn.json'));
    expect(loadTrace(file('fn.json')).spans[0]).not.toHaveProperty('callback');
  });

  it('can skip validation for speed, still writing valid JSON', () => {
    const t = syntheticTrace();
    const p = file('noval.json');
    saveTrace(t, p, { validate: false });
    expect(loadTrace(p)).toStrictEqual(t);
  });
});

describe('files beyond V8 string limits', () => {
  // V8 strings stop at 2^29 - 24 characters (~512 MB): readFileSync(..., 'utf8') + JSON.parse cannot
  // open this file; the chunked reader can, as long as each span stays under the limit.
  it('round-trips a 600 MB trace', { timeout: 240_000 }, () => {
    const t = syntheticTrace({ steps: 1, blocks: 1, primitivesPerLayer: 20 });
    const blob = 'x'.repeat(15 << 20);
    const prims = t.spans.filter((s) => s.kind === 'primitive');
    expect(prims.length).toBe(40);
    for (const s of prims) s.attrs = { blob };
    const p = file('huge.json');
    saveTrace(t, p);
    const size = statSync(p).size;
    expect(size).toBeGreaterThan(600 * 2 ** 20);
    expect(() => readFileSync(p, 'utf8')).toThrow(/string longer than|Cannot create a string/);
    const back = loadTrace(p);
    expect(back.spans.length).toBe(t.spans.length);
    for (let i = 0; i < t.spans.length; i++) {
      const { attrs, ...rest } = back.spans[i];
      const { attrs: a0, ...rest0 } = t.spans[i];
      expect(rest).toStrictEqual(rest0);
      expect(attrs?.blob === a0?.blob).toBe(true);
    }
    rmSync(p);
  });
});
