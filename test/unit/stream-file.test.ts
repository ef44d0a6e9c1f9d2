/**
 * Streamed .mlxtrace files (layout version 2) written by a real Recorder through TraceStreamWriter,
 * read back whole and cut at many bytes: a cut after the header reads up to the last complete block
 * with meta.truncated; a cut inside the preamble or header is 'truncated' as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTrace, TraceFileError } from '../../src/core/io/persist';
import { TraceStreamWriter } from '../../src/core/io/binary/stream-writer';
import { Recorder } from '../../src/core/record/recorder';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mlx-trace-stream-file-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A recorder with no hook layer: JS-side spans only (user regions and their children). */
function recorder(): Recorder {
  return new Recorder({ hook: null, mlxVersion: 'test', peaks: { flops: 1e12, bandwidth: 1e11, source: 'default' }, maxSpans: 1e6, maxMemoryEvents: 1e6 });
}

/** Streams `flushes` flushes of `per` spans each (one region left open across all of them) to `path`. */
function streamed(path: string, flushes: number, per: number): { writer: TraceStreamWriter; rec: Recorder } {
  const rec = recorder();
  const head = rec.traceHead('streamed', { streamed: true });
  const writer = new TraceStreamWriter(path, JSON.stringify(head));
  const outer = rec.begin('user', 'whole run', null);
  for (let f = 0; f < flushes; f++) {
    for (let i = 0; i < per; i++) {
      const s = rec.begin('user', `step ${i % 7}`, outer.id, { f, i });
      rec.end(s);
    }
    rec.flush((source) => writer.append(source));
  }
  rec.end(outer);
  return { writer, rec };
}

describe('streamed .mlxtrace files', () => {
  it('read back whole: every span once, the open region written at the end, totals and dropped from the end block', () => {
    const path = join(tmp, 'whole.mlxtrace');
    const { writer, rec } = streamed(path, 5, 300);
    expect(existsSync(path + '.partial')).toBe(true);
    rec.flush((source) => writer.append(source), true);
    writer.finish(3, { done: 'yes' });
    expect(existsSync(path + '.partial')).toBe(false);
    const t = loadTrace(path);
    expect(t.spans).toHaveLength(5 * 300 + 1);
    expect(new Set(t.spans.map((s) => s.id)).size).toBe(t.spans.length);
    expect(t.spans.filter((s) => s.name === 'whole run')).toHaveLength(1);
    expect(t.dropped).toBe(3);
    expect(t.meta.done).toBe('yes');
    expect(t.meta.streamed).toBe(true);
    expect(t.meta.truncated).toBeUndefined();
    expect(t.spans.find((s) => s.name === 'step 3')!.attrs).toEqual({ f: 0, i: 3 });
  });

  it('cut anywhere after its header: the spans of the complete blocks and one line saying where; before it: truncated', () => {
    const path = join(tmp, 'cut.mlxtrace');
    const { writer } = streamed(path, 6, 200);
    writer.abandon();
    const bytes = readFileSync(path + '.partial');
    const cut = join(tmp, 'cut-at.mlxtrace');
    let last = -1;
    let read = 0;
    const cuts: number[] = [];
    for (let at = 0; at < bytes.length; at += at < 400 ? 1 : 97) cuts.push(at);
    cuts.push(bytes.length);
    for (const at of cuts) {
      writeFileSync(cut, bytes.subarray(0, at));
      let t;
      try {
        t = loadTrace(cut);
      } catch (e) {
        // Only the preamble and header are needed: nothing can be read without them.
        expect(e).toBeInstanceOf(TraceFileError);
        // Fewer than the 8 bytes of the magic: not recognised as .mlxtrace at all.
        if (at >= 8) expect((e as TraceFileError).code, `byte ${at}`).toBe('truncated');
        expect(read, `byte ${at}`).toBe(0);
        continue;
      }
      read++;
      expect(t.meta.truncated, `byte ${at}`).toMatch(/^the tail was cut \(the recording was not finished\): read \d+ spans and \d+ memory events up to byte \d+ of \d+ \(.*\)$/);
      expect(t.meta.truncated as string).not.toContain('\n');
      // A longer file never reads fewer spans.
      expect(t.spans.length, `byte ${at}`).toBeGreaterThanOrEqual(last);
      last = t.spans.length;
    }
    expect(read).toBeGreaterThan(50);
    expect(last).toBe(6 * 200);
  });

  it('a damaged block in a streamed file is still corrupt, not a cut', () => {
    const path = join(tmp, 'damaged.mlxtrace');
    const { writer, rec } = streamed(path, 3, 100);
    rec.flush((source) => writer.append(source), true);
    writer.finish(0);
    const bytes = Buffer.from(readFileSync(path));
    bytes[bytes.length - 40] ^= 0xff;
    writeFileSync(path, bytes);
    expect(() => loadTrace(path)).toThrow(/corrupt/);
  });
});
