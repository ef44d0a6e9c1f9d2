/**
 * What to record, for how long, in an app that runs for hours: a step schedule as torch.profiler's
 * (`schedule: { wait, warmup, active, repeat, skipFirst }`, `inst.step()`, `onTraceReady(trace)`) and
 * a ready-made onTraceReady that writes rotating files to a folder.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { saveTrace } from '../../core/io/persist';
import type { Trace } from '../../core/model/trace';

export interface ScheduleOptions {
  /** Steps skipped once, at the start (model loading, compilation). @default 0 */
  skipFirst?: number;
  /** Steps of each cycle with recording off. @default 0 */
  wait?: number;
  /** Steps of each cycle recorded and thrown away (caches, allocator and JIT settle). @default 0 */
  warmup?: number;
  /** Steps of each cycle recorded and handed to onTraceReady as one trace. */
  active: number;
  /** Cycles; 0 repeats for as long as the app steps. @default 0 */
  repeat?: number;
}

/** What a step of the schedule does (torch.profiler's ProfilerAction). */
export type StepAction = 'none' | 'warmup' | 'record' | 'record-and-save';

/** The schedule as given, checked: one clear message for a bad value. */
export function checkSchedule(s: ScheduleOptions): Required<ScheduleOptions> {
  const out = { skipFirst: s.skipFirst ?? 0, wait: s.wait ?? 0, warmup: s.warmup ?? 0, active: s.active, repeat: s.repeat ?? 0 };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isInteger(v) || v < (k === 'active' ? 1 : 0)) throw new TypeError(`schedule.${k} must be an integer of at least ${k === 'active' ? 1 : 0} (got ${String(v)})`);
  }
  return out;
}

/** The action of step `n` (0-based), exactly as torch.profiler.schedule computes it. */
export function scheduleAction(s: Required<ScheduleOptions>, n: number): StepAction {
  if (n < s.skipFirst) return 'none';
  const k = n - s.skipFirst;
  const cycle = s.wait + s.warmup + s.active;
  if (s.repeat > 0 && Math.floor(k / cycle) >= s.repeat) return 'none';
  const m = k % cycle;
  if (m < s.wait) return 'none';
  if (m < s.wait + s.warmup) return 'warmup';
  return m < cycle - 1 ? 'record' : 'record-and-save';
}

/** What the schedule asks of the instrumentation. */
export interface ScheduleHost {
  /** Turns recording on or off. */
  setRecording(on: boolean): void;
  /** Drops what was recorded so far (a warmup's spans). */
  discard(): void;
  /** Takes what was recorded as a trace. */
  take(name: string, meta: Record<string, unknown>): Trace;
}

/** Steps through a schedule: recording on and off, windows taken and handed on. */
export class StepSchedule {
  private readonly s: Required<ScheduleOptions>;
  private n = 0;
  private action: StepAction;
  private firstActive = 0;

  constructor(s: ScheduleOptions, private readonly host: ScheduleHost, private readonly ready: (trace: Trace) => void) {
    this.s = checkSchedule(s);
    this.action = scheduleAction(this.s, 0);
    this.enter('none', this.action);
  }

  /** The current step, counted from 0. */
  get current(): number {
    return this.n;
  }

  /** Ends the current step: a finished active window goes to onTraceReady. */
  step(): void {
    const prev = this.action;
    if (prev === 'record-and-save') {
      const first = this.firstActive;
      const last = this.n;
      this.ready(this.host.take(`steps ${first}-${last}`, { steps: { first, last } }));
    }
    this.n++;
    this.action = scheduleAction(this.s, this.n);
    this.enter(prev, this.action);
  }

  private enter(prev: StepAction, next: StepAction): void {
    this.host.setRecording(next !== 'none');
    const starts = (next === 'record' || next === 'record-and-save') && prev !== 'record';
    if (starts) {
      // A window starts clean: what a warmup (or anything before) recorded is not part of it.
      if (prev !== 'record-and-save') this.host.discard();
      this.firstActive = this.n;
    }
  }
}

export interface TraceFilesOptions {
  /** Files kept in the folder; the oldest of this handler's files go first. @default 5 */
  keep?: number;
  /** Start of each file's name. @default 'trace' */
  prefix?: string;
}

/**
 * An onTraceReady that saves each trace to `dir` as `<prefix>.<n>.mlxtrace` (n counting up from the
 * highest already there) and keeps the newest `keep` of them (torch's tensorboard_trace_handler).
 */
export function traceFiles(dir: string, opts: TraceFilesOptions = {}): (trace: Trace) => void {
  const keep = Math.max(1, Math.floor(opts.keep ?? 5));
  const prefix = opts.prefix ?? 'trace';
  const pattern = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.mlxtrace$`);
  const existing = () => {
    try {
      return readdirSync(dir)
        .map((f) => ({ f, n: Number(pattern.exec(f)?.[1] ?? NaN) }))
        .filter((x) => Number.isInteger(x.n))
        .sort((a, b) => a.n - b.n);
    } catch {
      return [];
    }
  };
  let next = (existing().pop()?.n ?? 0) + 1;
  return (trace: Trace) => {
    const file = join(dir, `${prefix}.${next++}.mlxtrace`);
    try {
      mkdirSync(dir, { recursive: true });
      saveTrace(trace, file);
    } catch (e) {
      // A full disk must not end the app being profiled: say so and go on.
      process.stderr.write(`mlx-trace: could not write ${file}: ${(e as Error).message}\n`);
      return;
    }
    const files = existing();
    for (const { f } of files.slice(0, Math.max(0, files.length - keep))) rmSync(join(dir, f), { force: true });
  };
}
