/**
 * Files mlx-trace writes and reads, against real file systems and processes: a full disk (a small
 * tmpfs), an output path that is the input, named pipes and standard input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveTrace, loadTrace, TraceFileError } from '../../src/core/io/persist';
import { writeFileAtomic } from '../../src/core/io/atomic-file';
import { exportChromeTrace } from '../../src/exporters/chrome';
import { exportPerfetto } from '../../src/exporters/perfetto';
import { exportHtml } from '../../src/exporters/html';
import { buildCli, runCli, runProcess } from '../helpers/cli';
import { syntheticTrace } from '../helpers/synthetic-trace';

const dir = mkdtempSync(join(tmpdir(), 'mlx-trace-files-'));
const full = join(dir, 'full');
let mounted = false;
let dist = '';
const trace = syntheticTrace({ steps: 200 });
const input = join(dir, 'trace.json');
const OLD = 'the previous file, which a failed write must leave as it is\n'.repeat(40);

beforeAll(async () => {
  saveTrace(trace, input);
  mkdirSync(full);
  // A 32 KiB file system: every output below is bigger than what is left on it.
  mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=32k', 'tmpfs', full]).status === 0;
  dist = await buildCli('files');
}, 240_000);

afterAll(() => {
  if (mounted) spawnSync('umount', [full]);
  rmSync(dir, { recursive: true, force: true });
  rmSync(dist, { recursive: true, force: true });
});

/** Fills the small file system with the old file; returns its path. */
function oldFile(name: string): string {
  for (const f of readdirSync(full)) rmSync(join(full, f));
  const p = join(full, name);
  writeFileSync(p, OLD);
  return p;
}

/** The old file is whole and nothing else is left in the folder (no temporary file). */
function expectOldKept(p: string): void {
  expect(readFileSync(p, 'utf8')).toBe(OLD);
  expect(readdirSync(full)).toEqual([p.slice(full.length + 1)]);
}

describe('a full disk', () => {
  it('is a real small file system here (root can mount a tmpfs)', () => {
    // Without it the tests below would prove nothing: say so instead of passing.
    expect(mounted, 'mount -t tmpfs failed: run the suite as root').toBe(true);
  });

  it('keeps the old file and leaves no temporary file, for every CLI output, with one line and exit code 2', async () => {
    if (!mounted) return;
    const cases: [string, string[]][] = [
      ['report.html', ['html', input, '-o']],
      ['t.chrome.json', ['convert', input, '--to', 'chrome', '-o']],
      ['t.chrome.json.gz', ['convert', input, '--to', 'chrome', '-o']],
      ['t.perfetto-trace', ['convert', input, '--to', 'perfetto', '-o']],
      ['t.json', ['convert', input, '--to', 'json', '-o']],
      ['t.mlxtrace', ['convert', input, '--to', 'mlxtrace', '-o']],
    ];
    for (const [name, args] of cases) {
      // The same output where there is room is bigger than the space left, so the write must fail.
      const roomy = join(dir, name);
      expect((await runCli(dist, [...args, roomy])).code).toBe(0);
      expect(statSync(roomy).size).toBeGreaterThan(32 * 1024 - OLD.length);
      const p = oldFile(name);
      const r = await runCli(dist, [...args, p]);
      expect({ name, code: r.code, stdout: r.stdout }).toEqual({ name, code: 2, stdout: '' });
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`${p}: cannot write: no space left on the device`);
      expectOldKept(p);
    }
  }, 240_000);

  it('keeps the old file for every API writer', async () => {
    if (!mounted) return;
    const writers: [string, (p: string) => unknown][] = [
      ['a.json', (p) => saveTrace(trace, p)],
      ['a.mlxtrace', (p) => saveTrace(trace, p)],
      ['a.chrome.json', (p) => exportChromeTrace(trace, p)],
      ['a.perfetto-trace', (p) => exportPerfetto(trace, p)],
      ['a.html', (p) => exportHtml(trace, p)],
      ['a.txt', (p) => writeFileAtomic(p, 'x'.repeat(100_000))],
    ];
    for (const [name, write] of writers) {
      const p = oldFile(name);
      let error: unknown = null;
      try {
        await write(p);
      } catch (e) {
        error = e;
      }
      expect(String(error), name).toMatch(/no space left on (the )?device/i);
      expect(String(error).split('\n')).toHaveLength(1);
      if (/^a\.(json|mlxtrace)$/.test(name)) expect((error as TraceFileError).code).toBe('unwritable');
      expectOldKept(p);
    }
  });

  it('replaces the file when there is room', async () => {
    if (!mounted) return;
    const p = oldFile('small.json');
    const small = syntheticTrace({ steps: 1 });
    saveTrace(small, p);
    expect(loadTrace(p).spans.length).toBe(small.spans.length);
    expect(readdirSync(full)).toEqual(['small.json']);
  });
});

describe('an output that is the input', () => {
  it('is refused with one line and exit code 2, the trace untouched (same path or a hard link)', async () => {
    const before = readFileSync(input);
    const link = join(dir, 'link.json');
    rmSync(link, { force: true });
    linkSync(input, link);
    const other = join(dir, 'other.json');
    saveTrace(syntheticTrace({ steps: 2, seed: 2 }), other);
    for (const args of [
      ['convert', input, '--to', 'chrome', '-o', input],
      ['convert', input, '--to', 'perfetto', '-o', link],
      ['convert', input, '--to', 'json', '-o', input],
      ['html', input, '-o', link],
      ['compare', other, input, '--html', input],
    ]) {
      const r = await runCli(dist, args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/not written: it is the input trace .*; give another output path/);
      expect(readFileSync(input).equals(before)).toBe(true);
    }
  }, 120_000);

  it('a missing output folder is one line and exit code 2 for html, chrome and perfetto', async () => {
    for (const args of [
      ['html', input, '-o', join(dir, 'nope', 'r.html')],
      ['convert', input, '--to', 'chrome', '-o', join(dir, 'nope', 'r.chrome.json')],
      ['convert', input, '--to', 'perfetto', '-o', join(dir, 'nope', 'r.perfetto-trace')],
    ]) {
      const r = await runCli(dist, args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toMatch(/^mlx-trace (html|convert): .*: cannot write: no such file or directory$/);
    }
  }, 60_000);
});

describe('pipes and standard input', () => {
  it('`cat t.json | mlx-trace view -` prints the report', async () => {
    const r = await runProcess('sh', ['-c', `cat '${input}' | '${process.execPath}' '${join(dist, 'cli.js')}' view -`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Matmul/);
  }, 60_000);

  it('reads a named pipe a writer fills later, and a .mlxtrace through one', () => {
    const fifo = join(dir, 'in.fifo');
    const bin = join(dir, 'trace.mlxtrace');
    saveTrace(trace, bin);
    for (const src of [input, bin]) {
      rmSync(fifo, { force: true });
      execFileSync('mkfifo', [fifo]);
      // The writer opens the pipe only after the reader is waiting on it.
      const writer = runProcess('sh', ['-c', `sleep 0.3; cat '${src}' > '${fifo}'`]);
      const t = loadTrace(fifo, { pipeWaitMs: 20_000 });
      expect(t.spans.length).toBe(trace.spans.length);
      void writer;
    }
  });

  it('gives up on a named pipe nobody writes to, with one line, instead of hanging', async () => {
    const fifo = join(dir, 'silent.fifo');
    rmSync(fifo, { force: true });
    execFileSync('mkfifo', [fifo]);
    const t0 = Date.now();
    let e: TraceFileError | null = null;
    try {
      loadTrace(fifo, { pipeWaitMs: 300 });
    } catch (x) {
      e = x as TraceFileError;
    }
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(e?.code).toBe('unreadable');
    expect(e?.message).toBe(`${fifo}: cannot read: nothing arrived for 0 s (a pipe with no writer?)`);
    // The CLI too ends (with its default wait) rather than blocking forever: killed at 60 s it would say 128.
    const r = await runCli(dist, ['view', fifo], { timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/cannot read: nothing arrived for 30 s/);
  }, 90_000);

  it('an empty pipe on standard input is "the file is empty"', async () => {
    const r = await runProcess('sh', ['-c', `: | '${process.execPath}' '${join(dist, 'cli.js')}' view -`]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('mlx-trace view: /dev/stdin: the file is empty');
  });
});

describe('a .mlxtrace block length near 2^31 or 2^32', () => {
  it('is truncated or corrupt, found without reserving the claimed size', () => {
    const bin = join(dir, 'small.mlxtrace');
    saveTrace(syntheticTrace({ steps: 1 }), bin);
    const bytes = readFileSync(bin);
    // Block 0 (the header) starts at byte 16; its length is bytes 8-11 of its head.
    for (const length of [2 ** 31 - 7, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 7, 2 ** 32 - 1]) {
      const bad = Buffer.from(bytes);
      bad.writeUInt32LE(length, 16 + 8);
      const f = join(dir, `len-${length}.mlxtrace`);
      writeFileSync(f, bad);
      const script = `const { loadTrace } = require(${JSON.stringify(join(dist, 'index.js'))});
        let code = 'loaded';
        try { loadTrace(${JSON.stringify(f)}); } catch (e) { code = e.code + ' ' + e.message; }
        const peak = Number(/VmPeak:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]);
        console.log(JSON.stringify({ code, peakMb: peak / 1024 }));`;
      const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
      expect(out.code, `length ${length}`).toMatch(new RegExp(`^(truncated|corrupt) ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (truncated|corrupt): block 0`));
      // A Node process reserves about 1 GB of address space on its own; a 2-4 GB buffer would show.
      expect(out.peakMb, `length ${length}`).toBeLessThan(1800);
    }
  }, 60_000);
});

describe('files nested deep', () => {
  it('convert refuses a trace whose meta nests 10k deep at load, with one line; 1000 levels convert', async () => {
    const deep = (n: number) => {
      let v: unknown = 1;
      for (let i = 0; i < n; i++) v = [v];
      return v;
    };
    const shallowEnough = join(dir, 'deep-1000.json');
    saveTrace({ ...trace, meta: { ...trace.meta, nested: deep(999) } }, shallowEnough);
    const ok = await runCli(dist, ['convert', shallowEnough, '--to', 'mlxtrace', '-o', join(dir, 'deep-1000.mlxtrace')]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(JSON.stringify(loadTrace(join(dir, 'deep-1000.mlxtrace')).meta.nested)).toBe(JSON.stringify(deep(999)));
    // Written by hand: JSON.parse reads 10k levels, JSON.stringify of them runs out of stack.
    const tooDeepFile = join(dir, 'deep-10k.json');
    const text = readFileSync(input, 'utf8').replace('"meta":{', `"meta":{"nested":${'['.repeat(10_000)}1${']'.repeat(10_000)},`);
    writeFileSync(tooDeepFile, text);
    const r = await runCli(dist, ['convert', tooDeepFile, '--to', 'mlxtrace', '-o', join(dir, 'deep-10k.mlxtrace')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`mlx-trace convert: ${tooDeepFile}: 'meta' is nested deeper than 1000 levels`);
  }, 60_000);
});
