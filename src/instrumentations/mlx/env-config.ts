/**
 * MLX_TRACE_* variables that choose what the preload (and so `mlx-trace run`) records:
 *   MLX_TRACE_SCHEDULE="skipFirst=1,wait=1,warmup=1,active=3,repeat=2"  windows by inst.step()
 *   MLX_TRACE_KEEP=5                                                     window files kept
 *   MLX_TRACE_FLIGHT="seconds=60" | "spans=1000000" (or both)            flight-recorder ring
 * A bad value is one line on stderr and is ignored: the app runs, recorded as by default.
 */
import type { FlightRecorderOptions } from './flight';
import { checkFlight } from './flight';
import { checkSchedule, type ScheduleOptions } from './schedule';

export interface EnvRecording {
  schedule?: ScheduleOptions;
  keep?: number;
  flightRecorder?: FlightRecorderOptions;
  /** One line each, for stderr. */
  problems: string[];
}

/** "a=1,b=2" as numbers by key; null when a part is not key=number. */
function pairs(text: string, keys: readonly string[]): Record<string, number> | null {
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const m = /^\s*(\w+)\s*=\s*([\d.]+)\s*$/.exec(part);
    if (!m || !keys.includes(m[1])) return null;
    out[m[1]] = Number(m[2]);
  }
  return out;
}

export function recordingFromEnv(env: NodeJS.ProcessEnv = process.env): EnvRecording {
  const r: EnvRecording = { problems: [] };
  const sched = env.MLX_TRACE_SCHEDULE?.trim();
  const flight = env.MLX_TRACE_FLIGHT?.trim();
  if (sched && flight) {
    r.problems.push('mlx-trace: MLX_TRACE_SCHEDULE and MLX_TRACE_FLIGHT both set; using MLX_TRACE_SCHEDULE');
  }
  if (sched) {
    const p = pairs(sched, ['skipFirst', 'wait', 'warmup', 'active', 'repeat']);
    try {
      if (!p) throw new TypeError('expected key=number pairs of skipFirst, wait, warmup, active, repeat');
      r.schedule = checkSchedule(p as unknown as ScheduleOptions);
    } catch (e) {
      r.problems.push(`mlx-trace: MLX_TRACE_SCHEDULE="${sched}" ignored: ${(e as Error).message}`);
    }
    const keep = env.MLX_TRACE_KEEP?.trim();
    if (keep) {
      if (/^\d+$/.test(keep) && Number(keep) >= 1) r.keep = Number(keep);
      else r.problems.push(`mlx-trace: MLX_TRACE_KEEP="${keep}" ignored: expected a whole number of files, at least 1`);
    }
  } else if (flight) {
    const p = pairs(flight, ['seconds', 'spans']);
    try {
      if (!p) throw new TypeError('expected seconds=N and/or spans=N');
      checkFlight(p);
      r.flightRecorder = p;
    } catch (e) {
      r.problems.push(`mlx-trace: MLX_TRACE_FLIGHT="${flight}" ignored: ${(e as Error).message}`);
    }
  }
  return r;
}
