/**
 * Which ops this MLX build can run, found out in a child process. Some unsupported dtype/op pairs
 * do not throw a JS error: MLX's CPU worker thread aborts the whole process
 * ("[Matmul::eval_cpu] Currently only supports float32", or the compile JIT failing on half
 * precision). A benchmark must report those as skipped, not die on them.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import type { OpFamily } from './ops-suite';

export interface ProbeItem {
  key: string;
  family: OpFamily;
  compiled: boolean;
}

/** The child: runs each item once on a tiny shape, writing 'start', then 'ok' or 'err <json>' per item. */
const CHILD = `
const fs = require('fs');
const job = JSON.parse(fs.readFileSync(0, 'utf8'));
const mlx = require(job.mlxPath);
const mx = mlx.core, nn = mlx.nn;
mx.setDefaultDevice(mx[job.device]);
const dt = mx[job.dtype];
const say = (s) => fs.writeSync(1, s + '\\n');
for (const it of job.items) {
  say('start ' + it.key);
  try {
    const inputs = new Function('return (' + it.inputs + ')')()(mx, it.params, dt);
    mx.eval(...inputs);
    let f = new Function('return (' + it.op + ')')()(mx, nn, it.params);
    if (it.compiled) f = mx.compile(f);
    mx.eval(f(...inputs));
    mx.eval(f(...inputs));
    say('ok ' + it.key);
  } catch (e) {
    say('err ' + it.key + ' ' + JSON.stringify(String(e && e.message || e).split('\\n')[0]));
  }
}
`;

/** Where @frost-beta/mlx is: the user's project first, then the copy beside mlx-trace (as the CLI loads it). */
export function resolveMlxPath(): string | null {
  for (const base of [process.cwd() + '/', __filename]) {
    try {
      return createRequire(base).resolve('@frost-beta/mlx');
    } catch {
      /* next */
    }
  }
  return null;
}

/**
 * Runs every item once (on its family's smallest size) in a child process; returns why each
 * unsupported item failed, by key. A child that dies takes the item it was running with it (the
 * reason is MLX's last 'what():' line or the signal) and a new child goes on with the rest.
 */
export function probeSupport(mlxPath: string, device: string, dtype: string, items: ProbeItem[]): Map<string, string> {
  const failed = new Map<string, string>();
  let rest = items;
  while (rest.length > 0) {
    const payload = {
      mlxPath,
      device,
      dtype,
      items: rest.map((it) => ({
        key: it.key,
        compiled: it.compiled,
        params: smallest(it.family),
        inputs: it.family.inputs.toString(),
        op: it.family.op.toString(),
      })),
    };
    // cwd: a crash's core file (where core dumps are on) lands in the temp folder, not the user's project.
    const r = spawnSync(process.execPath, ['-e', CHILD], { cwd: tmpdir(), input: JSON.stringify(payload), encoding: 'utf8', maxBuffer: 16 << 20, timeout: 120_000 });
    const done = new Set<string>();
    let running: string | null = null;
    for (const line of (r.stdout ?? '').split('\n')) {
      const m = /^(start|ok|err) (\S+)(?: (.*))?$/.exec(line);
      if (!m) continue;
      const [, what, key, detail] = m;
      if (what === 'start') running = key;
      else {
        done.add(key);
        running = null;
        if (what === 'err') failed.set(key, safeParse(detail));
      }
    }
    if (r.status === 0 && !r.error) break;
    const reason = crashReason(r.stderr ?? '', r.signal, r.error);
    // A child that died before its first item could not load MLX at all: nothing runs.
    if (running === null && done.size === 0) {
      for (const it of rest) failed.set(it.key, reason);
      break;
    }
    // Otherwise blame the item it was running, and go on with the rest.
    const victim = running ?? rest.find((it) => !done.has(it.key))?.key;
    if (!victim) break;
    failed.set(victim, reason);
    done.add(victim);
    rest = rest.filter((it) => !done.has(it.key));
  }
  return failed;
}

function smallest(f: OpFamily): Record<string, number> {
  return f.sizes.small[0] ?? f.sizes.medium[0] ?? f.sizes.large[0];
}

function safeParse(s: string | undefined): string {
  try {
    return shorten(String(JSON.parse(s ?? '""'))) || 'failed';
  } catch {
    return s ?? 'failed';
  }
}

/** MLX's JIT errors carry the mangled kernel name (hundreds of characters): keep its start. */
function shorten(s: string): string {
  return s.replace(/\S{48,}/g, (w) => w.slice(0, 32) + '…');
}

function crashReason(stderr: string, signal: NodeJS.Signals | null, error?: Error): string {
  const what = /what\(\):\s*(.+)/.exec(stderr);
  if (what) return `crashes the process: ${shorten(what[1].trim())}`;
  if (error) return `probe failed: ${error.message.split('\n')[0]}`;
  const last = stderr.trim().split('\n').filter((l) => l && !/^\s+at /.test(l)).pop();
  return `crashes the process${signal ? ` (${signal})` : ''}${last ? `: ${last.trim()}` : ''}`;
}
