/**
 * The packed form of a trace inside an HTML report, shared by the packer (Node) and the page's script.
 * Small things travel as JSON ("head"); per-span and per-event data travel as little-endian typed-array columns,
 * base64 in their own <script type="application/octet-stream"> elements, so a million spans cost a few bytes each
 * and the page decodes them without parsing one object per event.
 */

import type { StoredGeneration } from '../../core/model/meta';

export type ColumnType = 'f64' | 'f32' | 'u32' | 'u16' | 'u8';

export interface ColumnDesc {
  /** Element id suffix: the column lives in <script id="mlx-col-{id}">. */
  id: string;
  type: ColumnType;
  length: number;
}

export interface HeadLane {
  device: string;
  thread: number;
  /** Number of flame rows (max nesting depth + 1). */
  rows: number;
}

export interface HeadFinding {
  rule: string;
  severity: string;
  message: string;
  suggestion: string;
  /** ns the finding puts at stake, when the advisor gives it. */
  timeAtStake: number | null;
  /** Evidence span ids the finding lists. */
  evidence: number;
  /** Where those spans are in the span columns (ascending; ids not found in the trace are left out). */
  spans: number[];
}

/** trace.meta.generation (profileGeneration), with the token spans located in the span columns. */
export interface HeadGeneration extends StoredGeneration {
  /** The 'prefill' user span's position in the span columns, or -1. */
  prefill: number;
  /** Decode token spans: token numbers and positions in the span columns, in token order. */
  tokens: number[];
  tokenSpans: number[];
}

/** Multi-pass profiles (spans with `pass` / `warmup`): the span column 'pass' holds an index into codes + 1. */
export interface HeadPasses {
  /** Distinct (pass, warmup) pairs seen on spans; code k + 1 in the 'pass' column means codes[k]. */
  codes: { pass: number; warmup: boolean }[];
  /** Measured pass numbers (ascending) and warm-up pass numbers. */
  measured: number[];
  warmup: number[];
  /** Wall time of the pass spans profile() opens, per measured pass (summed over spans of the same pass number), in pass order (empty when absent). */
  wall: number[];
}

/** A sampled counter track (trace.counters): its points are counterT/counterV[offset .. offset + count). */
export interface HeadCounter {
  name: string;
  unit: string;
  offset: number;
  count: number;
  /** Samples in the trace before any downsampling. */
  sourceCount: number;
  min: number;
  max: number;
}

export interface HeadMemory {
  /** Points in the packed columns memT/memLive. */
  count: number;
  /** Events in the trace before any downsampling. */
  sourceCount: number;
  /** True when the curve was reduced to per-bucket extremes to keep the file small. */
  downsampled: boolean;
  /** Exact peak over all events, and when it happened (ns). */
  peak: number;
  peakT: number;
}

/** Span kinds by their code in the sigKind column. */
export const KIND_CODES = ['eval', 'layer', 'primitive', 'sync', 'user'] as const;

export interface Head {
  v: 1;
  name: string;
  dropped: number;
  /** Spans left out because their times were not numbers. */
  skipped: number;
  meta: {
    timing: string;
    createdAt: string;
    fallbackReason: string | null;
    /** ns MLX's threads waited for a CPU core while runnable (trace meta.coreWaitNs); null when unknown. */
    coreWaitNs: number | null;
    /** The share of busy time from which the wait is said beside coverage (CORE_WAIT_NOTE_SHARE). */
    coreWaitNoteShare: number;
    host: Record<string, string | number>;
    versions: Record<string, string>;
    /** The roofline's ceilings, where they come from, and how views say so (describeCeilings). */
    peaks: { flops: number; bandwidth: number; source: string; measured: boolean; label: string; note: string };
    /** Other scalar facts from trace.meta (passes, warmup...), shown as key/value pairs. */
    facts: [string, string][];
  };
  advice: HeadFinding[];
  /** Whether the trace says the advisor ran (meta.advice present), so "none" can be told from "not run". */
  adviceRan: boolean;
  generation: HeadGeneration | null;
  passes: HeadPasses | null;
  /**
   * Busy time of the measured spans (core/analysis/aggregate.ts: evals, asyncEval work, syncs) and the primitive
   * time inside it: the base of every share and of coverage. Null when it could not be computed.
   */
  busy: { ns: number; coveredNs: number } | null;
  counters: HeadCounter[];
  /** Interned strings: op names, shape and dtype descriptions, layer paths. */
  strings: string[];
  /** Time range of the spans (ns since meta.origin). */
  t0: number;
  t1: number;
  spanCount: number;
  kinds: readonly string[];
  /** Category ids and labels; sigCat holds indexes into this list. */
  categories: { id: string; label: string }[];
  lanes: HeadLane[];
  /** Flame rows: lane index and depth per row, and where each row's spans start in the span columns (rows + 1 entries). */
  rowLane: number[];
  rowDepth: number[];
  rowOffset: number[];
  /** Distinct (kind, name, shapes, dtype, flops, bytes) combinations: the sig* columns have this length. */
  sigCount: number;
  /** Layer paths as string ids; the span column 'layer' holds index + 1 (0 = no layer). */
  layers: number[];
  memory: HeadMemory | null;
  /**
   * Span ids travel only for the spans a view points at (findings' evidence, generation tokens): the columns idPos
   * (positions, ascending) and idVal hold them, so the report can name a span as trace.json and the Chrome export do.
   */
  columns: ColumnDesc[];
}
