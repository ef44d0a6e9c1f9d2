// The live view's cost to the app: the decode loop (src/demo/llama.ts, TINY_LLAMA) traced with the
// live server running and a page's event stream connected (a separate process reading /events),
// against the same loop untraced, as interleaved pairs in one process.
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const sdk = require('../../dist/index.js');
const { createLlama, generate, TINY_LLAMA } = require('../../dist/demo.js');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => Number(process.hrtime.bigint());

/** A page's stream: another process that reads /events and counts the batches. */
function connectClient(url) {
  const code = `const http=require('http');let n=0,b=0;http.get(process.argv[1]+'events',(r)=>{r.on('data',(d)=>{b+=d.length;n+=(String(d).match(/event: batch/g)||[]).length});});process.on('SIGTERM',()=>{process.stdout.write(JSON.stringify({batches:n,bytes:b}));process.exit(0)});`;
  const child = spawn(process.execPath, ['-e', code, url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return {
    stop: () => new Promise((res) => {
      child.on('close', () => res(out ? JSON.parse(out) : { batches: 0, bytes: 0 }));
      child.kill('SIGTERM');
    }),
  };
}

export default [
  {
    id: 'live.decode_overhead_pct',
    unit: '%',
    goal: 12,
    better: 'lower',
    async run() {
      const inst = sdk.registerMlxInstrumentation();
      const model = createLlama(mlx, TINY_LLAMA);
      const tokens = 64;
      const decode = () => {
        const t0 = now();
        generate(mlx, model, { prompt: [1, 2, 3], tokens });
        return tokens / ((now() - t0) / 1e9);
      };
      for (let i = 0; i < 3; i++) decode();
      inst.takeTrace();
      /** Pairs of (traced, untraced) runs, alternating which goes first so a drift in load falls on both. */
      const pairs = async (n) => {
        const on = [], off = [], ratios = [];
        for (let p = 0; p < n; p++) {
          let a, b;
          if (p % 2 === 0) { a = decode(); inst.disable(); b = decode(); inst.enable(); }
          else { inst.disable(); b = decode(); inst.enable(); a = decode(); }
          on.push(a);
          off.push(b);
          ratios.push(a / b);
          inst.takeTrace();
          // The event loop turns between pairs, as a server's would between requests.
          await new Promise((r) => setTimeout(r, 50));
        }
        return { on: median(on), off: median(off), overhead: (1 - median(ratios)) * 100 };
      };
      const n = 8;
      // Tracing alone, then with the live server and a page's stream.
      const plain = await pairs(n);
      const live = inst.serveLive({ port: 0 });
      const client = connectClient(live.url);
      await new Promise((r) => setTimeout(r, 1500));
      const withLive = await pairs(n);
      // The server thread's share of a core while it served: CPU time (what it took from MLX), and event-loop use.
      const stats = await (await fetch(live.url + 'stats')).json();
      const got = await client.stop();
      await live.close();
      inst.disable();
      return {
        value: withLive.overhead,
        extra: {
          tokens_per_arm: n * tokens,
          traced_live_tokens_per_s: +withLive.on.toFixed(1),
          untraced_tokens_per_s: +withLive.off.toFixed(1),
          traced_without_live_overhead_pct: +plain.overhead.toFixed(1),
          traced_without_live_tokens_per_s: +plain.on.toFixed(1),
          untraced_tokens_per_s_before_live: +plain.off.toFixed(1),
          batches_received: got.batches,
          stream_mb: +(got.bytes / 2 ** 20).toFixed(1),
          worker_cpu_share: stats.cpuShare,
          worker_busy: stats.busy,
        },
      };
    },
  },
];
