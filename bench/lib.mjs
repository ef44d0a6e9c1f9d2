// Shared by benchmark cases: the envelope of a generated trace, paired traced/untraced timing.
import { readdirSync, readFileSync } from 'node:fs';

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
 * Traced/untraced pairs measured next to each other (order alternating): the 10%-trimmed mean of the
 * differences (a garbage collection that lands in one side of a pair does not decide it), the plain
 * mean with its 95% interval, and the median.
 */
export function pairedStats(diffs) {
  const sorted = [...diffs].sort((a, b) => a - b);
  const kept = sorted.slice(Math.floor(sorted.length * 0.1), Math.ceil(sorted.length * 0.9));
  const trimmed = kept.reduce((a, b) => a + b, 0) / kept.length;
  const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
  const sd = diffs.length > 1 ? Math.sqrt(diffs.reduce((a, b) => a + (b - mean) ** 2, 0) / (diffs.length - 1)) : 0;
  return { trimmed, mean, ci95: (1.96 * sd) / Math.sqrt(diffs.length), median: sorted[Math.floor(sorted.length / 2)], pairs: diffs.length };
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
