/**
 * Real MLX recordings for the dashboard's generation, multi-pass and advisor views: the demo transformer under
 * profileGeneration, an MLP under profile({ passes, warmup }), and a half-precision program that a float32 scalar
 * promotes to float32 (the advisor's type-promotion rule), with its findings in meta.advice.
 */
import { createRequire } from 'node:module';
import { advise } from '../../src/core/analysis/advisor';
import { profile, registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import { profileGeneration, type GenerationStats } from '../../src/instrumentations/mlx/generation';
import type { Trace } from '../../src/core/model/trace';
import { createTransformer, nextToken } from '../../src/demo/transformer';

const mlx = createRequire(import.meta.url)('@frost-beta/mlx');
const { core: mx, nn } = mlx;

export interface DashboardTraces {
  generation: { trace: Trace; stats: GenerationStats };
  passes: Trace;
  promotion: Trace;
}

export async function recordDashboardTraces(opts: { passes: number; warmup: number; tokens: number }): Promise<DashboardTraces> {
  const inst = registerMlxInstrumentation();
  try {
    // Models are built after registration, so their classes extend the instrumented nn.Module.
    const cfg = { vocab: 256, dim: 64, layers: 2, heads: 4, hidden: 128 };
    const model = createTransformer(mlx, cfg);
    const prompt = mx.array([Array.from({ length: 24 }, (_, i) => (i * 7 + 3) % cfg.vocab)], mx.int32);
    let caches = model.newCache();
    mx.eval(nextToken(mx, model.forward(prompt, caches)));
    inst.takeTrace();
    const generation = await profileGeneration({
      name: 'generation',
      promptTokens: 24,
      tokens: opts.tokens,
      prefill: () => {
        caches = model.newCache();
        const tok = nextToken(mx, model.forward(prompt, caches));
        mx.eval(tok);
        return tok;
      },
      decodeStep: (prev) => {
        const tok = nextToken(mx, model.forward(prev, caches));
        mx.eval(tok);
        return tok;
      },
    });

    class MLP extends nn.Module {
      fc1 = new nn.Linear(64, 256);
      fc2 = new nn.Linear(256, 64);
      forward(x: unknown) {
        return this.fc2.forward(nn.relu(this.fc1.forward(x)));
      }
    }
    const mlp = new MLP();
    const x = mx.random.normal([32, 64]);
    mx.eval(mlp.parameters(), x);
    inst.takeTrace();
    const passes = await profile(() => mx.eval(mx.softmax(mlp.forward(x), -1)), { name: 'passes', passes: opts.passes, warmup: opts.warmup });

    const h0 = mx.random.normal([64, 256]).astype(mx.float16);
    const w = mx.random.normal([256]).astype(mx.float16);
    mx.eval(h0, w);
    inst.takeTrace();
    const promotion = await profile(() => {
      // mx.array(0.5) is a float32 array: it pulls the float16 data up to float32.
      const h = mx.multiply(mx.multiply(h0, mx.array(0.5)), w);
      mx.eval(mx.sum(mx.multiply(h, mx.sigmoid(h)), -1));
    }, { name: 'promotion' });
    promotion.meta.advice = advise(promotion);
    return { generation, passes, promotion };
  } finally {
    inst.disable();
  }
}
