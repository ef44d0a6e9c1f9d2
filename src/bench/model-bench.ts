/**
 * Bit-Axon's benchmark suite on the demo transformer: for each sequence length, iterations of a
 * prefill of that many tokens followed by decoding one token at a time; tokens/s and latency
 * (mean ± std), peak memory from the allocator hooks, and on Linux CPU frequency and temperature
 * as counter tracks where they can be read. One trace holds it all:
 *
 *   user 'seq 128' > user 'pass 1' (or 'warmup 1') > user 'prefill' / 'token 1' ... > eval > primitives
 */
import { activeInstrumentation, registerMlxInstrumentation } from '../instrumentations/mlx/api';
import { childrenIndex, type MemoryEvent, type Span, type Trace } from '../core/model/trace';
import { createTransformer, DEMO_CONFIG, nextToken, type TransformerConfig } from '../demo/transformer';
import { collectGarbage, loadMlxModule, markPasses, stats, type BenchStats } from './runner';
import { findSensors, SensorSampler, type CounterTrack, type SensorAvailability } from './sysfs';

export interface BenchModelOptions {
  /** Prompt lengths. @default [32, 128, 512] */
  seqs?: number[];
  /** Measured iterations per length. @default 5 */
  iterations?: number;
  /** Warm-up iterations per length, kept in the trace (marked) and left out of the statistics. @default 2 */
  warmup?: number;
  /** Tokens decoded one at a time after each prefill. @default 16 */
  tokens?: number;
  /** @default DEMO_CONFIG */
  config?: TransformerConfig;
  /** The node-mlx module. @default the one the user's project has, else the one beside mlx-trace */
  mlx?: any;
  /** Sensor sampling period. @default 100 */
  sampleIntervalMs?: number;
  /** Root of the /sys and /proc trees to read sensors from (tests use a small fake tree). @default '/' */
  sensorsRoot?: string;
  /** Trace name. @default 'bench-model' */
  name?: string;
  /** Called after each iteration. */
  onProgress?: (done: number, total: number, what: string) => void;
}

/** Milliseconds. */
export type LatencyMs = BenchStats;

export interface BenchModelSeq {
  seq: number;
  /** The 'seq N' span. */
  spanId: number;
  iterations: number;
  prefill: { latencyMs: LatencyMs; tokensPerSec: number };
  /** Per-token decode latency over every measured token; tokensPerSec = tokens / their summed time. */
  decode: { tokens: number; latencyMs: LatencyMs; tokensPerSec: number };
  /** Highest live bytes the allocator hooks saw during this length's run (null without memory events). */
  peakMemoryBytes: number | null;
  /** That peak minus the live bytes when the run began: activations and KV cache. */
  activationBytes: number | null;
  cpuMHz: { mean: number; max: number } | null;
  temperatureC: { mean: number; max: number } | null;
}

export interface BenchModelMeta {
  suite: 'model';
  model: TransformerConfig;
  iterations: number;
  warmup: number;
  tokens: number;
  seqs: BenchModelSeq[];
  peakMemoryBytes: number | null;
  sensors: { frequency: SensorAvailability; temperature: SensorAvailability };
}

export interface BenchModelResult {
  trace: Trace;
  bench: BenchModelMeta;
}

export async function benchModel(opts: BenchModelOptions = {}): Promise<BenchModelResult> {
  const seqs = opts.seqs ?? [32, 128, 512];
  if (seqs.length === 0 || seqs.some((s) => !Number.isInteger(s) || s < 1)) throw new TypeError('benchModel: seqs must be positive whole numbers');
  const iterations = whole(opts.iterations ?? 5, 'iterations', 1);
  const warmup = whole(opts.warmup ?? 2, 'warmup', 0);
  const tokens = whole(opts.tokens ?? 16, 'tokens', 0);
  const cfg = opts.config ?? DEMO_CONFIG;
  const mlx = opts.mlx ?? loadMlxModule();
  const mx = mlx.core;
  const scan = findSensors(opts.sensorsRoot);
  const sampler = new SensorSampler(scan.sources, opts.sampleIntervalMs ?? 100);

  const owned = !activeInstrumentation();
  const inst = owned ? registerMlxInstrumentation() : activeInstrumentation()!;
  const rec = inst.recorder;
  let trace: Trace;
  let tracks: CounterTrack[] = [];
  try {
    // The model is built after registration, so its layers are instrumented; building it is not measured.
    const setup = rec.mark();
    const model = createTransformer(mlx, cfg);
    const prompts = new Map(seqs.map((L) => [L, mx.array([Array.from({ length: L }, (_, i) => (i * 7 + 3) % cfg.vocab)], mx.int32)]));
    mx.eval(...prompts.values());
    rec.take('setup', {}, setup);

    sampler.start();
    await sampler.ready;
    const start = rec.mark();
    const total = seqs.length * (warmup + iterations);
    let done = 0;
    for (const L of seqs) {
      const prompt = prompts.get(L);
      await inst.withSpan(
        `seq ${L}`,
        async () => {
          for (let i = 0; i < warmup + iterations; i++) {
            const warm = i < warmup;
            // Each iteration starts from a clean heap, so one's leftovers do not count in the next's peak.
            await collectGarbage();
            inst.withSpan(warm ? `warmup ${i + 1}` : `pass ${i - warmup + 1}`, () => generate(prompt), { pass: i, warmup: warm });
            opts.onProgress?.(++done, total, `seq ${L}`);
          }
        },
        { benchSeq: L },
      );
    }
    trace = rec.take(opts.name ?? 'bench-model', {}, start);
    tracks = await sampler.stop();

    function generate(prompt: any): void {
      const caches = model.newCache();
      let tok = inst.withSpan(
        'prefill',
        () => {
          const t = nextToken(mx, model.forward(prompt, caches));
          mx.eval(t);
          return t;
        },
        { phase: 'prefill', tokens: prompt.shape[1] },
      );
      for (let k = 1; k <= tokens; k++) {
        const prev = tok;
        tok = inst.withSpan(
          `token ${k}`,
          () => {
            const t = nextToken(mx, model.forward(prev, caches));
            mx.eval(t);
            return t;
          },
          { phase: 'decode', token: k },
        );
      }
    }
  } finally {
    await sampler.stop();
    if (owned) inst.disable();
  }

  const origin = trace.meta.origin.monotonicNs;
  const counters = tracks
    .filter((t) => t.samples.length > 0)
    .map((t) => ({ name: t.name, unit: t.unit, samples: t.samples.map(([ts, v]): [number, number] => [ts - origin, v]) }));
  if (counters.length) trace.counters = counters;

  markPasses(trace);
  const bench: BenchModelMeta = {
    suite: 'model',
    model: { ...cfg },
    iterations,
    warmup,
    tokens,
    seqs: summarizeSeqs(trace, counters),
    peakMemoryBytes: trace.memory.length ? Math.max(...trace.memory.map((m) => m.live)) : null,
    sensors: { frequency: scan.frequency, temperature: scan.temperature },
  };
  trace.meta.benchModel = bench;
  return { trace, bench };
}

function summarizeSeqs(trace: Trace, counters: CounterTrack[]): BenchModelSeq[] {
  const kids = childrenIndex(trace);
  // The table shows the mean frequency track (not the max one) and all temperature tracks together.
  const freq = counters.filter((c) => c.unit === 'MHz' && !c.name.includes('(max'));
  const temp = counters.filter((c) => c.unit === '°C');
  const out: BenchModelSeq[] = [];
  for (const s of trace.spans) {
    if (s.kind !== 'user' || typeof s.attrs?.benchSeq !== 'number') continue;
    const L = s.attrs.benchSeq;
    const passes = (kids.get(s.id) ?? []).filter((p) => p.kind === 'user' && typeof p.attrs?.pass === 'number' && !p.attrs.warmup);
    const prefill: number[] = [];
    const decode: number[] = [];
    for (const p of passes) {
      for (const k of kids.get(p.id) ?? []) {
        if (k.attrs?.phase === 'prefill') prefill.push(k.end - k.start);
        else if (k.attrs?.phase === 'decode') decode.push(k.end - k.start);
      }
    }
    if (prefill.length === 0) continue;
    const ms = (v: number[]) => scale(stats(v), 1e-6);
    const pre = ms(prefill);
    const dec = decode.length ? ms(decode) : { mean: 0, std: 0, min: 0, max: 0, p50: 0, p95: 0 };
    const decodeSec = decode.reduce((a, b) => a + b, 0) / 1e9;
    const mem = memoryIn(trace.memory, s);
    out.push({
      seq: L,
      spanId: s.id,
      iterations: passes.length,
      prefill: { latencyMs: pre, tokensPerSec: L / (pre.mean / 1e3) },
      decode: { tokens: decode.length, latencyMs: dec, tokensPerSec: decodeSec > 0 ? decode.length / decodeSec : 0 },
      peakMemoryBytes: mem.peak,
      activationBytes: mem.peak === null ? null : mem.peak - mem.before,
      cpuMHz: counterIn(freq, s),
      temperatureC: counterIn(temp, s),
    });
  }
  return out;
}

function memoryIn(memory: MemoryEvent[], s: Span): { peak: number | null; before: number } {
  let peak: number | null = null;
  let before: number | null = null;
  for (const m of memory) {
    if (m.t < s.start) before = m.live;
    else if (m.t <= s.end) {
      if (before === null) before = m.live - m.delta;
      peak = peak === null ? m.live : Math.max(peak, m.live);
    } else break;
  }
  return { peak, before: before ?? 0 };
}

/** Mean and max over the samples inside the span (all tracks of one kind together), or null. */
function counterIn(tracks: CounterTrack[], s: Span): { mean: number; max: number } | null {
  const vals: number[] = [];
  for (const t of tracks) for (const [ts, v] of t.samples) if (ts >= s.start && ts <= s.end) vals.push(v);
  if (vals.length === 0) return null;
  return { mean: vals.reduce((a, b) => a + b, 0) / vals.length, max: Math.max(...vals) };
}

function scale(st: BenchStats, k: number): BenchStats {
  return { mean: st.mean * k, std: st.std * k, min: st.min * k, max: st.max * k, p50: st.p50 * k, p95: st.p95 * k };
}

function whole(v: number, what: string, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new TypeError(`benchModel: ${what} must be a whole number >= ${min}, not ${v}`);
  return v;
}
