import { createRequire } from 'node:module';

/** node-mlx as the user's project has it, else the copy installed beside mlx-trace; null if neither. */
export function findMlx(): any {
  for (const base of [process.cwd() + '/', __filename]) {
    try {
      return createRequire(base)('@frost-beta/mlx');
    } catch {
      /* try the next place */
    }
  }
  return null;
}

/** findMlx(), or one clear error saying how to get it. */
export function loadMlx(): any {
  const mlx = findMlx();
  if (!mlx) throw new Error('cannot load @frost-beta/mlx: install it with "npm install @frost-beta/mlx"');
  return mlx;
}
