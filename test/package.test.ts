// The built package as users load it: CommonJS, ES modules and the preload, by its own name.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/core/native';

const root = packageRoot();
const node = (args: string[]) => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim();

describe('package', () => {
  it('is built (npm run build) with type declarations', () => {
    for (const f of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts', 'dist/cli.js', 'dist/register.js', 'dist/register.mjs', 'build/Release/mlx_trace.node'])
      expect(existsSync(join(root, f)), f).toBe(true);
  });

  it("require('mlx-trace') works inside the checkout through the package's exports", () => {
    expect(node(['-e', "const m = require('mlx-trace'); console.log(typeof m.registerMlxInstrumentation, typeof m.profile, typeof m.saveTrace)"])).toBe('function function function');
  });

  it('import from mlx-trace works from ES modules', () => {
    expect(node(['--input-type=module', '-e', "import { registerMlxInstrumentation, exportHtml } from 'mlx-trace'; console.log(typeof registerMlxInstrumentation, typeof exportHtml)"])).toBe('function function');
  });

  it('the public API records natively from the built bundle', () => {
    const out = node(['-e', `
      const mx = require('@frost-beta/mlx').core;
      const { registerMlxInstrumentation } = require('mlx-trace');
      const inst = registerMlxInstrumentation();
      const a = mx.ones([8, 8]); mx.eval(a); inst.takeTrace();
      mx.eval(mx.matmul(a, a));
      const t = inst.takeTrace();
      console.log(t.meta.timing, t.spans.filter((s) => s.kind === 'primitive').map((s) => s.name).join(','));
    `]);
    expect(out).toBe('native Matmul');
  });
});
