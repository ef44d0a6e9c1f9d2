import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', register: 'src/register.ts', cli: 'src/cli/main.ts', demo: 'src/demo/index.ts', 'live-worker': 'src/exporters/live/worker.ts' },
  format: ['cjs', 'esm'],
  dts: { entry: { index: 'src/index.ts' } },
  shims: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  external: ['@frost-beta/mlx'],
});
