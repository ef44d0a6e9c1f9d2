/**
 * Runs the real mlx-trace CLI as a subprocess, for the CLI and merge tests.
 *
 * The CLI is built once per test file with tsup into its own folder under test-output/ (no type
 * declarations): other helpers rebuild dist/ while tests run, and tsup's clean step would pull
 * dist/cli.js from under a running test. The folder sits inside the package, so the bundle finds the
 * package root (and build/Release/mlx_trace.node) exactly as dist/ does.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURES = join(ROOT, 'test', 'fixtures');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Run under a pseudo-terminal (util-linux `script`): stdout and stderr are one TTY stream, in `stdout`. */
  tty?: boolean;
  timeoutMs?: number;
}

/** Builds the package into a fresh folder; returns it (cli.js, register.js, register.mjs ...). */
export async function buildCli(name: string): Promise<string> {
  const out = join(ROOT, 'test-output', `${name}-${process.pid}`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(ROOT, 'test-output'), { recursive: true });
  const r = await runProcess(process.execPath, [join(ROOT, 'node_modules', 'tsup', 'dist', 'cli-default.js'), '--out-dir', out, '--no-dts', '--silent'], {
    cwd: ROOT,
    timeoutMs: 180_000,
  });
  if (r.code !== 0 || !existsSync(join(out, 'cli.js'))) throw new Error(`tsup failed (${r.code}): ${r.stderr || r.stdout}`);
  return out;
}

/** The environment a user's shell would give: no color overrides, no debug switches. */
export function baseEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of ['NO_COLOR', 'FORCE_COLOR', 'MLX_TRACE_DEBUG', 'MLX_TRACE_OUT', 'MLX_TRACE_RANK', 'MLX_RANK', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) delete env[k];
  Object.assign(env, extra);
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return env as Record<string, string>;
}

/** `node <dist>/cli.js ...args`, asynchronously (a test's HTTP receiver keeps serving meanwhile). */
export function runCli(dist: string, args: string[], opts: RunOptions = {}): Promise<CliResult> {
  const argv = [join(dist, 'cli.js'), ...args];
  if (opts.tty) {
    const cmd = [process.execPath, ...argv].map(shellQuote).join(' ');
    return runProcess('script', ['-qec', cmd, '/dev/null'], opts);
  }
  return runProcess(process.execPath, argv, opts);
}

export function runProcess(file: string, args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd ?? ROOT, env: opts.env ? baseEnv(opts.env) : baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Whether util-linux `script` is here to give a subprocess a TTY. */
export async function hasScript(): Promise<boolean> {
  try {
    return (await runProcess('script', ['-qec', 'true', '/dev/null'])).code === 0;
  } catch {
    return false;
  }
}

export const ESC = '\x1b';
