/**
 * Preload: `node --require mlx-trace/register app.js` or `node --import mlx-trace/register app.mjs`.
 * Registers the instrumentation before the app runs and streams the trace to trace.mlxtrace as the
 * app runs (docs/long-running.md: memory stays flat), ending the file when the process exits or is
 * ended by SIGINT, SIGTERM or SIGHUP (in $MLX_TRACE_OUT, default ./mlx-trace); until then it grows as
 * trace.mlxtrace.partial, which a killed process leaves behind and loadTrace reads. MLX_TRACE_STREAM=0
 * keeps everything in memory and writes trace.json at the end instead. `mlx-trace run` uses it and
 * renders the other files.
 * In a distributed job (MLX_TRACE_RANK, MLX_RANK or an MPI rank set) it writes trace.rank-N.mlxtrace
 * (or .json) with meta.rank = N instead, so ranks sharing a folder do not overwrite each other.
 */
import { mkdirSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { registerMlxInstrumentation } from './instrumentations/mlx/api';
import { handleEndingSignals } from './instrumentations/mlx/signals';
import { otelFromEnv } from './instrumentations/mlx/otel-env';
import { recordingFromEnv } from './instrumentations/mlx/env-config';
import { traceFiles } from './instrumentations/mlx/schedule';
import { saveTrace } from './core/io/persist';
import { distributedRank, rankTraceFile } from './core/analysis/merge';
import { streamTraceFile } from './instrumentations/mlx/stream';
import { liveFromEnv } from './instrumentations/mlx/live';

const outDir = resolve(process.env.MLX_TRACE_OUT || 'mlx-trace');
// MLX_TRACE_SCHEDULE / _KEEP / _FLIGHT: what to record, for how long.
const recording = recordingFromEnv();
for (const p of recording.problems) process.stderr.write(p + '\n');
const rank = distributedRank(process.env);
const name = (process.env.MLX_TRACE_NAME || process.argv[1]?.split(/[\\/]/).pop() || 'app') + (rank === null ? '' : ` rank ${rank}`);
// Ranks launched together (mlx.launch, mpirun) usually share a folder: one file each, for `mlx-trace merge`.
const jsonFile = rankTraceFile(rank);
// The whole run streams to a file as it goes, unless a schedule or flight recorder chooses what to keep.
const streamFile = !recording.schedule && !recording.flightRecorder && process.env.MLX_TRACE_STREAM !== '0' ? streamTraceFile(jsonFile) : null;
if (streamFile) mkdirSync(outDir, { recursive: true });
const inst = registerMlxInstrumentation({
  retainProfiles: true,
  ...(recording.schedule ? { schedule: recording.schedule, onTraceReady: traceFiles(outDir, { keep: recording.keep }) } : {}),
  ...(recording.flightRecorder ? { flightRecorder: recording.flightRecorder } : {}),
  ...(streamFile ? { stream: { path: join(outDir, streamFile), name, meta: traceMeta() } } : {}),
});
// OTEL_EXPORTER_OTLP_ENDPOINT and the rest: spans go out live, as from any OTel-instrumented app.
const env = otelFromEnv();
if (env.problem) process.stderr.write(env.problem + '\n');
const otel = env.otel;
if (otel) inst._useEnvProvider(otel.provider);
// MLX_TRACE_LIVE=PORT: a page that shows the app while it runs (mlx-trace run --live sets it).
const live = liveFromEnv(inst, process.env);
/** How long the end of the process waits for the last spans to reach the collector. */
const FLUSH_MS = 2000;
let written = false;

/** What the preload adds to the trace's meta: the app's command line, and its rank in a distributed job. */
function traceMeta(): Record<string, unknown> {
  return rank === null ? { argv: process.argv.slice(1) } : { argv: process.argv.slice(1), rank, pid: process.pid };
}

/** Writes the trace once, synchronously (so it works from 'exit' and from a signal handler). */
function writeTrace(): void {
  if (written) return;
  written = true;
  try {
    const extra = { ...traceMeta(), ...otelMeta() };
    const takenByApp = inst._takes;
    if (inst.streamPath !== null) {
      const spans = inst.endStream(otelMeta());
      if (spans === 0 && takenByApp > 0) {
        // As below: the app took everything itself, and an empty file would only hide its own.
        unlinkSync(inst.streamPath);
        process.stderr.write(`mlx-trace: no trace written to ${inst.streamPath}: the app took what was recorded with takeTrace() (${takenByApp} time${takenByApp === 1 ? '' : 's'}) and no span was recorded after\n`);
      } else if (!process.env.MLX_TRACE_QUIET) process.stderr.write(`mlx-trace: wrote ${inst.streamPath} (${spans} spans, timing: ${inst.timing})\n`);
      return;
    }
    const held = inst.recorder.mark();
    const file = join(outDir, jsonFile);
    if (takenByApp > 0 && held.spans + held.prims === 0) {
      // The app took everything itself (a few allocator events may follow): an empty file here would
      // only hide, or replace, the app's own.
      process.stderr.write(`mlx-trace: no trace written to ${file}: the app took what was recorded with takeTrace() (${takenByApp} time${takenByApp === 1 ? '' : 's'}) and no span was recorded after\n`);
      return;
    }
    if (recording.schedule) {
      // The schedule's windows are the trace: files in outDir, written as each window ended.
      if (!process.env.MLX_TRACE_QUIET) process.stderr.write(`mlx-trace: the schedule's windows are in ${outDir} (trace.N.mlxtrace)\n`);
      return;
    }
    mkdirSync(outDir, { recursive: true });
    // Flight-recorder mode writes its ring: the last seconds or spans, not all the run. The live view
    // records so when nothing else bounds the recording (MLX_TRACE_STREAM=0).
    let spans = held.spans + held.prims;
    if (recording.flightRecorder || (live && !streamFile)) spans = inst.dump(file, name);
    else saveTrace(inst.takeTrace(name, extra), file);
    if (!process.env.MLX_TRACE_QUIET) process.stderr.write(`mlx-trace: wrote ${file} (${spans} spans, timing: ${inst.timing})\n`);
  } catch (e) {
    process.stderr.write(`mlx-trace: could not write the trace: ${(e as Error).message}\n`);
  } finally {
    // What the live OTLP path lost, once, whatever became of the trace file.
    if (otel && otel.delivery().dropped > 0) process.stderr.write(otel.summary() + '\n');
  }
}

/** meta.otlpLive: what the live OTLP path delivered and lost, when OTEL_* sends spans live. */
function otelMeta(): Record<string, unknown> {
  return otel ? { otlpLive: otel.delivery() } : {};
}

// SIGUSR2 in flight-recorder mode: the ring to flight.N.mlxtrace, and recording goes on.
let dumps = 0;
if (recording.flightRecorder) {
  process.on('SIGUSR2', () => {
    const file = join(outDir, `flight.${++dumps}.mlxtrace`);
    try {
      mkdirSync(outDir, { recursive: true });
      process.stderr.write(`mlx-trace: dumped the flight recorder to ${file} (${inst.dump(file, `${name} flight ${dumps}`)} spans)\n`);
    } catch (e) {
      process.stderr.write(`mlx-trace: could not dump the flight recorder: ${(e as Error).message}\n`);
    }
  });
}

// 'exit' handlers must be synchronous; saveTrace is, so a process.exit() in the app loses nothing.
// First among them: the stream's own end (registered with the instrumentation) would end it without the live
// OTLP counts.
process.prependListener('exit', writeTrace);
handleEndingSignals(writeTrace, (signals, onPending) => inst._watchSignals(signals, onPending), otel ? () => otel.close(FLUSH_MS) : undefined);
// An app that ends by running out of work gets its last batch of spans sent (once: flushing schedules work).
if (otel) process.once('beforeExit', () => void otel.flush(FLUSH_MS));
