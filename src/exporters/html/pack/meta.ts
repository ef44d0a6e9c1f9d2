/**
 * What the report's head says about trace.meta: the facts shown as they are (timing, host, versions, peaks, other
 * scalars), the advisor's findings and the generation statistics. Spans these point at are located later (see
 * pointers.ts).
 */
import type { Trace } from '../../../core/model/trace';
import { CORE_META_KEYS, CORE_WAIT_NOTE_SHARE, PANEL_META_KEYS, PASS_META_KEYS, readCoreWait, type StoredGeneration } from '../../../core/model/meta';
import { describeCeilings } from '../../../core/cost/calibrate';
import type { Head, HeadFinding, HeadGeneration, HeadPasses } from '../format';
import { finiteNum, num, str } from './common';
import type { PassTable } from './spans';

/** Evidence spans located per finding (the advisor lists at most 500). */
const EVIDENCE_CAP = 2000;

export interface PackedAdvice {
  findings: HeadFinding[];
  /** Per finding, the ids of its evidence spans (left to locate in the span columns). */
  ids: number[][];
}

/** The findings as shown, and the ids of their evidence spans. */
export function packAdvice(advice: unknown): PackedAdvice {
  const findings: HeadFinding[] = [];
  const ids: number[][] = [];
  if (!Array.isArray(advice)) return { findings, ids };
  for (const a of advice.slice(0, 500)) {
    if (!a || typeof a !== 'object') continue;
    const r = a as Record<string, unknown>;
    const ev = Array.isArray(r.evidence) ? r.evidence.filter(finiteNum).slice(0, EVIDENCE_CAP) : [];
    findings.push({ rule: str(r.rule), severity: str(r.severity, 'info'), message: str(r.message), suggestion: str(r.suggestion), timeAtStake: num(r.timeAtStake),
      evidence: Array.isArray(r.evidence) ? r.evidence.length : 0, spans: [] });
    ids.push(ev);
  }
  return { findings, ids };
}

/** trace.meta.generation as the head shows it, or null when the trace has none. */
export function packGeneration(g: StoredGeneration | null): HeadGeneration | null {
  return g && { ...g, prefill: -1, tokens: [], tokenSpans: [] };
}

/** Other scalar entries of meta, as key/value pairs (at most 50). */
function packFacts(meta: Record<string, unknown>, multiPass: boolean): [string, string][] {
  const facts: [string, string][] = [];
  for (const [k, v] of Object.entries(meta)) {
    if (CORE_META_KEYS.has(k) || PANEL_META_KEYS.has(k)) continue;
    // The summary's Passes card says these.
    if (multiPass && PASS_META_KEYS.has(k)) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') facts.push([k, String(v)]);
    if (facts.length >= 50) break;
  }
  return facts;
}

/** head.meta: timing, host, versions, the roofline's peaks and the other facts. */
export function packHeadMeta(meta: Trace['meta'], multiPass: boolean): Head['meta'] {
  const host: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(meta.host ?? {})) if (typeof v === 'string' || typeof v === 'number') host[k] = v;
  const versions: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta.versions ?? {})) versions[k] = str(v);
  return {
    timing: str(meta.timing, 'unknown'),
    createdAt: str(meta.createdAt),
    fallbackReason: typeof meta.fallbackReason === 'string' ? meta.fallbackReason : null,
    coreWaitNs: readCoreWait(meta),
    coreWaitNoteShare: CORE_WAIT_NOTE_SHARE,
    host,
    versions,
    peaks: {
      flops: num(meta.peaks?.flops) ?? 0,
      bandwidth: num(meta.peaks?.bandwidth) ?? 0,
      source: str(meta.peaks?.source, 'unknown'),
      ...describeCeilings(meta.peaks),
    },
    facts: packFacts(meta as Record<string, unknown>, multiPass),
  };
}

/** head.passes from the (pass, warm-up) codes seen on spans, or null for a trace without passes. */
export function packPasses(passes: PassTable): HeadPasses | null {
  if (!passes.column) return null;
  const codes = passes.codes;
  const out: HeadPasses = {
    codes,
    measured: [...new Set(codes.filter((c) => !c.warmup).map((c) => c.pass))].sort((a, b) => a - b),
    warmup: [...new Set(codes.filter((c) => c.warmup).map((c) => c.pass))].sort((a, b) => a - b),
    wall: [],
  };
  if (out.measured.every((p) => passes.wall.has(p))) out.wall = out.measured.map((p) => passes.wall.get(p)!);
  return out;
}
