/**
 * The optional sections of trace.meta, beside the fields every trace has (TraceMeta): each section's
 * key, the shape writers store under it, and one reader that returns it checked, or null when the trace
 * has none or it is not of that shape. Readers go through these; nothing parses trace.meta again.
 * Writers set the same keys with the same values, so saved files do not change.
 */
import type { TraceMeta } from './trace';

/** The fields every trace's meta has (loadTrace checks them); everything else is a section or a free fact. */
export const CORE_META_KEYS: ReadonlySet<string> = new Set(['timing', 'createdAt', 'origin', 'host', 'versions', 'peaks', 'fallbackReason']);

/** Sections that views show in their own panels, not as plain key/value facts. */
export const PANEL_META_KEYS: ReadonlySet<string> = new Set(['advice', 'generation', 'passStats', 'coreWaitNs']);

// ---- meta.coreWaitNs: how long the threads that ran the primitives waited for a CPU core (core-wait.ts).

/**
 * The share of busy time from which views say, beside coverage, how long MLX's thread waited for a
 * core: below it the wait explains too little of a low coverage to be worth a line.
 */
export const CORE_WAIT_NOTE_SHARE = 0.02;

/** ns MLX's threads waited for a core while runnable during the recording, or null when not known. */
export function readCoreWait(meta: TraceMeta | undefined): number | null {
  const w = (meta as Record<string, unknown> | undefined)?.coreWaitNs;
  return typeof w === 'number' && Number.isFinite(w) && w >= 0 ? w : null;
}

// ---- meta.advice: the advisor's findings, written by the CLI before export so every view shows the same list.

export type AdviceSeverity = 'info' | 'warning' | 'critical';

/** One stored finding (the advisor's Finding). */
export interface AdviceFinding {
  rule: string;
  severity: AdviceSeverity;
  /** What was seen, in plain language with the numbers that show it. */
  message: string;
  /** Ids of the spans that show the problem. */
  evidence: number[];
  /** What to change. */
  suggestion: string;
  /** Nanoseconds the fix could save by the rule's estimate. */
  timeAtStake: number;
}

/**
 * The stored findings as a list (entries are the writer's; views check each one they show), or null
 * when the advisor has not run on this trace.
 */
export function readAdvice(meta: TraceMeta | undefined): readonly unknown[] | null {
  const a = (meta as Record<string, unknown> | undefined)?.advice;
  return Array.isArray(a) ? a : null;
}

// ---- meta.generation: profileGeneration's figures.

export interface GenerationStats {
  promptTokens: number;
  generatedTokens: number;
  timeToFirstTokenMs: number;
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
  tokenLatencyMs: { p50: number; p95: number; mean: number; min: number; max: number };
}

/** GenerationStats as read from a file: each figure a finite number, or null where the file has none. */
export interface StoredGeneration {
  promptTokens: number | null;
  generatedTokens: number | null;
  timeToFirstTokenMs: number | null;
  prefillTokensPerSec: number | null;
  decodeTokensPerSec: number | null;
  tokenLatencyMs: { p50: number | null; p95: number | null; mean: number | null; min: number | null; max: number | null };
}

const finite = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** meta.generation with every figure checked, or null when the trace has no generation section. */
export function readGeneration(meta: TraceMeta | undefined): StoredGeneration | null {
  const g = (meta as Record<string, unknown> | undefined)?.generation;
  if (!g || typeof g !== 'object') return null;
  const r = g as Record<string, unknown>;
  const lat = (r.tokenLatencyMs && typeof r.tokenLatencyMs === 'object' ? r.tokenLatencyMs : {}) as Record<string, unknown>;
  return {
    promptTokens: finite(r.promptTokens),
    generatedTokens: finite(r.generatedTokens),
    timeToFirstTokenMs: finite(r.timeToFirstTokenMs),
    prefillTokensPerSec: finite(r.prefillTokensPerSec),
    decodeTokensPerSec: finite(r.decodeTokensPerSec),
    tokenLatencyMs: { p50: finite(lat.p50), p95: finite(lat.p95), mean: finite(lat.mean), min: finite(lat.min), max: finite(lat.max) },
  };
}

// ---- meta.rank / meta.ranks: distributed runs.

/** A rank as traces store it: a non-negative whole number. */
export const isRank = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** The rank a trace's meta names (the preload writes it), or null. */
export function readRank(meta: TraceMeta | undefined): number | null {
  const r = (meta as Record<string, unknown> | undefined)?.rank;
  return isRank(r) ? r : null;
}

/** What a merged trace's meta.ranks says about each input. */
export interface RankInfo {
  rank: number;
  name: string;
  hostname: string;
  timing: string;
  /** The rank's own wall-clock origin (ns since epoch, decimal string). */
  originEpochNs: string;
  /** How far its spans were moved to line up with the merged origin (ns). */
  shiftNs: number;
  /** Added to its span ids to keep them unique. */
  idOffset: number;
  spans: number;
  dropped: number;
}

/** A merged trace's ranks, or an empty list for a trace that is not a merge. */
export function readRanks(meta: TraceMeta | undefined): readonly RankInfo[] {
  const r = (meta as Record<string, unknown> | undefined)?.ranks;
  return Array.isArray(r) ? r.filter((x): x is RankInfo => !!x && typeof x === 'object' && isRank((x as RankInfo).rank)) : [];
}

// ---- meta.passes / meta.warmup: profile()'s pass counts (also on each span as `pass` / `warmup`).

/** Facts a multi-pass view shows in its own card rather than as key/value pairs. */
export const PASS_META_KEYS: ReadonlySet<string> = new Set(['passes', 'warmup']);

// ---- meta.passStats, meta.bench, meta.benchModel: written for the dashboard and for tools reading the
// file (withPassStats, benchOps, benchModel); their shapes are those functions' result types.

// ---- meta.otlpLive: what the live OpenTelemetry path (the preload's OTEL_* provider) delivered and lost.

/**
 * The live OTLP pipeline's count of MLX spans, as the preload writes it when OTEL_* sends spans live.
 * `spans` = `sent` + `dropped`; `dropped` = `queueFull` + `unsent` + `exportFailed` + `unanswered`.
 */
export interface OtlpLiveDelivery {
  /** MLX spans that ended and went to the batch processor. */
  spans: number;
  /** Spans in exports the collector accepted. */
  sent: number;
  /** Spans the collector never accepted. */
  dropped: number;
  /** Spans that ended while the queue was full, so never queued. */
  queueFull: number;
  /**
   * Spans not sent before the process ended: still queued (the flush at shutdown ran out of time, or never ran:
   * a process.exit() in the app), or ended while a signal's last flush ran.
   */
  unsent: number;
  /** Spans in exports that failed (collector down, refused, timed out). */
  exportFailed: number;
  /** Spans in exports still unanswered when the process ended. */
  unanswered: number;
  /** The last export error, when one failed. */
  error?: string;
}

/** meta.otlpLive with every count checked, or null when the trace has none (no live OTLP path). */
export function readOtlpLive(meta: TraceMeta | undefined): OtlpLiveDelivery | null {
  const o = (meta as Record<string, unknown> | undefined)?.otlpLive;
  if (!o || typeof o !== 'object') return null;
  const r = o as Record<string, unknown>;
  const count = (x: unknown) => (typeof x === 'number' && Number.isInteger(x) && x >= 0 ? x : null);
  const n = { spans: count(r.spans), sent: count(r.sent), dropped: count(r.dropped), queueFull: count(r.queueFull), unsent: count(r.unsent), exportFailed: count(r.exportFailed), unanswered: count(r.unanswered) };
  if (Object.values(n).some((v) => v === null)) return null;
  return { ...(n as Record<keyof typeof n, number>), ...(typeof r.error === 'string' ? { error: r.error } : {}) };
}
