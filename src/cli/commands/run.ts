import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadTrace } from '../../core/io/persist';
import { distributedRank, rankTraceFile } from '../../core/analysis/merge';
import { exportOtlp } from '../../exporters/otlp';
import { UsageError, err, out } from '../ui';
import { writeOutputs } from './outputs';
import type { Command } from './index';

export const runCommand: Command = {
  summary: 'profile any Node program with no change to it (preloads mlx-trace/register)',
  help: `Usage: mlx-trace run [--out DIR] [--otlp URL] [--no-report] app.js [args...]

Runs "node app.js args..." with mlx-trace preloaded, then writes DIR/trace.json,
DIR/trace.chrome-trace.json and DIR/report.html and prints the report. The app's exit code is kept
when it fails. The same preload works by hand:
  node --require mlx-trace/register app.js     (CommonJS)
  node --import mlx-trace/register app.mjs     (ES modules)
with MLX_TRACE_OUT=DIR for where trace.json goes.

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
    const code = await new Promise<number>((res) => {
      const child = spawn(process.execPath, [...preload, script, ...args], {
        stdio: 'inherit',
        env: { ...process.env, MLX_TRACE_OUT: outDir, MLX_TRACE_QUIET: '1', ...live },
      });
      child.on('exit', (c, sig) => res(c ?? (sig ? 128 : 1)));
    });
    // The preload names the file by rank when the app runs as one rank of a distributed job.
    const file = join(outDir, rankTraceFile(distributedRank(process.env)));
    if (!existsSync(file)) {
      err(`mlx-trace run: ${script} exited with code ${code} and left no trace`);
      return code || 1;
    }
    const trace = loadTrace(file);
    await writeOutputs(trace, outDir, { report: !values['no-report'], jsonWritten: file });
    if (values.otlp) out(`OTLP: ${(await exportOtlp(trace, { url: values.otlp })).summary}`);
    if (code !== 0) err(`mlx-trace run: ${script} exited with code ${code}`);
    return code;
  },
};

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
