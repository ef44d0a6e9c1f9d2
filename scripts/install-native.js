#!/usr/bin/env node
// Runs when a user installs mlx-trace from npm: builds the native hook layer from source with
// cmake-js. If that cannot be done (no compiler, no cmake), mlx-trace still works in JS-level timing
// mode, and says so: install never fails because of it.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const root = join(__dirname, '..');
if (existsSync(join(root, 'build', 'Release', 'mlx_trace.node'))) process.exit(0);
if (!existsSync(join(root, 'native'))) process.exit(0);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--config', 'Release', '--log-level', 'error'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
if (r.status !== 0) {
  const why = (r.stderr ? r.stderr.toString() : '').trim().split('\n').pop() || 'unknown error';
  console.warn(`mlx-trace: could not build the native hook layer (${why}); primitives will be timed at JS level. Install cmake and g++, then run "npm rebuild mlx-trace".`);
}
process.exit(0);
