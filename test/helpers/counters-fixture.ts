/**
 * Counter tracks shaped like the ones `mlx-trace bench-model` samples from /sys (src/bench/sysfs.ts): a CPU
 * frequency in MHz and a temperature in °C, spread over a trace's time range, with fractional values.
 */
import type { Trace } from '../../src/core/model/trace';

export type CounterTrack = NonNullable<Trace['counters']>[number];

/** The time range of a trace's spans (ns). */
function range(trace: Trace): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const s of trace.spans) { lo = Math.min(lo, s.start); hi = Math.max(hi, s.end); }
  return Number.isFinite(lo) ? [lo, hi] : [0, 1e6];
}

export function sensorCounters(trace: Trace, samples = 40): CounterTrack[] {
  const [lo, hi] = range(trace);
  const at = (k: number, n: number) => Math.round(lo + ((hi - lo) * k) / (n - 1));
  return [
    {
      name: 'cpu frequency (mean of 2 cpus)',
      unit: 'MHz',
      samples: Array.from({ length: samples }, (_, k): [number, number] => [at(k, samples), 2000 + Math.round(800 * Math.abs(Math.sin(k / 5)) * 4) / 4]),
    },
    {
      name: 'temperature x86_pkg_temp',
      unit: '°C',
      samples: Array.from({ length: samples >> 1 }, (_, k): [number, number] => [at(k, samples >> 1), 45 + k * 0.85]),
    },
  ];
}

export function withCounters(trace: Trace, samples = 40): Trace {
  return { ...trace, counters: sensorCounters(trace, samples) };
}
