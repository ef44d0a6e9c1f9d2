import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // MLX and the hook layer are process-global: one file per worker process, two at a time on two cores.
    pool: 'forks',
    execArgv: ['--expose-gc'],
    maxWorkers: 2,
    reporters: ['default'],
  },
});
