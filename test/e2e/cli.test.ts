/**
 * The mlx-trace command line, run as a subprocess on real files: the demo and `run` profile real MLX
 * programs, the file commands read what they wrote, `export` talks to a real HTTP receiver.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/exporters/terminal/format';
import { loadTrace } from '../../src/core/io/persist';
import type { Trace } from '../../src/core/model/trace';
import { perfettoSchema } from '../../src/exporters/perfetto';
import { buildCli, ESC, FIXTURES, hasScript, ROOT, runCli, type CliResult, type RunOptions } from '../helpers/cli';
import { closedPort, startOtlpReceiver } from '../helpers/otlp-receiver';

const COMMANDS = ['demo', 'run', 'view', 'html', 'convert', 'export', 'calibrate', 'merge'];
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

let dist: string;
let tmp: string;
let demo: CliResult;
let demoDir: string;
let traceFile: string;
let trace: Trace;
let tty = false;

const cli = (args: string[], opts?: RunOptions) => runCli(dist, args, opts);

/** stderr as lines, without the trailing newline. */
const errLines = (r: CliResult) => r.stderr.split('\n').filter((l) => l !== '');

/** A failure the user sees: exactly one line on stderr, naming the command, and no stack trace. */
function expectOneLineError(r: CliResult, code: number, ...fragments: (string | RegExp)[]) {
  expect(r.code, r.stderr).toBe(code);
  const lines = errLines(r);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^mlx-trace( \w[\w-]*)?: /);
  expect(r.stderr).not.toMatch(/\n\s+at |Error:|node:internal/);
  for (const f of fragments) expect(lines[0]).toMatch(f);
}

beforeAll(async () => {
  dist = await buildCli('cli');
  tmp = mkdtemp('mlx-trace-cli-');
  demoDir = join(tmp, 'demo');
  tty = await hasScript();
  demo = await cli(['demo', '--out', demoDir]);
  traceFile = join(demoDir, 'trace.json');
  if (existsSync(traceFile)) trace = loadTrace(traceFile);
}, 240_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (dist) rmSync(dist, { recursive: true, force: true });
});

function mkdtemp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

describe('demo', () => {
  it('profiles the decode loop, writes trace, Chrome trace and HTML, prints generation speed, the report and the file list', () => {
    expect(demo.code, demo.stderr).toBe(0);
    expect(readdirSync(demoDir).sort()).toEqual(['report.html', 'trace.chrome-trace.json', 'trace.json']);
    // A real recording of the pipelined loop: native timing, asyncEval and item() spans, matmuls inside them.
    expect(trace.meta.timing).toBe('native');
    expect(trace.spans.filter((s) => s.kind === 'eval' && s.name === 'asyncEval').length).toBeGreaterThanOrEqual(32);
    expect(trace.spans.filter((s) => s.kind === 'sync' && s.name === 'item').length).toBe(32);
    const byId = new Map(trace.spans.map((s) => [s.id, s]));
    const matmuls = trace.spans.filter((s) => s.kind === 'primitive' && s.name === 'Matmul');
    expect(matmuls.length).toBeGreaterThan(0);
    for (const m of matmuls) expect(['eval', 'sync']).toContain(byId.get(m.parentId!)?.kind);
    // Generation speed, in the trace and on stdout; coverage as a share of busy time.
    const gen = trace.meta.generation as { generatedTokens: number; timeToFirstTokenMs: number; decodeTokensPerSec: number };
    expect(gen.generatedTokens).toBe(32);
    expect(gen.timeToFirstTokenMs).toBeGreaterThan(0);
    expect(demo.stdout).toContain(`generated 32 tokens: time to first token ${gen.timeToFirstTokenMs.toFixed(2)} ms, decode ${gen.decodeTokensPerSec.toFixed(1)} tokens/s`);
    const coverage = Number(/coverage ([\d.]+)%/.exec(demo.stdout)![1]);
    expect(coverage).toBeGreaterThan(0);
    expect(coverage).toBeLessThanOrEqual(100);

    const chrome = JSON.parse(readFileSync(join(demoDir, 'trace.chrome-trace.json'), 'utf8'));
    expect(chrome.traceEvents.filter((e: { ph: string }) => e.ph === 'X')).toHaveLength(trace.spans.length);
    const html = readFileSync(join(demoDir, 'report.html'), 'utf8');
    expect(html.slice(0, 15).toLowerCase()).toBe('<!doctype html>');

    expect(demo.stdout).toContain(`mlx-trace report: ${trace.name}`);
    expect(demo.stdout).toMatch(/\nop\s+calls\s+total/);
    const list = demo.stdout.slice(demo.stdout.indexOf('Files written:'));
    for (const f of ['trace.json', 'trace.chrome-trace.json', 'report.html']) expect(list).toContain(join(demoDir, f));
    expect(demo.stdout).not.toContain(ESC);
  });
});

describe('run', () => {
  const cases = [
    { kind: 'CommonJS (--require)', script: 'mlx-app.js' },
    { kind: 'ES module (--import)', script: 'mlx-app.mjs' },
  ];
  for (const { kind, script } of cases) {
    it(`profiles an unchanged ${kind} program, passes its arguments through and writes the same files`, async () => {
      const out = join(tmp, `run-${script}`);
      const r = await cli(['run', '--out', out, join(FIXTURES, script), 'alpha', '--beta', '-o', 'x']);
      expect(r.code, r.stderr).toBe(0);
      // The program's own output and arguments: everything after the script is the script's.
      expect(r.stdout).toContain('args ["alpha","--beta","-o","x"]');
      expect(readdirSync(out).sort()).toEqual(['report.html', 'trace.chrome-trace.json', 'trace.mlxtrace']);
      expect(r.stdout).toContain('mlx-trace report:');
      const t = loadTrace(join(out, 'trace.mlxtrace'));
      expect(t.meta.timing).toBe('native');
      expect(t.name).toBe(script);
      // The layers the program built (nn.Module forwards), and the ops they built, attributed to them.
      const layers = t.spans.filter((s) => s.kind === 'layer').map((s) => s.name);
      expect(layers).toEqual(expect.arrayContaining(['Mlp', 'fc1 (Linear)', 'fc2 (Linear)']));
      const matmul = t.spans.find((s) => s.kind === 'primitive' && s.name === 'Matmul' && s.inputs[0]?.shape.join('x') === '64x128' && s.outputs[0]?.shape.join('x') === '64x32');
      expect(matmul, 'the [64,128] x [128,32] matmul').toBeDefined();
      expect(matmul!.inputs[1].shape).toEqual([128, 32]);
      expect(matmul!.end).toBeGreaterThan(matmul!.start);
      const fc1 = t.spans.find((s) => s.kind === 'layer' && s.name === 'fc1 (Linear)')!;
      expect(t.spans.some((s) => s.kind === 'primitive' && s.layerId === fc1.id)).toBe(true);
    }, 60_000);
  }

  it("keeps the program's exit code and still writes its trace", async () => {
    const out = join(tmp, 'run-fail');
    const r = await cli(['run', '--no-report', '--out', out, join(FIXTURES, 'mlx-app.js'), '--exit-code', '3']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/exited with code 3/);
    expect(loadTrace(join(out, 'trace.mlxtrace')).spans.length).toBeGreaterThan(0);
    expect(r.stdout).not.toContain('mlx-trace report:');
  }, 60_000);

  it('says so in one line when the script does not exist', async () => {
    expectOneLineError(await cli(['run', join(tmp, 'nope.js')]), 2, /no such script/);
  });
});

describe('view', () => {
  /** The data rows of the printed table: between the dashed rule and the blank line / "more" line. */
  function rows(stdout: string): string[][] {
    const lines = stdout.split('\n');
    const rule = lines.findIndex((l) => /^-{20,}$/.test(l));
    const out: string[][] = [];
    for (let i = rule + 1; i < lines.length && lines[i].trim() !== '' && !lines[i].startsWith('...'); i++) out.push(lines[i].trim().split(/\s{2,}/));
    return out;
  }

  it('prints the report sorted, grouped and cut as asked', async () => {
    const r = await cli(['view', traceFile, '--sort', 'self', '--group-by', 'layer', '--top', '3']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/\nlayer\s+calls\s+total\s+self/);
    const table = rows(r.stdout);
    expect(table).toHaveLength(3);
    // Column 3 is self time: non-increasing down the table.
    const self = table.map((c) => parseDuration(c[3]));
    for (let i = 1; i < self.length; i++) expect(self[i]).toBeLessThanOrEqual(self[i - 1]);
    expect(r.stdout).toMatch(/\.\.\. \d+ more layers not shown \(top 3 of \d+ by self\)/);
  });

  it('groups by device and sorts by calls', async () => {
    const r = await cli(['view', traceFile, '--group-by', 'device', '--sort', 'calls']);
    expect(r.code, r.stderr).toBe(0);
    expect(rows(r.stdout).map((c) => c[0])).toEqual(['cpu']);
  });

  it('rejects a bad option value with exit code 2', async () => {
    expectOneLineError(await cli(['view', traceFile, '--sort', 'speed']), 2, /--sort must be one of/);
    expectOneLineError(await cli(['view', traceFile, '--top', '0']), 2, /--top must be a positive whole number/);
  });
});

describe('html, convert', () => {
  it('html writes one self-contained dashboard to -o', async () => {
    const target = join(tmp, 'dash.html');
    const r = await cli(['html', traceFile, '-o', target]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`wrote ${target}`);
    const html = readFileSync(target, 'utf8');
    expect(html.slice(0, 15).toLowerCase()).toBe('<!doctype html>');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=["']https?:/);
  });

  it('convert --to chrome writes Trace Event JSON with one slice per span', async () => {
    const target = join(tmp, 'c.chrome.json');
    const r = await cli(['convert', traceFile, '--to', 'chrome', '-o', target]);
    expect(r.code, r.stderr).toBe(0);
    const events = JSON.parse(readFileSync(target, 'utf8')).traceEvents as { ph: string; name: string; id?: number }[];
    const slices = events.filter((e) => e.ph === 'X');
    expect(slices).toHaveLength(trace.spans.length);
    expect(new Set(slices.map((e) => e.id))).toEqual(new Set(trace.spans.map((s) => s.id)));
  });

  it('convert --to perfetto writes a protobuf trace with every span as a slice', async () => {
    const target = join(tmp, 'c.perfetto-trace');
    const r = await cli(['convert', traceFile, '--to', 'perfetto', '-o', target]);
    expect(r.code, r.stderr).toBe(0);
    const { Trace: TraceMsg } = perfettoSchema();
    const msg = TraceMsg.toObject(TraceMsg.decode(readFileSync(target)), { longs: Number, enums: Number, arrays: true }) as {
      packet: { track_event?: { type?: number } }[];
    };
    const begins = msg.packet.filter((p) => p.track_event?.type === 1).length; // TYPE_SLICE_BEGIN
    expect(begins).toBe(trace.spans.length);
  });

  it('convert --to json rewrites the trace, same spans', async () => {
    const target = join(tmp, 'c.json');
    const r = await cli(['convert', traceFile, '--to', 'json', '-o', target]);
    expect(r.code, r.stderr).toBe(0);
    const back = loadTrace(target);
    expect(back.spans).toEqual(trace.spans);
    expect(back.meta.origin).toEqual(trace.meta.origin);
  });

  it('convert FILE OUT.mlxtrace writes the binary layout, and converts back to the same trace', async () => {
    const bin = join(tmp, 'c.mlxtrace');
    let r = await cli(['convert', traceFile, bin]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`wrote ${bin}`);
    expect(readFileSync(bin).subarray(0, 8).toString('latin1')).toBe('MLXTRACE');
    const json = join(tmp, 'back.json');
    r = await cli(['convert', bin, json]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(json, 'utf8')).toMatch(/^\{"schema":"mlx-trace\/1"/);
    expect(loadTrace(json)).toEqual(loadTrace(traceFile));
    expect((await cli(['view', bin])).code).toBe(0);
  });

  it('convert --to mlxtrace names the output after the input', async () => {
    const src = join(tmp, 'named.json');
    writeFileSync(src, readFileSync(traceFile));
    const r = await cli(['convert', src, '--to', 'mlxtrace']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`wrote ${join(tmp, 'named.mlxtrace')}`);
    expect(loadTrace(join(tmp, 'named.mlxtrace'))).toEqual(loadTrace(src));
  });

  it('convert needs --to, and a known format', async () => {
    expectOneLineError(await cli(['convert', traceFile]), 2, /--to chrome\|perfetto\|json/);
    expectOneLineError(await cli(['convert', traceFile, '--to', 'svg']), 2, /--to must be one of chrome, perfetto, json/);
  });
});

describe('export', () => {
  it('sends every span to a real OTLP/HTTP receiver', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const r = await cli(['export', traceFile, '--otlp', receiver.url, '--service', 'cli-test']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(`sent ${trace.spans.length.toLocaleString('en-US')} spans to ${receiver.url} (0 dropped)`);
      expect(receiver.errors).toEqual([]);
      const got = receiver.spans();
      // Every span of the trace, plus the root span named after the trace.
      expect(got).toHaveLength(trace.spans.length + 1);
      expect(got.filter((s) => s.name === 'Matmul')).toHaveLength(trace.spans.filter((s) => s.name === 'Matmul').length);
      expect(got[0].resource['service.name']).toBe('cli-test');
    } finally {
      await receiver.close();
    }
  }, 60_000);

  it('exits 1 with one line when the collector is not there', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/v1/traces`;
    expectOneLineError(await cli(['export', traceFile, '--otlp', url]), 1, /could not reach collector/, /dropped/);
  }, 60_000);

  it('exits 2 (usage) with one line for a collector URL that is not a URL', async () => {
    expectOneLineError(await cli(['export', traceFile, '--otlp', 'not a url']), 2, /invalid collector URL "not a url"/);
    expectOneLineError(await cli(['export', traceFile, '--otlp', 'ftp://x/v1/traces']), 2, /must be http:\/\/ or https:\/\//);
  }, 60_000);
});

describe('calibrate', () => {
  it('--dry-run measures and prints both ceilings, stores nothing', async () => {
    const config = mkdtemp('mlx-trace-xdg-');
    try {
      const r = await cli(['calibrate', '--dry-run', '--seconds', '0.2'], { env: { XDG_CONFIG_HOME: config } });
      expect(r.code, r.stderr).toBe(0);
      const compute = /compute:\s+([\d.]+) ([kMGTP]?)FLOP\/s/.exec(r.stdout);
      const bandwidth = /bandwidth:\s+([\d.]+) ([kMGTP]?)B\/s/.exec(r.stdout);
      expect(compute, r.stdout).not.toBeNull();
      expect(bandwidth, r.stdout).not.toBeNull();
      expect(Number(compute![1])).toBeGreaterThan(0);
      expect(Number(bandwidth![1])).toBeGreaterThan(0);
      expect(r.stdout).not.toContain('stored in');
      expect(readdirSync(config)).toEqual([]);
    } finally {
      rmSync(config, { recursive: true, force: true });
    }
  }, 60_000);
});

describe.concurrent('help, version, usage errors', () => {
  it('--version prints the package version', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${VERSION}\n`);
  });

  it('--help lists every command', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`\\n  ${c} +\\S`));
  });

  for (const c of COMMANDS) {
    it(`${c} --help prints its usage and exits 0`, async () => {
      const r = await cli([c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout.startsWith(`Usage: mlx-trace ${c}`)).toBe(true);
    });
  }

  const usageErrors: { args: string[]; says: RegExp }[] = [
    { args: [], says: /Usage: mlx-trace <command>/ },
    { args: ['frobnicate'], says: /unknown command "frobnicate"/ },
    { args: ['view', 'x.json', '--bogus'], says: /^mlx-trace view: unknown option --bogus \(see "mlx-trace view --help"\)$/ },
    { args: ['html', '--out'], says: /argument missing/ },
    { args: ['view'], says: /give one trace file/ },
    { args: ['html'], says: /give one trace file/ },
    { args: ['convert', '--to', 'chrome'], says: /give one trace file/ },
    { args: ['export'], says: /give one trace file/ },
    { args: ['view', 'a.json', 'b.json'], says: /give one trace file/ },
    { args: ['run'], says: /name the script to run/ },
    { args: ['merge'], says: /give the rank traces to merge/ },
    { args: ['demo', '--tokens', 'many'], says: /--tokens must be a positive whole number/ },
  ];
  for (const { args, says } of usageErrors) {
    it(`exit code 2 for: mlx-trace ${args.join(' ') || '(nothing)'}`, async () => {
      const r = await cli(args);
      expect(r.code).toBe(2);
      if (args.length === 0) {
        expect(r.stdout).toMatch(says); // the global help, as a reminder
      } else {
        expectOneLineError(r, 2, says);
      }
    });
  }
});

describe.concurrent('missing and corrupt files', () => {
  const readers = [
    ['view'],
    ['html'],
    ['convert', '--to', 'chrome'],
    ['export', '--otlp', 'http://127.0.0.1:9/v1/traces'],
    ['merge'],
  ];

  for (const [cmd, ...flags] of readers) {
    it(`${cmd}: one clear line for a missing file`, async () => {
      const missing = join(tmp, 'does-not-exist.json');
      expectOneLineError(await cli([cmd, missing, ...flags]), 2, /no such file/, missing);
    });

    it(`${cmd}: one clear line for a truncated trace`, async () => {
      const bytes = readFileSync(traceFile);
      const cut = join(tmp, `truncated-${cmd}.json`);
      writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
      expectOneLineError(await cli([cmd, cut, ...flags]), 2, /truncated/, cut);
    });
  }

  it('one clear line for a file that is not a trace at all', async () => {
    const f = join(tmp, 'package.json');
    writeFileSync(f, JSON.stringify({ name: 'not a trace' }));
    expectOneLineError(await cli(['view', f]), 2, /not an mlx-trace file/);
    const bin = join(tmp, 'random.bin');
    writeFileSync(bin, Buffer.from([0x00, 0xff, 0x13, 0x37, 0x80]));
    expectOneLineError(await cli(['view', bin]), 2, bin);
  });
});

describe('color', () => {
  it('no escape codes when stdout is not a TTY, even with FORCE_COLOR', async () => {
    const r = await cli(['view', traceFile], { env: { FORCE_COLOR: '1' } });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(ESC);
    expect(r.stderr).not.toContain(ESC);
  });

  it.runIf(process.platform === 'linux')('colors on a TTY; NO_COLOR=1 turns every escape off, even with FORCE_COLOR', async () => {
    expect(tty, 'util-linux `script` is needed to give the CLI a terminal').toBe(true);
    // The same report on a terminal: bold headings, so the check below can tell.
    const colored = await cli(['view', traceFile], { tty: true });
    expect(colored.code).toBe(0);
    expect(colored.stdout).toContain(`${ESC}[1m`);

    const plain = await cli(['view', traceFile], { tty: true, env: { NO_COLOR: '1', FORCE_COLOR: '1' } });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('mlx-trace report:');
    expect(plain.stdout).not.toContain(ESC);

    // The demo on a terminal draws a progress bar on stderr: no escapes there either.
    const out = join(tmp, 'demo-tty');
    const d = await cli(['demo', '--out', out, '--prompt', '8', '--tokens', '3'], { tty: true, env: { NO_COLOR: '1', CI: undefined } });
    expect(d.code, d.stdout).toBe(0);
    expect(d.stdout).toContain('decoding [');
    expect(d.stdout).not.toContain(ESC);
  }, 60_000);
});
