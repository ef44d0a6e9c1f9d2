/**
 * Merging the traces of a distributed job: each rank (process) records its own trace; mergeTraces puts
 * them into one Trace, with every span tagged by its rank so exporters can draw a process per rank.
 *
 * - Time: each trace's spans are relative to its own origin, a (monotonic ns, wall-clock epoch ns) pair
 *   taken when its recorder started. The merged origin is the earliest wall-clock origin; every other
 *   trace is shifted by the difference of wall clocks, computed exactly with BigInt. On one machine this
 *   lines spans up to within the few µs between the two clock reads; across machines it is as good as
 *   their clock sync (NTP: about a millisecond; PTP: µs).
 * - Ids: span ids are only unique within one trace, so each trace's ids (and the parentId / layerId that
 *   point at them) are offset by the largest id of the traces before it.
 * - Memory: each process's allocator is its own, so the merged memory track is the job's total live
 *   bytes (the sum of every rank's last known live bytes), in time order. Per-rank memory stays in the
 *   rank files.
 *
 * Pure function of its inputs: the traces given are not modified.
 */
import { TRACE_SCHEMA, type MemoryEvent, type Span, type Trace, type TraceMeta } from '../model/trace';
import { isEpochNs } from '../model/checks';
import { isRank, readRank, type RankInfo } from '../model/meta';

/** The span attribute holding a span's rank (exported to OTLP as `mlx.distributed.rank`). */
export const RANK_ATTR = 'distributed.rank';

export interface MergeOptions {
  /** Rank of each trace, in order. Default: meta.rank of each trace, else its spans' rank attribute, else its index. */
  ranks?: number[];
  /** Name of the merged trace. @default '<rank 0's name without its " rank 0"> (N ranks)' */
  name?: string;
}

export type { RankInfo } from '../model/meta';

/** The rank a trace says it is, or null: meta.rank, else the rank attribute its spans carry. */
export function traceRank(trace: Trace): number | null {
  const r = readRank(trace.meta);
  if (r !== null) return r;
  for (const s of trace.spans) {
    const a = s.attrs?.[RANK_ATTR];
    if (isRank(a)) return a;
  }
  return null;
}

/** This process's rank in a distributed job: MLX_TRACE_RANK, else what MLX's launchers set (ring: MLX_RANK; MPI). */
export function distributedRank(env: Record<string, string | undefined> = process.env): number | null {
  for (const key of ['MLX_TRACE_RANK', 'MLX_RANK', 'OMPI_COMM_WORLD_RANK', 'PMI_RANK']) {
    const v = env[key]?.trim();
    if (v !== undefined && /^\d+$/.test(v)) return Number(v);
  }
  return null;
}

/** The file a rank's preload writes: trace.json alone, trace.rank-N.json in a distributed job. */
export function rankTraceFile(rank: number | null): string {
  return rank === null ? 'trace.json' : `trace.rank-${rank}.json`;
}

/** Merges the traces of several processes (ranks) into one. Throws a one-line Error for bad input. */
export function mergeTraces(traces: Trace[], options: MergeOptions = {}): Trace {
  if (!Array.isArray(traces) || traces.length === 0) throw new Error('mergeTraces: give at least one trace');
  const { ranks: given } = options;
  if (given !== undefined) {
    if (given.length !== traces.length) throw new Error(`mergeTraces: ${given.length} ranks given for ${traces.length} traces`);
    for (const r of given) if (!isRank(r)) throw new Error(`mergeTraces: a rank must be a whole number >= 0, not ${String(r)}`);
  }
  const ranks = traces.map((t, i) => (given ? given[i] : traceRank(t) ?? i));
  const seen = new Map<number, number>();
  ranks.forEach((r, i) => {
    const j = seen.get(r);
    if (j !== undefined) throw new Error(`mergeTraces: traces ${j + 1} and ${i + 1} are both rank ${r} (give the ranks explicitly)`);
    seen.set(r, i);
  });

  const epochs = traces.map((t, i) => {
    const e = t.meta?.origin?.epochNs;
    if (!isEpochNs(e)) throw new Error(`mergeTraces: trace ${i + 1} (${t.name}) has no wall-clock origin (meta.origin.epochNs), so it cannot be lined up`);
    return BigInt(e);
  });
  let first = 0;
  for (let i = 1; i < epochs.length; i++) if (epochs[i] < epochs[first]) first = i;
  const shifts = epochs.map((e) => Number(e - epochs[first]));

  // Each rank's ids move up past every id used before it.
  const offsets: number[] = [];
  let offset = 0;
  for (const t of traces) {
    offsets.push(offset);
    let max = 0;
    for (const s of t.spans) if (s.id > max) max = s.id;
    offset += max;
  }

  // Ranks in order, so rank 0's spans come first whatever order the files were given in.
  const order = traces.map((_, i) => i).sort((a, b) => ranks[a] - ranks[b]);
  const spans: Span[] = [];
  for (const i of order) {
    const shift = shifts[i];
    const off = offsets[i];
    for (const s of traces[i].spans) {
      const m: Span = { ...s, id: s.id + off, parentId: s.parentId == null ? null : s.parentId + off, start: s.start + shift, end: s.end + shift };
      if (s.layerId != null) m.layerId = s.layerId + off;
      m.attrs = { ...s.attrs, [RANK_ATTR]: ranks[i] };
      spans.push(m);
    }
  }

  const info: RankInfo[] = order.map((i) => {
    const t = traces[i];
    return {
      rank: ranks[i],
      name: t.name,
      hostname: t.meta?.host?.hostname ?? '',
      timing: t.meta?.timing ?? 'unknown',
      originEpochNs: epochs[i].toString(),
      shiftNs: shifts[i],
      idOffset: offsets[i],
      spans: t.spans.length,
      dropped: t.dropped ?? 0,
    };
  });

  const base = traces[first].meta;
  const meta: TraceMeta = {
    timing: traces.every((t) => t.meta?.timing === 'native') ? 'native' : 'js',
    createdAt: traces.map((t) => t.meta?.createdAt).filter((c): c is string => typeof c === 'string').sort()[0] ?? new Date().toISOString(),
    origin: { monotonicNs: base.origin.monotonicNs, epochNs: epochs[first].toString() },
    host: base.host,
    versions: base.versions,
    peaks: base.peaks,
    ranks: info,
  };
  const fallback = traces.map((t, i) => (t.meta?.fallbackReason ? `rank ${ranks[i]}: ${t.meta.fallbackReason}` : '')).filter(Boolean);
  if (fallback.length > 0) meta.fallbackReason = fallback.join('; ');

  return {
    schema: TRACE_SCHEMA,
    name: options.name ?? `${String(traces[order[0]].name).replace(/ rank \d+$/, '')} (${traces.length} ranks)`,
    meta,
    spans,
    memory: mergeMemory(traces, shifts),
    dropped: traces.reduce((n, t) => n + (t.dropped ?? 0), 0),
  };
}

/** The job's live bytes over time: every rank's events in time order, live = sum of each rank's latest. */
function mergeMemory(traces: Trace[], shifts: number[]): MemoryEvent[] {
  const events: { t: number; k: number; m: MemoryEvent }[] = [];
  traces.forEach((t, k) => {
    for (const m of t.memory ?? []) events.push({ t: m.t + shifts[k], k, m });
  });
  // Stable: events of one rank at the same ns keep their order.
  events.sort((a, b) => a.t - b.t || a.k - b.k);
  const live = new Array<number>(traces.length).fill(0);
  let total = 0;
  return events.map(({ t, k, m }) => {
    total += m.live - live[k];
    live[k] = m.live;
    return m.op === undefined ? { t, delta: m.delta, live: total } : { t, delta: m.delta, live: total, op: m.op };
  });
}
