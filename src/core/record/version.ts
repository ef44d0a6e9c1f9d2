/** The package version, injected by tsup at build time and read from package.json under vitest. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './native';

declare const __MLX_TRACE_VERSION__: string | undefined;

function readVersion(): string {
  if (typeof __MLX_TRACE_VERSION__ === 'string') return __MLX_TRACE_VERSION__;
  try {
    return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version;
  } catch {
    return '0.0.0';
  }
}

export const VERSION: string = readVersion();
