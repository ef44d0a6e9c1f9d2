import type { InstrumentationConfig } from '@opentelemetry/instrumentation';
import type { TracerProvider } from '@opentelemetry/api';
import type { Peaks, Trace } from '../../core/model/trace';
import type { ScheduleOptions } from './schedule';
import type { FlightRecorderOptions } from './flight';
import type { StreamOptions } from './stream';

export interface MlxInstrumentationConfig extends InstrumentationConfig {
  /**
   * Use the native hook layer (per-primitive times inside eval). When it is not built or its probe
   * refuses this MLX build, the instrumentation falls back to JS-level timing and says why in
   * `trace.meta.fallbackReason`.
   * @default true
   */
  native?: boolean;
  /** Record the allocator's mallocs and frees (live bytes, peak). @default true */
  memory?: boolean;
  /** Record every `nn.Module` forward call as a layer span. @default true */
  layers?: boolean;
  /**
   * JS-level mode only: evaluate the result of every op right after it is built, so each op gets
   * its own wall time. This is the old forced-eval method: it changes what it measures (MLX can no
   * longer batch the graph) and is never on unless asked for.
   * @default false
   */
  syncEachOp?: boolean;
  /** Events each thread's native ring holds between drains; more are dropped and counted. @default 65536 */
  bufferEvents?: number;
  /** Spans kept between two takeTrace() calls; more are dropped and counted. @default 2000000 */
  maxSpans?: number;
  /**
   * Memory events kept between two takeTrace() calls; more are dropped and counted (in
   * `trace.dropped`, and apart in `trace.meta.droppedMemoryEvents`). @default 2000000
   */
  maxMemoryEvents?: number;
  /** Roofline peaks; by default those stored by `mlx-trace calibrate`, else a conservative guess. */
  peaks?: Peaks;
  /**
   * profile() and profileGeneration() leave what they record in place for takeTrace() as well,
   * instead of taking it out. The preload (mlx-trace/register) sets this so its trace holds all.
   * @default false
   */
  retainProfiles?: boolean;
  /** Send eval, layer and primitive spans to this provider (else the global one, if registered). */
  tracerProvider?: TracerProvider;
  /**
   * Record by steps, as torch.profiler does: the app calls `inst.step()` at the end of each step;
   * `skipFirst` steps, then cycles of `wait` (off), `warmup` (recorded, dropped) and `active`
   * (recorded, handed to onTraceReady as one trace), `repeat` times (0: always).
   */
  schedule?: ScheduleOptions;
  /** Called with each trace a schedule finishes (see traceFiles() for rotating files in a folder). */
  onTraceReady?: (trace: Trace) => void;
  /**
   * Flight-recorder mode: keep only the last `seconds` or `spans` of the recording in a bounded ring;
   * `inst.dump(path)` writes it. Not with a schedule.
   */
  flightRecorder?: FlightRecorderOptions;
  /**
   * Streaming recording: what is recorded goes to a .mlxtrace file as the app runs (a flush every
   * `flushMs` ms or `flushSpans` spans) and is let go, so memory stays flat; `inst.endStream()` (or the
   * process's exit) writes the end. The file grows as `path + ".partial"` and gets its name at the end;
   * a killed process leaves the .partial file, which loadTrace reads up to its last complete block.
   * Not with a schedule or flightRecorder.
   */
  stream?: StreamOptions;
}
