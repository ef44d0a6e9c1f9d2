/**
 * Preload: `node --require mlx-trace/register app.js` or `node --import mlx-trace/register app.mjs`.
 * Registers the instrumentation before the app runs and writes trace.json when the process exits
 * (to $MLX_TRACE_OUT, default ./mlx-trace). `mlx-trace run` uses it and renders the other files.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { registerMlxInstrumentation } from './core/api';
import { saveTrace } from './core/persist';

const inst = registerMlxInstrumentation();
const outDir = resolve(process.env.MLX_TRACE_OUT || 'mlx-trace');
const name = process.env.MLX_TRACE_NAME || process.argv[1]?.split(/[\\/]/).pop() || 'app';
let written = false;

// 'exit' handlers must be synchronous; saveTrace is, so a process.exit() in the app loses nothing.
process.on('exit', () => {
  if (written) return;
  written = true;
  try {
    const trace = inst.takeTrace(name, { argv: process.argv.slice(1) });
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, 'trace.json');
    saveTrace(trace, file);
    if (!process.env.MLX_TRACE_QUIET) process.stderr.write(`mlx-trace: wrote ${file} (${trace.spans.length} spans, timing: ${trace.meta.timing})\n`);
  } catch (e) {
    process.stderr.write(`mlx-trace: could not write the trace: ${(e as Error).message}\n`);
  }
});
