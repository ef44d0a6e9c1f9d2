/**
 * A real MLX trace for exporter tests: the lead's test/helpers/real-trace.ts (recordRealTrace) when it exists,
 * else a small MLP (Linear 64->256, relu, Linear 256->10, softmax) profiled here through the public profile() API.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Trace } from '../../src/core/model/trace';

const realHelper = fileURLToPath(new URL('./real-trace.ts', import.meta.url));

export async function recordRealOrMlp(): Promise<Trace> {
  if (existsSync(realHelper)) {
    const mod = (await import(/* @vite-ignore */ realHelper)) as { recordRealTrace(): Promise<Trace> };
    return mod.recordRealTrace();
  }
  const { profile, registerMlxInstrumentation } = await import('../../src/instrumentations/mlx/api');
  const inst = registerMlxInstrumentation();
  try {
    // Loaded untyped: node-mlx's types point at its own .ts sources, which do not pass strict checks.
    const { core: mx, nn } = createRequire(import.meta.url)('@frost-beta/mlx');
    class MLP extends nn.Module {
      fc1 = new nn.Linear(64, 256);
      fc2 = new nn.Linear(256, 10);
      forward(x: unknown) {
        return this.fc2.forward(nn.relu(this.fc1.forward(x)));
      }
    }
    const model = new MLP();
    mx.eval(model.parameters());
    return await profile(() => mx.eval(mx.softmax(model.forward(mx.random.normal([16, 64])), -1)), { name: 'mlp', passes: 3 });
  } finally {
    inst.disable();
  }
}
