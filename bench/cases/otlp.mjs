// OTLP export of a saved trace to a local receiver (a separate process, so the receiver does not share this
// process's CPU): spans per second, plus memory with the collector up and with it down.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { loadavg } from 'node:os';
import { exportOtlp } from '../../dist/index.mjs';

const SPANS = 200_000;

/** A trace shaped like a recording: evals of 256 primitives each, on a wall-clock origin. */
function makeTrace(n) {
  const spans = [];
  let id = 1;
  let t = 1_000;
  const ops = ['Matmul', 'Add', 'Multiply', 'Softmax', 'Gather'];
  while (spans.length < n) {
    const ev = { id: id++, parentId: null, kind: 'eval', name: 'eval', start: t, end: 0, thread: 1, device: 'cpu', inputs: [], outputs: [], flops: null, bytes: null };
    spans.push(ev);
    for (let k = 0; k < 256 && spans.length < n; k++) {
      const start = t + 10;
      t = start + 5_000 + (k % 7) * 300;
      const op = ops[k % ops.length];
      spans.push({
        id: id++, parentId: ev.id, kind: 'primitive', name: op, start, end: t, thread: 1 + (k % 2), device: 'cpu',
        inputs: [{ shape: [64, 256], dtype: 'float32', bytes: 65536 }, { shape: [256, 256], dtype: 'float32', bytes: 262144 }],
        outputs: [{ shape: [64, 256], dtype: 'float32', bytes: 65536 }],
        flops: op === 'Gather' ? null : 8_388_608, bytes: op === 'Gather' ? null : 393216,
        layerId: null, layer: `layers.${k % 12}.mlp`,
      });
    }
    ev.end = t + 100;
    t += 1_000;
  }
  return {
    schema: 'mlx-trace/1', name: 'bench', dropped: 0, memory: [], spans,
    meta: {
      timing: 'native', createdAt: new Date().toISOString(), origin: { monotonicNs: 0, epochNs: String(BigInt(Date.now()) * 1_000_000n) },
      host: { platform: 'linux', arch: 'x64', cpuModel: 'bench', cpus: 2, totalMemory: 0, hostname: 'bench' },
      versions: { mlx: '0.0.7', node: process.versions.node, mlxTrace: '0.1.0' },
      peaks: { flops: 1e11, bandwidth: 2e10, source: 'default' },
    },
  };
}

/** OTLP/HTTP receiver in a child process: reads each body fully and answers the JSON success response. */
async function startReceiver() {
  const code = `
    const http = require('node:http');
    let bytes = 0, requests = 0;
    const s = http.createServer((req, res) => {
      req.on('data', (c) => { bytes += c.length; });
      req.on('end', () => { requests++; res.writeHead(200, { 'content-type': 'application/json' }).end('{}'); });
    });
    s.listen(0, '127.0.0.1', () => process.send({ port: s.address().port }));
    process.on('message', (m) => { if (m === 'stats') process.send({ bytes, requests }); });
  `;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await new Promise((resolve) => child.once('message', resolve));
  const stats = () => new Promise((resolve) => { child.once('message', resolve); child.send('stats'); });
  return { url: `http://127.0.0.1:${port}/v1/traces`, stats, stop: () => child.kill() };
}

/** Peak RSS above the starting point while fn runs, sampled every 5 ms. */
async function withPeakRss(fn) {
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 5);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, growthMb: (peak - base) / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

async function closedPort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

export default [
  {
    id: 'export.otlp_spans_per_s',
    unit: 'spans/s',
    goal: 100_000,
    better: 'higher',
    run: async () => {
      const trace = makeTrace(SPANS);
      const rx = await startReceiver();
      try {
        // Warm-up: JIT and keep-alive sockets.
        await exportOtlp(makeTrace(5_000), { url: rx.url });
        global.gc?.();
        const t0 = process.hrtime.bigint();
        const cpu0 = process.cpuUsage();
        const { value: res, growthMb } = await withPeakRss(() => exportOtlp(trace, { url: rx.url }));
        const secs = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu = process.cpuUsage(cpu0);
        // Spans per second of this process's CPU time: less sensitive than wall time to other load on the machine.
        const cpuSecs = (cpu.user + cpu.system) / 1e6;
        if (res.dropped !== 0) throw new Error(res.summary);
        const { bytes } = await rx.stats();

        // Collector down: one failed batch per worker, the rest dropped at once; memory must not grow with the trace.
        const down = `http://127.0.0.1:${await closedPort()}/v1/traces`;
        const t1 = process.hrtime.bigint();
        const { value: downRes, growthMb: downGrowth } = await withPeakRss(() => exportOtlp(trace, { url: down, timeoutMillis: 2_000 }));
        const downMs = Number(process.hrtime.bigint() - t1) / 1e6;
        return {
          value: res.sent / secs,
          extra: {
            spans: res.sent,
            seconds: Number(secs.toFixed(3)),
            spans_per_cpu_s: Math.round(res.sent / cpuSecs),
            load_avg_1m: Number(loadavg()[0].toFixed(2)),
            json_bytes_per_span: Math.round(bytes / (res.sent + 6)),
            peak_rss_growth_mb: Number(growthMb.toFixed(1)),
            down_peak_rss_growth_mb: Number(downGrowth.toFixed(1)),
            down_ms: Math.round(downMs),
            down_summary: downRes.summary,
          },
        };
      } finally {
        rx.stop();
      }
    },
  },
];
