/** What the advisor reports: findings, their rules and severities, and the thresholds the rules use. */

export type Severity = 'info' | 'warning' | 'critical';

/** Rule ids, stable across versions (the dashboard and `mlx-trace view --advice` key on them). */
export type AdviceRule =
  | 'type-promotion'
  | 'unfused-op'
  | 'eval-too-often'
  | 'graph-too-large'
  | 'recompile'
  | 'memory-peak'
  | 'large-temporary'
  | 'broadcast-copy';

export interface Finding {
  rule: AdviceRule;
  severity: Severity;
  /** What was seen, in plain language with the numbers that show it. */
  message: string;
  /** Ids of the spans that show the problem (in time order; at most MAX_EVIDENCE). */
  evidence: number[];
  /** What to change. */
  suggestion: string;
  /** Nanoseconds the fix could save by the rule's estimate (0 for memory findings). */
  timeAtStake: number;
}

/** Thresholds, named so tests and docs can refer to them. */
export const ADVISOR_LIMITS = {
  /** Primitives a pattern may span inside one (eval, layer) group. */
  window: 32,
  /** Spans listed as evidence per finding; the message gives the full count. */
  maxEvidence: 500,
  /** An eval or sync point with at most this many primitives is "small"... */
  smallEvalPrimitives: 8,
  /** ...and this many small ones in a row, in the same step, is evaluating too often. */
  smallEvalRun: 8,
  /** Primitives in one eval above which the graph is too large. */
  graphPrimitives: 10_000,
  /** A Compiled primitive this slow, and >= jitFactor x its bandwidth time, was (re)building its kernel. */
  jitMinNs: 20e6,
  jitFactor: 100,
  /** Peak live memory this far above the working set (ratio and bytes) is reported. */
  peakRatio: 2,
  peakMinExcess: 64 * 2 ** 20,
  /** One array this large, and >= tempFactor x the live bytes before its eval, is a large temporary. */
  tempMinBytes: 16 * 2 ** 20,
  tempFactor: 4,
  /** A reshape of a broadcast whose median takes this long copied (a view takes a fraction of a microsecond)... */
  copyMinNs: 2_000,
  /** ...and such copies are reported from this share of busy time. */
  copyMinShare: 0.01,
  /** Share of the program's MLX time for 'warning' and 'critical'. */
  warnShare: 0.05,
  criticalShare: 0.2,
} as const;
