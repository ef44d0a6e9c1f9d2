import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatDuration } from '../../exporters/terminal/format';
import { mergeTraces } from '../../core/analysis/merge';
import { readRanks } from '../../core/model/meta';
import { loadTrace, saveTrace } from '../../core/io/persist';
import { exportChromeTrace } from '../../exporters/chrome';
import { UsageError, out } from '../ui';
import type { Command } from './index';
import { writeOutput } from './outputs';

export const mergeCommand: Command = {
  summary: 'merge the traces of several processes (ranks of a distributed job) into one',
  help: `Usage: mlx-trace merge FILE|DIR... [-o OUT] [--chrome OUT.chrome-trace.json] [--ranks 0,1,...] [--name NAME]

Each rank of a distributed job writes its own trace (the preload writes trace.rank-N.json when
MLX_TRACE_RANK, MLX_RANK or an MPI rank is set). merge lines them up on their wall-clock origins,
keeps every span id unique, tags each span with its rank (mlx.distributed.rank) and writes one trace;
its Chrome trace shows one process per rank. A folder stands for the trace.rank-*.json files in it,
or its trace.json.

Options:
  -o, --out FILE   merged trace (default: merged.json)
  --chrome FILE    also write the merged Chrome trace (Perfetto UI, chrome://tracing)
  --ranks LIST     rank of each input, in order (default: the rank each trace records, else its position)
  --name NAME      name of the merged trace`,
  options: { out: { type: 'string', short: 'o' }, chrome: { type: 'string' }, ranks: { type: 'string' }, name: { type: 'string' } },
  async run(values, positionals) {
    if (positionals.length === 0) throw new UsageError('give the rank traces to merge: mlx-trace merge a.json b.json -o merged.json');
    const files = positionals.flatMap(expandInput);
    const ranks = values.ranks === undefined ? undefined : parseRanks(values.ranks, files.length);
    const traces = files.map((f) => loadTrace(f));
    let merged;
    try {
      merged = mergeTraces(traces, { ranks, name: values.name });
    } catch (e) {
      // Two files claiming one rank, a trace without a wall-clock origin: the input's fault, exit 2.
      throw new UsageError((e as Error).message.replace(/^mergeTraces: /, ''));
    }
    const target = resolve(values.out ?? 'merged.json');
    await writeOutput(target, files, () => saveTrace(merged, target));
    out(`merged ${files.length} trace${files.length === 1 ? '' : 's'} (${merged.spans.length.toLocaleString('en-US')} spans) into ${target}`);
    for (const r of readRanks(merged.meta)) {
      const start = r.shiftNs === 0 ? 'started first' : `started ${formatDuration(r.shiftNs)} later`;
      out(`  rank ${r.rank}: ${r.name} · ${r.spans.toLocaleString('en-US')} spans · ${r.hostname} · ${start}`);
    }
    if (values.chrome) {
      const chrome = resolve(values.chrome);
      await writeOutput(chrome, files, () => exportChromeTrace(merged, chrome));
      out(`wrote ${chrome} (one process per rank)`);
    }
    return 0;
  },
};

/**
 * A file stays a file; a folder becomes its trace.rank-*.mlxtrace or .json files (in rank order),
 * else its trace.mlxtrace or trace.json (the preload streams to .mlxtrace; MLX_TRACE_STREAM=0 writes .json).
 */
function expandInput(p: string): string[] {
  if (!existsSync(p) || !statSync(p).isDirectory()) return [p];
  const rankFiles = readdirSync(p)
    .map((f) => /^trace\.rank-(\d+)\.(mlxtrace|json)$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((m) => join(p, m[0]));
  if (rankFiles.length > 0) return rankFiles;
  for (const f of ['trace.mlxtrace', 'trace.json']) if (existsSync(join(p, f))) return [join(p, f)];
  throw new UsageError(`${p} is a folder with no trace.mlxtrace, trace.json or trace.rank-N file in it`);
}

function parseRanks(text: string, count: number): number[] {
  const ranks = text.split(',').map((s) => s.trim());
  if (ranks.some((r) => !/^\d+$/.test(r))) throw new UsageError(`--ranks must be whole numbers separated by commas, not "${text}"`);
  if (ranks.length !== count) throw new UsageError(`--ranks lists ${ranks.length} ranks for ${count} traces`);
  return ranks.map(Number);
}
