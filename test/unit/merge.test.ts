/**
 * Distributed traces: mergeTraces on hand-made rank traces (exact arithmetic), then three real processes on
 * this machine, each profiling an MLX program through the preload as one rank, merged with `mlx-trace merge`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distributedRank, mergeTraces, RANK_ATTR, rankTraceFile, traceRank, type RankInfo } from '../../src/core/analysis/merge';
import { loadTrace } from '../../src/core/io/persist';
import type { Span, Trace } from '../../src/core/model/trace';
import { toChromeTraceEvents, type ChromeTraceEvent } from '../../src/exporters/chrome';
import { exportOtlp } from '../../src/exporters/otlp';
import { perfettoSchema, toPerfetto } from '../../src/exporters/perfetto';
import { baseEnv, buildCli, FIXTURES, runCli } from '../helpers/cli';
import { startOtlpReceiver } from '../helpers/otlp-receiver';
import { syntheticTrace } from '../helpers/synthetic-trace';

/** A synthetic rank trace whose wall-clock origin is `epochNs`. */
function rankTrace(seed: number, epochNs: string, meta: Record<string, unknown> = {}): Trace {
  const t = syntheticTrace({ seed, steps: 2, name: `rank trace ${seed}` });
  t.meta = { ...t.meta, origin: { monotonicNs: 1_000 * seed, epochNs }, ...meta };
  return t;
}

const rankOf = (s: Span) => s.attrs?.[RANK_ATTR];

/** pid -> process name, and every slice, of a Chrome trace. */
function chromeProcesses(events: ChromeTraceEvent[]) {
  const names = new Map<number, string>();
  for (const e of events) if (e.name === 'process_name') names.set(e.pid, String((e.args as { name: string }).name));
  return { names, slices: events.filter((e) => e.ph === 'X') };
}

describe('mergeTraces', () => {
  const epochs = ['1735787045000000000', '1735787045000250000', '1735787044999900000'];
  const inputs = () => epochs.map((e, i) => rankTrace(i + 1, e, { rank: i }));

  it('keeps every span, tags its rank, and keeps ids unique with links remapped inside each rank', () => {
    const traces = inputs();
    const merged = mergeTraces(traces);
    expect(merged.spans).toHaveLength(traces.reduce((n, t) => n + t.spans.length, 0));
    const ids = new Set(merged.spans.map((s) => s.id));
    expect(ids.size).toBe(merged.spans.length);
    const byId = new Map(merged.spans.map((s) => [s.id, s]));
    for (const s of merged.spans) {
      expect([0, 1, 2]).toContain(rankOf(s));
      if (s.parentId != null) expect(rankOf(byId.get(s.parentId)!)).toBe(rankOf(s));
      if (s.layerId != null) {
        const layer = byId.get(s.layerId)!;
        expect(layer.kind).toBe('layer');
        expect(rankOf(layer)).toBe(rankOf(s));
        expect(layer.name.replace(/ \(.*\)$/, '')).toBe(s.layer);
      }
    }
    // Rank order, whatever the input order.
    const firstOf = (r: number) => merged.spans.findIndex((s) => rankOf(s) === r);
    expect(firstOf(0)).toBeLessThan(firstOf(1));
    expect(firstOf(1)).toBeLessThan(firstOf(2));
  });

  it('lines ranks up on their wall-clock origins, to the nanosecond', () => {
    const traces = inputs();
    const merged = mergeTraces(traces);
    // The earliest origin (rank 2, 100 µs before rank 0) becomes the merged origin.
    expect(merged.meta.origin.epochNs).toBe(epochs[2]);
    const shifts = [100_000, 350_000, 0];
    expect((merged.meta.ranks as RankInfo[]).map((r) => [r.rank, r.shiftNs])).toEqual([[0, 100_000], [1, 350_000], [2, 0]]);
    for (let r = 0; r < 3; r++) {
      const mine = merged.spans.filter((s) => rankOf(s) === r);
      expect(mine.map((s) => [s.start - shifts[r], s.end - shifts[r]])).toEqual(traces[r].spans.map((s) => [s.start, s.end]));
      // Same instant in wall-clock terms: merged origin + merged start == rank origin + rank start.
      const a = BigInt(merged.meta.origin.epochNs) + BigInt(mine[0].start);
      const b = BigInt(epochs[r]) + BigInt(traces[r].spans[0].start);
      expect(a).toBe(b);
    }
  });

  it('sums live bytes across ranks into one job-wide memory track', () => {
    const traces = inputs();
    const merged = mergeTraces(traces);
    expect(merged.memory).toHaveLength(traces.reduce((n, t) => n + t.memory.length, 0));
    for (let i = 1; i < merged.memory.length; i++) expect(merged.memory[i].t).toBeGreaterThanOrEqual(merged.memory[i - 1].t);
    const peakOf = (t: Trace) => Math.max(...t.memory.map((m) => m.live));
    const peak = peakOf(merged);
    expect(peak).toBeGreaterThanOrEqual(Math.max(...traces.map(peakOf)));
    expect(peak).toBeLessThanOrEqual(traces.reduce((n, t) => n + peakOf(t), 0));
    expect(merged.memory[merged.memory.length - 1].live).toBe(0); // every rank freed everything
  });

  it('does not modify its inputs', () => {
    const traces = inputs();
    const before = structuredClone(traces);
    mergeTraces(traces);
    expect(traces).toEqual(before);
  });

  it('takes ranks from options, meta.rank, span attributes, else position', () => {
    const plain = () => [rankTrace(1, epochs[0]), rankTrace(2, epochs[1])];
    const ranksOf = (m: Trace) => (m.meta.ranks as RankInfo[]).map((r) => r.rank);
    expect(ranksOf(mergeTraces(plain()))).toEqual([0, 1]);
    expect(ranksOf(mergeTraces(plain(), { ranks: [5, 3] }))).toEqual([3, 5]);
    const tagged = plain();
    for (const s of tagged[0].spans) s.attrs = { ...s.attrs, [RANK_ATTR]: 7 };
    expect(traceRank(tagged[0])).toBe(7);
    expect(ranksOf(mergeTraces(tagged))).toEqual([1, 7]);
    expect(ranksOf(mergeTraces([rankTrace(1, epochs[0], { rank: 4 }), rankTrace(2, epochs[1], { rank: 2 })]))).toEqual([2, 4]);
  });

  it('refuses two traces of one rank, and a trace without a wall-clock origin, in one line', () => {
    expect(() => mergeTraces([rankTrace(1, epochs[0], { rank: 1 }), rankTrace(2, epochs[1], { rank: 1 })])).toThrow(
      /^mergeTraces: traces 1 and 2 are both rank 1 \(give the ranks explicitly\)$/,
    );
    const noOrigin = rankTrace(2, epochs[1]);
    (noOrigin.meta.origin as { epochNs: unknown }).epochNs = undefined;
    expect(() => mergeTraces([rankTrace(1, epochs[0]), noOrigin])).toThrow(/trace 2 .* has no wall-clock origin/);
    expect(() => mergeTraces([])).toThrow(/at least one trace/);
    expect(() => mergeTraces([rankTrace(1, epochs[0])], { ranks: [0, 1] })).toThrow(/2 ranks given for 1 traces/);
  });

  it('Chrome and Perfetto exports put each rank in its own processes', () => {
    const merged = mergeTraces(inputs());
    const { names, slices } = chromeProcesses([...toChromeTraceEvents(merged)]);
    expect(names.get(11)).toBe('rank 0 (cpu)');
    expect(names.get(21)).toBe('rank 1 (cpu)');
    expect(names.get(31)).toBe('rank 2 (cpu)');
    expect(names.get(1)).toMatch(/\(all ranks\)$/); // the job-wide memory counter
    for (const e of slices) expect(e.pid).toBe(10 * ((e.args as Record<string, number>)[RANK_ATTR] + 1) + 1);

    const { Trace: TraceMsg } = perfettoSchema();
    const packets = (TraceMsg.toObject(TraceMsg.decode(toPerfetto(merged)), { longs: Number, arrays: true }) as {
      packet: { track_descriptor?: { process?: { pid: number; process_name: string } } }[];
    }).packet;
    const procs = packets.map((p) => p.track_descriptor?.process).filter((p) => p !== undefined);
    expect(procs.map((p) => [p!.pid, p!.process_name]).sort()).toEqual(
      [[1, `${merged.name} (all ranks)`], [11, 'rank 0 (cpu)'], [21, 'rank 1 (cpu)'], [31, 'rank 2 (cpu)']].sort(),
    );
  });

  it('reads the rank a launcher gives a process', () => {
    expect(distributedRank({})).toBeNull();
    expect(distributedRank({ MLX_RANK: '3' })).toBe(3);
    expect(distributedRank({ MLX_TRACE_RANK: '1', MLX_RANK: '3' })).toBe(1);
    expect(distributedRank({ OMPI_COMM_WORLD_RANK: ' 2 ' })).toBe(2);
    expect(distributedRank({ MLX_RANK: 'x' })).toBeNull();
    expect(rankTraceFile(null)).toBe('trace.json');
    expect(rankTraceFile(2)).toBe('trace.rank-2.json');
  });
});

describe('three real processes, one rank each', () => {
  const RANKS = 3;
  // Unaligned, ranks would be off by multiples of this; aligned, by what the scheduler adds, which
  // on a loaded 2-core machine reaches a few hundred ms: the bounds below are half of it.
  const STAGGER_MS = 1500;
  let dist: string;
  let dir: string;
  let windowStartNs: bigint;
  let windowEndNs: bigint;
  const workStart: bigint[] = [];
  const rankFiles: string[] = [];

  const wallNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;

  /** One rank: the MLX program under the preload, with its rank in the environment; resolves with its stdout. */
  function launch(rank: number, startAtMs: number): Promise<string> {
    // Rank 1 runs as an ES module through --import; rank 2 gets its rank the way mlx.launch gives it (MLX_RANK).
    const esm = rank === 1;
    const args = esm
      ? ['--import', new URL(`file://${join(dist, 'register.mjs')}`).href, join(FIXTURES, 'mlx-app.mjs')]
      : ['--require', join(dist, 'register.js'), join(FIXTURES, 'mlx-app.js')];
    const env = baseEnv({
      MLX_TRACE_OUT: join(dir, `rank${rank}`),
      ...(rank === 2 ? { MLX_RANK: String(rank) } : { MLX_TRACE_RANK: String(rank) }),
      MLX_APP_START_AT: String(startAtMs),
    });
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`rank ${rank} exited ${code}: ${err}`))));
    });
  }

  beforeAll(async () => {
    dist = await buildCli('merge');
    dir = mkdtempSync(join(tmpdir(), 'mlx-trace-merge-'));
    windowStartNs = wallNs();
    // Ranks start STAGGER_MS apart (so their trace origins differ by that much) and all wait for one
    // wall-clock instant before their work: lined up correctly, their work starts together.
    const startAt = Date.now() + RANKS * STAGGER_MS + 2500;
    const runs: Promise<string>[] = [];
    for (let r = 0; r < RANKS; r++) {
      runs.push(launch(r, startAt));
      await new Promise((res) => setTimeout(res, STAGGER_MS));
    }
    const outs = await Promise.all(runs);
    windowEndNs = wallNs();
    outs.forEach((o, r) => {
      workStart[r] = BigInt(/work-start-ns (\d+)/.exec(o)![1]);
      rankFiles[r] = join(dir, `rank${r}`, `trace.rank-${r}.mlxtrace`);
    });
  }, 240_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (dist) rmSync(dist, { recursive: true, force: true });
  });

  it('each process wrote trace.rank-N.mlxtrace carrying its rank', () => {
    for (let r = 0; r < RANKS; r++) {
      expect(existsSync(rankFiles[r]), rankFiles[r]).toBe(true);
      const t = loadTrace(rankFiles[r]);
      expect(t.meta.rank).toBe(r);
      expect(t.name).toBe(`mlx-app.${r === 1 ? 'mjs' : 'js'} rank ${r}`);
      expect(t.meta.timing).toBe('native');
      expect(t.spans.some((s) => s.name === 'Matmul')).toBe(true);
    }
    // Staggered starts: the origins really differ, so alignment has work to do.
    const origins = rankFiles.map((f) => BigInt(loadTrace(f).meta.origin.epochNs));
    expect(Number(origins[2] - origins[0]) / 1e6).toBeGreaterThan(STAGGER_MS);
  });

  it('mlx-trace merge writes one trace: ranks, unique ids, spans inside the wall-clock window of the run', async () => {
    const out = join(dir, 'merged.json');
    const chrome = join(dir, 'merged.chrome-trace.json');
    const r = await runCli(dist, ['merge', join(dir, 'rank0'), join(dir, 'rank1'), join(dir, 'rank2'), '-o', out, '--chrome', chrome]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^merged 3 traces \([\d,]+ spans\) into /);
    expect(r.stdout).toMatch(/rank 0: mlx-app\.js rank 0 · [\d,]+ spans · .+ · started first/);
    expect(r.stdout).toContain(`wrote ${chrome} (one process per rank)`);

    const merged = loadTrace(out);
    const inputs = rankFiles.map((f) => loadTrace(f));
    // The CLI's file is what the API gives for the same inputs.
    expect(merged).toEqual(JSON.parse(JSON.stringify(mergeTraces(inputs))));
    expect(merged.name).toBe('mlx-app.js (3 ranks)');
    expect(merged.spans).toHaveLength(inputs.reduce((n, t) => n + t.spans.length, 0));
    expect(new Set(merged.spans.map((s) => s.id)).size).toBe(merged.spans.length);

    const origin = BigInt(merged.meta.origin.epochNs);
    const byId = new Map(merged.spans.map((s) => [s.id, s]));
    for (const s of merged.spans) {
      const rank = rankOf(s) as number;
      expect(rank).toBeGreaterThanOrEqual(0);
      expect(rank).toBeLessThan(RANKS);
      if (s.parentId != null) expect(rankOf(byId.get(s.parentId)!)).toBe(rank);
      if (s.layerId != null) expect(rankOf(byId.get(s.layerId)!)).toBe(rank);
      // Every span happened while the test's processes ran, by the wall clock.
      expect(origin + BigInt(s.start)).toBeGreaterThanOrEqual(windowStartNs);
      expect(origin + BigInt(s.end)).toBeLessThanOrEqual(windowEndNs);
    }
  });

  it('lines the ranks up: each rank\'s work starts where its own clock says it did', () => {
    const merged = mergeTraces(rankFiles.map((f) => loadTrace(f)));
    const origin = BigInt(merged.meta.origin.epochNs);
    const firstWork: number[] = [];
    for (let r = 0; r < RANKS; r++) {
      // Nothing is traced before the barrier: the rank's first span is its model's forward.
      const mine = merged.spans.filter((s) => rankOf(s) === r);
      const first = mine.reduce((a, s) => (s.start < a.start ? s : a));
      expect(first.kind).toBe('layer');
      expect(first.name).toBe('Mlp');
      const lagMs = Number(origin + BigInt(first.start) - workStart[r]) / 1e6;
      // The app read the clock just before building the model; unaligned, rank 2 would be off by
      // about 2 x STAGGER_MS. The bounds only absorb the µs-rounded clock reads and scheduling.
      expect(lagMs).toBeGreaterThan(-1);
      expect(lagMs).toBeLessThan(STAGGER_MS / 2);
      firstWork.push(first.start);
    }
    // All ranks left the barrier at the same wall-clock instant.
    expect((Math.max(...firstWork) - Math.min(...firstWork)) / 1e6).toBeLessThan(STAGGER_MS / 2);
  });

  it('the merged Chrome trace has a process per rank holding exactly that rank\'s spans', async () => {
    const { readFileSync } = await import('node:fs');
    const events = JSON.parse(readFileSync(join(dir, 'merged.chrome-trace.json'), 'utf8')).traceEvents as ChromeTraceEvent[];
    const { names, slices } = chromeProcesses(events);
    const merged = loadTrace(join(dir, 'merged.json'));
    for (let r = 0; r < RANKS; r++) {
      const pid = 10 * (r + 1) + 1;
      expect(names.get(pid)).toBe(`rank ${r} (cpu)`);
      const mine = slices.filter((e) => e.pid === pid);
      expect(mine).toHaveLength(merged.spans.filter((s) => rankOf(s) === r).length);
      for (const e of mine) expect((e.args as Record<string, unknown>)[RANK_ATTR]).toBe(r);
      // Threads are named inside the rank's process.
      expect(events.some((e) => e.name === 'thread_name' && e.pid === pid && /^main \(JS\)/.test(String((e.args as { name: string }).name)))).toBe(true);
    }
    expect(slices).toHaveLength(merged.spans.length);
    // Flow ids are span ids: unique across ranks, so no arrow jumps between processes.
    const flowPid = new Map<number, Set<number>>();
    for (const e of events) if (e.ph === 's' || e.ph === 'f') (flowPid.get(e.id!) ?? flowPid.set(e.id!, new Set()).get(e.id!)!).add(e.pid);
    expect(flowPid.size).toBeGreaterThan(0);
    for (const pids of flowPid.values()) expect(pids.size).toBe(1);
  });

  it('over OTLP, every span carries mlx.distributed.rank, so one collector holds the whole job', async () => {
    const merged = loadTrace(join(dir, 'merged.json'));
    const receiver = await startOtlpReceiver();
    try {
      const res = await exportOtlp(merged, { url: receiver.url });
      expect(res.error).toBeUndefined();
      expect(res.sent).toBe(merged.spans.length);
      const got = receiver.spans().filter((s) => s.name !== merged.name);
      expect(got).toHaveLength(merged.spans.length);
      const perRank = [0, 0, 0];
      for (const s of got) perRank[Number(s.attributes['mlx.distributed.rank'])]++;
      expect(perRank).toEqual([0, 1, 2].map((r) => merged.spans.filter((s) => rankOf(s) === r).length));
    } finally {
      await receiver.close();
    }
  }, 60_000);

  it('refuses the same rank twice with one line and exit code 2', async () => {
    const r = await runCli(dist, ['merge', rankFiles[0], rankFiles[0], '-o', join(dir, 'twice.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('mlx-trace merge: traces 1 and 2 are both rank 0 (give the ranks explicitly) (see "mlx-trace merge --help")\n');
    const ok = await runCli(dist, ['merge', rankFiles[0], rankFiles[0], '--ranks', '0,1', '-o', join(dir, 'twice.json')]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});
