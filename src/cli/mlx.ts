import { createRequire } from 'node:module';

/** node-mlx as the user's project has it, else the copy installed beside mlx-trace. */
export function loadMlx(): any {
  for (const base of [process.cwd() + '/', __filename]) {
    try {
      return createRequire(base)('@frost-beta/mlx');
    } catch {
      /* next */
    }
  }
  throw new Error('cannot load @frost-beta/mlx: install it with "npm install @frost-beta/mlx"');
}
