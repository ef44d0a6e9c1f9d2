// The built package as users load it: CommonJS, ES modules and the preload, by its own name.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTrace } from '../../src/core/io/persist';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/core/record/native';

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

  it('under the preload, the app\'s own require(\'mlx-trace\') shares its instrumentation, and profile() keeps the spans for the preload\'s trace', () => {
    // inside the checkout, so the app resolves @frost-beta/mlx and mlx-trace as a user's app would
    mkdirSync(join(root, 'test-output'), { recursive: true });
    const dir = mkdtempSync(join(root, 'test-output', 'preload-'));
    const app = join(dir, 'app.js');
    writeFileSync(app, `
      const mx = require('@frost-beta/mlx').core;
      const { registerMlxInstrumentation, profile } = require('mlx-trace');
      const inst = registerMlxInstrumentation();
      const a = mx.ones([16, 16]); mx.eval(a);
      profile(() => mx.eval(mx.matmul(a, a)), { name: 'mine' }).then((t) => {
        console.log(inst.timing, t.spans.filter((s) => s.kind === 'primitive').map((s) => s.name).join(','));
      });
    `);
    const out = execFileSync(process.execPath, ['--require', join(root, 'dist', 'register.js'), app], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, MLX_TRACE_OUT: dir, MLX_TRACE_QUIET: '1' },
    }).trim();
    expect(out).toBe('native Matmul');
    const saved = loadTrace(join(dir, 'trace.mlxtrace'));
    expect(saved.spans.filter((s) => s.kind === 'primitive').map((s) => s.name)).toContain('Matmul');
    expect(saved.spans.some((s) => s.kind === 'user' && s.name === 'mine')).toBe(true);
  });
});
