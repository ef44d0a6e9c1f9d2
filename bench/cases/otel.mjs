// Cost of a request its OpenTelemetry sampler leaves out: a withSpan() request of a small model's
// forwards and evals under an always-off sampler, against the same request with mlx-trace not
// registered, as interleaved pairs in one process. Goal: within 2 % (nothing under it is recorded).
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { median } from '../lib.mjs';

const require = createRequire(import.meta.url);
const { context } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { AlwaysOffSampler, BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
const { core: mx, nn } = require('@frost-beta/mlx');
const sdk = require('../../dist/index.js');

// The lower quartile of a block: the machine's other load only ever adds time.
const quartile = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 4)];
const now = () => Number(process.hrtime.bigint());

export default [
  {
    id: 'otel.unsampled_request_overhead_pct',
    unit: '%',
    goal: 2,
    better: 'lower',
    async run() {
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      const provider = new BasicTracerProvider({ sampler: new AlwaysOffSampler() });
      class Mlp extends nn.Module {
        constructor() {
          super();
          this.fc1 = new nn.Linear(64, 64);
          this.fc2 = new nn.Linear(64, 64);
        }
        forward(x) {
          return this.fc2.forward(nn.relu(this.fc1.forward(x)));
        }
      }
      const model = new Mlp();
      const x = mx.random.normal([8, 64]);
      mx.eval(x);
      const work = () => {
        for (let i = 0; i < 8; i++) mx.eval(model.forward(x));
      };
      const inst = sdk.registerMlxInstrumentation({ tracerProvider: provider });
      const timed = (fn) => {
        const t0 = now();
        fn();
        return now() - t0;
      };
      for (let i = 0; i < 50; i++) inst.withSpan('request', work);
      const ratios = [];
      for (let pair = 0; pair < 40; pair++) {
        // Each enable() patches with fresh functions: both sides run warm before they are timed.
        inst.disable();
        const plain = [];
        for (let i = 0; i < 40; i++) plain.push(timed(work));
        inst.enable();
        const unsampled = [];
        for (let i = 0; i < 40; i++) unsampled.push(timed(() => inst.withSpan('request', work)));
        plain.splice(0, 20);
        unsampled.splice(0, 20);
        ratios.push(quartile(unsampled) / quartile(plain));
      }
      const recorded = inst.takeTrace('check').spans.length;
      if (recorded !== 0) throw new Error(`an unsampled request recorded ${recorded} spans`);
      return { value: (median(ratios) - 1) * 100, extra: { pairs: ratios.length, load1: loadavg()[0] } };
    },
  },
];
