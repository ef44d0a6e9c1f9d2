/**
 * Real subprocesses for the end-to-end tests: the mlx-trace CLI (runCli), any program run to its end (runProcess),
 * and a running process a test waits on by what it prints and signals (startProcess).
 *
 * The CLI is built once per test file with tsup into its own folder under test-output/ (no type
 * declarations): other helpers rebuild dist/ while tests run, and tsup's clean step would pull
 * dist/cli.js from under a running test. The folder sits inside the package, so the bundle finds the
 * package root (and build/Release/mlx_trace.node) exactly as dist/ does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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

export async function runProcess(file: string, args: string[], opts: RunOptions = {}): Promise<CliResult> {
  const r = await startProcess(file, args, { env: opts.env, cwd: opts.cwd, limitMs: opts.timeoutMs ?? 120_000 }).ended;
  return { code: r.code ?? (r.signal ? 128 : 1), stdout: r.stdout, stderr: r.stderr };
}

/** How a started process ended, with everything it printed. */
export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface StartOptions {
  /** Added to baseEnv(); undefined removes a variable. */
  env?: Record<string, string | undefined>;
  /** @default ROOT */
  cwd?: string;
  /** Killed (SIGKILL) after this long whatever happens, so a hung child fails its test rather than the run. @default 180_000 */
  limitMs?: number;
  /** In a process group of its own (a terminal's Ctrl-C is `process.kill(-pid, ...)`); the limit kills the group. */
  detached?: boolean;
}

export interface Started {
  child: ChildProcess;
  pid: number;
  /** Rejects only when the process could not be started. */
  ended: Promise<Ended>;
  /**
   * Resolves with the n-th match of `re` once the process printed it on `stream`; rejects if the process ends
   * first, with what it printed.
   */
  until(re: RegExp, n?: number, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  stdout(): string;
  stderr(): string;
}

/** Starts `file args` with the environment a user's shell would give, collecting its output. */
export function startProcess(file: string, args: string[], opts: StartOptions = {}): Started {
  const child = spawn(file, args, { cwd: opts.cwd ?? ROOT, env: baseEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached });
  const out = { stdout: '', stderr: '' };
  const waiters: Array<{ re: RegExp; n: number; stream: 'stdout' | 'stderr'; done: (m: RegExpMatchArray) => void; fail: (e: Error) => void }> = [];
  let over = false;
  const check = () => {
    for (const w of waiters.splice(0)) {
      const found = [...out[w.stream].matchAll(new RegExp(w.re.source, w.re.flags.includes('g') ? w.re.flags : w.re.flags + 'g'))];
      if (found.length >= w.n) w.done(found[w.n - 1]);
      else if (over) w.fail(new Error(`the process ended before printing ${w.re} ${w.n} time(s); stdout:\n${out.stdout}\nstderr:\n${out.stderr}`));
      else waiters.push(w);
    }
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream].setEncoding('utf8').on('data', (d: string) => {
      out[stream] += d;
      check();
    });
  }
  const timer = setTimeout(() => (opts.detached ? process.kill(-child.pid!, 'SIGKILL') : child.kill('SIGKILL')), opts.limitMs ?? 180_000);
  const ended = new Promise<Ended>((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      over = true;
      check();
      resolve({ code, signal, ...out });
    });
  });
  const until = (re: RegExp, n = 1, stream: 'stdout' | 'stderr' = 'stdout') =>
    new Promise<RegExpMatchArray>((done, fail) => {
      waiters.push({ re, n, stream, done, fail });
      check();
    });
  return { child, pid: child.pid!, ended, until, stdout: () => out.stdout, stderr: () => out.stderr };
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
