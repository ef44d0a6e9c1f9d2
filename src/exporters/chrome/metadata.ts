/**
 * What the Chrome exporter writes around the slices: process and thread names and sort order, each lane's
 * tid, the counter series' constant pieces, and the file's otherData.
 */
import type { Trace } from '../../core/model/trace';
import { utf8 } from '../../core/io/json-bytes';
import { type CounterSeries, type LaidTrack, processId, processName, trackProcesses, type TrackLayout } from '../shared/track-layout';
import { CHROME_PID, type ChromeTraceEvent, type ChromeTraceStats } from './types';

/** A counter series as written: the series, its series key (the unit), and its constant JSON pieces encoded once. */
export interface ChromeCounter {
  series: CounterSeries;
  key: string;
  head: Uint8Array;
  mid: Uint8Array;
}

/** tid per lane: the OS thread id for lane 0, fresh ids above every real one for overflow lanes. */
export function laneTids(layout: TrackLayout): Int32Array {
  let next = 0;
  for (const t of layout.tracks) next = Math.max(next, t.thread);
  next++;
  const tids = new Int32Array(layout.tracks.length);
  for (const t of layout.tracks) tids[t.index] = t.lane === 0 ? t.thread : next++;
  return tids;
}

/** A series' key is its unit ('MHz', '°C'), or 'value' when it has none: viewers label the series by it. */
export function chromeCounter(series: CounterSeries): ChromeCounter {
  const key = series.unit || 'value';
  return {
    series,
    key,
    head: utf8(`{"name":${JSON.stringify(series.name)},"ph":"C","ts":`),
    mid: utf8(`,"pid":${CHROME_PID.cpu},"args":{${JSON.stringify(key)}:`),
  };
}

export function metadataEvents(trace: Trace, layout: TrackLayout, tids: Int32Array, hasCounters: boolean): ChromeTraceEvent[] {
  const out: ChromeTraceEvent[] = [];
  const processes = trackProcesses(layout.tracks);
  // The memory counter and the counter tracks live in the cpu process (pid 1), so name it even when no span ran there.
  if ((trace.memory.length > 0 || hasCounters) && !processes.some((p) => p.pid === CHROME_PID.cpu)) processes.unshift({ rank: null, device: 'cpu', pid: CHROME_PID.cpu });
  const merged = processes.some((p) => p.rank !== null);
  for (const { rank, device, pid } of processes) {
    // In a merged trace pid 1 holds only the job-wide memory counter.
    const name = merged && rank === null ? `${trace.name || 'mlx'} (all ranks)` : processName(trace.name, rank, device);
    out.push({ name: 'process_name', ph: 'M', pid, args: { name } });
    out.push({ name: 'process_sort_index', ph: 'M', pid, args: { sort_index: pid } });
  }
  for (const t of layout.tracks) out.push(...threadMetadata(t, tids[t.index]));
  return out;
}

function threadMetadata(t: LaidTrack, tid: number): ChromeTraceEvent[] {
  const pid = processId(t.rank, t.device);
  return [
    { name: 'thread_name', ph: 'M', pid, tid, args: { name: t.name } },
    { name: 'thread_sort_index', ph: 'M', pid, tid, args: { sort_index: t.sortIndex } },
  ];
}

export function otherData(trace: Trace, stats: ChromeTraceStats): Record<string, string | number> {
  const m = trace.meta;
  return {
    name: trace.name,
    schema: trace.schema,
    timing: m?.timing,
    createdAt: m?.createdAt,
    originEpochNs: m?.origin?.epochNs,
    host: m?.host ? `${m.host.hostname} ${m.host.platform}/${m.host.arch} ${m.host.cpuModel}` : '',
    mlx: m?.versions?.mlx,
    node: m?.versions?.node,
    mlxTrace: m?.versions?.mlxTrace,
    dropped: trace.dropped ?? 0,
    overflowedSpans: stats.overflowed,
    skippedSpans: stats.skipped,
    // Present when something precedes the origin: every ts is then (ns since origin + timeShiftNs) / 1000.
    ...(stats.shift > 0 ? { timeShiftNs: stats.shift } : {}),
  };
}
