/**
 * Preload: `node --require mlx-trace/register app.js` or `node --import mlx-trace/register app.mjs`.
 * Registers the instrumentation before the app runs and writes trace.json when the process exits
 * (to $MLX_TRACE_OUT, default ./mlx-trace). `mlx-trace run` uses it and renders the other files.
 * In a distributed job (MLX_TRACE_RANK, MLX_RANK or an MPI rank set) it writes trace.rank-N.json with
 * meta.rank = N instead, so ranks sharing a folder do not overwrite each other.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { registerMlxInstrumentation } from './instrumentations/mlx/api';
import { saveTrace } from './core/io/persist';
import { distributedRank, rankTraceFile } from './core/analysis/merge';
import { liveFromEnv } from './instrumentations/mlx/live';

const inst = registerMlxInstrumentation({ retainProfiles: true });
// MLX_TRACE_LIVE=PORT: a page that shows the app while it runs (mlx-trace run --live sets it).
liveFromEnv(inst, process.env);
const outDir = resolve(process.env.MLX_TRACE_OUT || 'mlx-trace');
const rank = distributedRank(process.env);
const name = (process.env.MLX_TRACE_NAME || process.argv[1]?.split(/[\\/]/).pop() || 'app') + (rank === null ? '' : ` rank ${rank}`);
// Ranks launched together (mlx.launch, mpirun) usually share a folder: one file each, for `mlx-trace merge`.
const fileName = rankTraceFile(rank);
let written = false;

// 'exit' handlers must be synchronous; saveTrace is, so a process.exit() in the app loses nothing.
process.on('exit', () => {
  if (written) return;
  written = true;
  try {
    const trace = inst.takeTrace(name, rank === null ? { argv: process.argv.slice(1) } : { argv: process.argv.slice(1), rank, pid: process.pid });
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, fileName);
    saveTrace(trace, file);
    if (!process.env.MLX_TRACE_QUIET) process.stderr.write(`mlx-trace: wrote ${file} (${trace.spans.length} spans, timing: ${trace.meta.timing})\n`);
  } catch (e) {
    process.stderr.write(`mlx-trace: could not write the trace: ${(e as Error).message}\n`);
  }
});
