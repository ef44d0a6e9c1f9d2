/** The README's code blocks are what users paste first: each JavaScript block must at least parse as the module kind it is written for. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..', '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const jsBlocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);

describe('README', () => {
  it('has JavaScript examples', () => {
    expect(jsBlocks.length).toBeGreaterThan(0);
  });

  it.each(jsBlocks.map((code, i) => [i, code] as const))('block %i parses as the script it would be pasted into', (_i, code) => {
    // A block using require() is CommonJS: Node wraps it in a function, where top-level await is a SyntaxError.
    const commonJs = /\brequire\(/.test(code);
    const source = commonJs ? `(function (exports, require, module, __filename, __dirname) {\n${code}\n})` : `(async () => {\n${code}\n})`;
    expect(() => new Script(source)).not.toThrow();
  });

  it('names the license the package declares, and ships it', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toContain(`${pkg.license} License`);
    expect(pkg.files).toContain('LICENSE');
  });
});
