import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Writable } from 'node:stream';
import { CONTROL_FD_ENV, ENDING_SIGNALS } from '../../instrumentations/mlx/signals';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadTrace } from '../../core/io/persist';
import { distributedRank, rankTraceFile } from '../../core/analysis/merge';
import { exportOtlp } from '../../exporters/otlp';
import { UsageError, err, out } from '../ui';
import { writeOutputs } from './outputs';
import { streamTraceFile } from '../../instrumentations/mlx/stream';
import { PARTIAL } from '../../core/io/binary/stream-writer';
import type { Command } from './index';

export const runCommand: Command = {
  summary: 'profile any Node program with no change to it (preloads mlx-trace/register)',
  help: `Usage: mlx-trace run [--out DIR] [--otlp URL] [--no-report] app.js [args...]

Runs "node app.js args..." with mlx-trace preloaded, which streams the trace to DIR/trace.mlxtrace as
the app runs (memory stays flat; MLX_TRACE_STREAM=0 keeps it in memory and writes DIR/trace.json at
the end), then writes DIR/trace.chrome-trace.json and DIR/report.html and prints the report. An app
killed outright leaves DIR/trace.mlxtrace.partial, which is read up to its last complete block. The app's exit code is kept
when it fails (128 + the signal's number when a signal ended it). SIGINT, SIGTERM and SIGHUP sent to
mlx-trace run are passed on to the app, which writes its trace before it ends; the files are then
written as usual. A third such signal kills the app (SIGKILL). The same preload works by hand:
  node --require mlx-trace/register app.js     (CommonJS)
  node --import mlx-trace/register app.mjs     (ES modules)
with MLX_TRACE_OUT=DIR for where trace.mlxtrace goes. What to record, for how long (docs/long-running.md):
  MLX_TRACE_SCHEDULE="wait=1,warmup=1,active=3"  windows by step (the app calls inst.step()), MLX_TRACE_KEEP=N files
  MLX_TRACE_FLIGHT="seconds=60" or "spans=1000000"  keep only the last of the run (SIGUSR2 writes it)
OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_* variables send the spans live, as in any OTel app.

Options:
  --out DIR      output folder (default: mlx-trace-run)
  --otlp URL     also send the spans to an OTLP/HTTP collector (e.g. http://localhost:4318/v1/traces)
  --no-report    do not print the report
  --live         serve a page that shows the app while it runs (its URL is printed);
                 the preload's MLX_TRACE_LIVE=PORT does the same
  --port N       the live page's port (default: a free one)
  --host ADDR    listen on ADDR instead of 127.0.0.1; the URL then carries a random token`,
  options: {
    out: { type: 'string', short: 'o' }, otlp: { type: 'string' }, 'no-report': { type: 'boolean' },
    live: { type: 'boolean' }, port: { type: 'string' }, host: { type: 'string' },
  },
  passThrough: true,
  async run(values, positionals) {
    const [script, ...args] = positionals;
    if (!script) throw new UsageError('name the script to run: mlx-trace run app.js');
    if (!existsSync(script)) throw new UsageError(`no such script: ${script}`);
    const live = liveEnv(values);
    const outDir = resolve(values.out ?? 'mlx-trace-run');
    mkdirSync(outDir, { recursive: true });
    const register = join(__dirname, 'register.js');
    const isEsm = /\.mjs$/.test(script);
    const preload = isEsm ? ['--import', pathToFileURL(join(__dirname, 'register.mjs')).href] : ['--require', register];
    const code = await runChild(process.execPath, [...preload, script, ...args], { ...process.env, MLX_TRACE_OUT: outDir, MLX_TRACE_QUIET: '1', ...live });
    // The preload names the file by rank when the app runs as one rank of a distributed job.
    // Under MLX_TRACE_SCHEDULE the windows are the trace: the newest one is rendered.
    const json = rankTraceFile(distributedRank(process.env));
    const streamed = join(outDir, streamTraceFile(json));
    const whole = join(outDir, json);
    // The newest: a killed app leaves its .partial beside an earlier run's complete file.
    const found = [streamed, streamed + PARTIAL, whole].filter((f) => existsSync(f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
    const file = found[0] ?? newestWindow(outDir) ?? whole;
    if (!existsSync(file)) {
      err(`mlx-trace run: ${script} exited with code ${code} and left no trace`);
      return code || 1;
    }
    const trace = loadTrace(file);
    if (typeof trace.meta.truncated === 'string') err(`mlx-trace run: ${file}: ${trace.meta.truncated}`);
    await writeOutputs(trace, outDir, { report: !values['no-report'], jsonWritten: file });
    if (values.otlp) out(`OTLP: ${(await exportOtlp(trace, { url: values.otlp })).summary}`);
    if (code !== 0) err(`mlx-trace run: ${script} exited with code ${code}`);
    return code;
  },
};


/** Signals after which a third kills the app: two chances for it to end with its trace written. */
const KILL_AFTER = 3;
/** How long a forwarded signal waits for the app's "ack" before it is sent as a real signal. */
const ACK_MS = 1000;

/**
 * Runs the app and resolves with its exit code (128 + signal number when a signal ended it). While it
 * runs, SIGINT, SIGTERM and SIGHUP sent to this process go to the app over the control pipe the
 * preload reads (a Ctrl-C that reached the whole group is then not seen twice); this process never
 * ends before the app does.
 */
function runChild(node: string, argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise<number>((res) => {
    const child = spawn(node, argv, { stdio: ['inherit', 'inherit', 'inherit', 'pipe'], env: { ...env, [CONTROL_FD_ENV]: '3' } });
    const control = child.stdio[3] as Writable;
    control.on('error', () => {});
    let received = 0;
    let acked = 0;
    control.on('data', (d: Buffer) => (acked += d.toString().split('ack').length - 1));
    const forward = (sig: NodeJS.Signals) => {
      if (++received >= KILL_AFTER) {
        err(`mlx-trace run: ${sig} received ${received} times, killing the app (its trace is lost)`);
        child.kill('SIGKILL');
        return;
      }
      if (control.destroyed) return;
      control.write(`${sig}\n`);
      // No answer: the app's event loop is not turning (or the preload is not there); the signal
      // itself reaches it through the native handler, or ends it as it would unprofiled.
      const want = received;
      setTimeout(() => {
        if (acked < want && child.exitCode === null && child.signalCode === null) child.kill(sig);
      }, ACK_MS).unref();
    };
    for (const s of ENDING_SIGNALS) process.on(s, forward);
    child.on('exit', (c, sig) => {
      for (const s of ENDING_SIGNALS) process.removeListener(s, forward);
      control.destroy();
      res(c ?? (sig ? 128 + (constants.signals[sig] ?? 0) : 1));
    });
  });
}

/** The newest trace.N.mlxtrace a schedule wrote to `dir`, if any. */
function newestWindow(dir: string): string | null {
  const n = Math.max(0, ...readdirSync(dir).map((f) => Number(/^trace\.(\d+)\.mlxtrace$/.exec(f)?.[1] ?? 0)));
  return n > 0 ? join(dir, `trace.${n}.mlxtrace`) : null;
}

/** --live [--port N] [--host ADDR] as the preload's variables. */
function liveEnv(values: { live?: boolean; port?: string; host?: string }): Record<string, string> {
  if (!values.live) {
    if (values.port !== undefined || values.host !== undefined) throw new UsageError('--port and --host go with --live');
    return {};
  }
  const port = values.port ?? '0';
  if (!/^\d+$/.test(port) || Number(port) > 65535) throw new UsageError(`--port: expected a port number, got ${JSON.stringify(port)}`);
  return { MLX_TRACE_LIVE: port, ...(values.host ? { MLX_TRACE_LIVE_HOST: values.host } : {}) };
}
