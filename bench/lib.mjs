// Shared by benchmark cases: the envelope of a generated trace, paired traced/untraced timing.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';

/** A Trace around generated spans and memory events, with fixed metadata so runs compare. */
export function benchTrace(spans, memory) {
  return {
    schema: 'mlx-trace/1', name: 'bench', spans, memory, dropped: 0,
    meta: {
      timing: 'native', createdAt: new Date(0).toISOString(), origin: { monotonicNs: 0, epochNs: '0' },
      host: { platform: 'linux', arch: 'x64', cpuModel: 'bench', cpus: 2, totalMemory: 0, hostname: 'bench' },
      versions: { mlx: '0.0.7', node: process.versions.node, mlxTrace: '0.1.0' },
      peaks: { flops: 1e11, bandwidth: 2e10, source: 'default' },
    },
  };
}

/**
 * Runs `node script ...args` to its end and returns the JSON line it printed last; a program that
 * fails throws with its name, how it ended and its last line on stderr.
 */
export function runProgram(script, args = []) {
  const out = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const name = basename(script, '.mjs');
  if (out.status !== 0) throw new Error(`${name} ended (${out.signal ?? `exit ${out.status}`}): ${out.stderr.trim().split('\n').pop() ?? ''}`);
  return JSON.parse(out.stdout.trim().split('\n').pop());
}

/** The upper median (the middle one of an odd count): what a side's runs or pairs are summarised by. */
export function median(xs) {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1];
}

/**
 * Traced/untraced pairs measured next to each other (order alternating): the 10%-trimmed mean of the
 * differences (a garbage collection that lands in one side of a pair does not decide it) with its own
 * 95% interval (Yuen's, from the winsorized spread), the plain mean with its 95% interval, and the
 * median. The plain mean's interval says little about the trimmed mean: a few stalls of tens of ms
 * widen it tenfold while the trimmed mean moves by a few ns (docs/design.md, "The small-eval figure").
 */
export function pairedStats(diffs) {
  const n = diffs.length;
  const sorted = [...diffs].sort((a, b) => a - b);
  const cut = Math.floor(n * 0.1);
  const kept = sorted.slice(cut, n - cut);
  const trimmed = kept.reduce((a, b) => a + b, 0) / kept.length;
  const mean = diffs.reduce((a, b) => a + b, 0) / n;
  const sd = (xs, m) => (n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1)) : 0);
  const winsorized = sorted.map((x) => Math.min(sorted[n - 1 - cut], Math.max(sorted[cut], x)));
  const wMean = winsorized.reduce((a, b) => a + b, 0) / n;
  return {
    trimmed,
    trimmedCi95: (1.96 * sd(winsorized, wMean)) / ((kept.length / n) * Math.sqrt(n)),
    mean,
    ci95: (1.96 * sd(diffs, mean)) / Math.sqrt(n),
    median: sorted[Math.floor(n / 2)],
    pairs: n,
  };
}

/**
 * CPU time of every thread of this process so far, in ns (/proc/self/task/N/schedstat): on a
 * machine shared with other work, the CPU a run used says more than its wall time, which also
 * holds the time it waited for a core.
 */
export function cpuNs() {
  let sum = 0;
  for (const t of readdirSync('/proc/self/task')) {
    try {
      sum += Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      /* the thread ended */
    }
  }
  return sum;
}

/**
 * Runs `pairs` traced/untraced pairs of `once()` (which returns the ns it took), the traced side in
 * turn first and second; enable()/disable() (and `between`, e.g. a takeTrace, after every traced
 * run) happen outside the timing. Where the side changes, one untimed run of the new side goes
 * first, so every timed run follows a run of its own side, as in a program that is always traced or
 * never: a run leaves garbage (node-mlx frees arrays from GC finalizers) that the next run's
 * collections pay for, and a traced run, which allocates more, collects more often. Timed right
 * after a switch, a traced run pays for the untraced run's garbage and an untraced run after a
 * traced one runs free of it (docs/design.md, "Measuring a decode loop").
 * Returns both sides' wall times, and CPU times of the whole process, in pair order.
 */
export async function interleaved(inst, pairs, once, between = () => {}) {
  const on = [], off = [], onCpu = [], offCpu = [];
  let last = null;
  for (let k = 0; k < pairs; k++) {
    const order = k & 1 ? ['on', 'off'] : ['off', 'on'];
    for (const side of order) {
      if (side === 'on') inst.enable(); else inst.disable();
      if (side !== last) {
        await once();
        if (side === 'on') between();
        last = side;
      }
      const c0 = cpuNs();
      const ns = await once();
      (side === 'on' ? onCpu : offCpu).push(cpuNs() - c0);
      (side === 'on' ? on : off).push(ns);
      if (side === 'on') between();
    }
  }
  inst.disable();
  return { on, off, onCpu, offCpu };
}

/**
 * A layer whose forward(x, n) builds n element-wise adds (n primitives), made after registration so
 * it is instrumented, and its [4] input already evaluated.
 */
export function chainLayer(mlx) {
  const mx = mlx.core;
  class Chain extends mlx.nn.Module {
    forward(x, n) {
      let y = x;
      for (let i = 0; i < n; i++) y = mx.add(y, x);
      return y;
    }
  }
  const x = mx.ones([4]);
  mx.eval(x);
  return { layer: new Chain(), x };
}

/**
 * Programs measured side by side: for each of `groups` groups, one process per entry of `sides`
 * (`node script side ...args`, a name may appear twice: an A/A control) is started and built; then
 * `rounds` rounds, in each of which every process takes one turn (a line on its stdin; it answers with
 * one JSON line), one process at a time, in an order shuffled each round (so no side always follows
 * the same one). The first `untimed` rounds are left out. A turn's neighbours ran a fraction of a
 * second before and after it, so what drifts on the machine over seconds and minutes falls on every
 * side alike, where programs run one after another drew it by turn (docs/design.md, "Measuring a
 * decode loop in lockstep"). Returns, per group, per side, the answers of the timed rounds.
 */
export async function lockstep({ script, args, sides, groups, rounds, untimed = 2, turnTimeoutMs = 120_000 }) {
  const out = [];
  let seed = 0x9e3779b9;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let g = 0; g < groups; g++) {
    const procs = sides.map((side) => startTurnTaker(script, [side, ...args], turnTimeoutMs));
    try {
      for (const p of procs) await p.answer();
      const got = sides.map(() => []);
      for (let r = 0; r < untimed + rounds; r++) {
        const order = [...sides.keys()];
        for (let i = order.length - 1; i > 0; i--) {
          const k = Math.floor(random() * (i + 1));
          [order[i], order[k]] = [order[k], order[i]];
        }
        for (const j of order) {
          const a = await procs[j].turn();
          if (r >= untimed) got[j].push(a);
        }
      }
      out.push(got);
    } finally {
      for (const p of procs) p.end();
    }
  }
  return out;
}

/** A child that answers each line on its stdin with one JSON line; its failure is one clear line. */
function startTurnTaker(script, args, timeoutMs) {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const what = args.join(' ');
  const answer = async () => {
    let timer;
    const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${timeoutMs / 1000} s`)), timeoutMs)));
    const next = lines.next().then(async (r) => {
      if (!r.done) return r.value;
      const { code, signal } = await exited;
      throw new Error(`${what} ended (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').pop() ?? ''}`);
    });
    try {
      return await Promise.race([next, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    answer,
    /** One turn; its answer line, parsed. */
    turn: async () => {
      child.stdin.write('go\n');
      const line = await answer();
      try {
        return JSON.parse(line);
      } catch {
        throw new Error(`${what} answered a turn with a line that is not JSON: ${line.slice(0, 200)}`);
      }
    },
    end: () => {
      child.stdin.end();
      if (child.exitCode === null) setTimeout(() => child.kill(), 5000).unref();
    },
  };
}
