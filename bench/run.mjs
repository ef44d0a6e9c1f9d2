#!/usr/bin/env node
// Runs the benchmarks in bench/cases/*.mjs, prints a table and writes bench/results.json.
// Each case module default-exports an array of { id, unit, goal, better: 'lower'|'higher', run: async () => number | { value, extra } }.
// `npm run bench -- <id-prefix> ...` runs only the cases whose id starts with one of the prefixes.
import { readdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const prefixes = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const files = readdirSync(join(here, 'cases')).filter((f) => f.endsWith('.mjs')).sort();
const wanted = (id) => prefixes.length === 0 || prefixes.some((p) => id.startsWith(p));

const resultsPath = join(here, 'results.json');
// Keep earlier results of cases not run this time, so a filtered run updates the file instead of truncating it.
const previous = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : [];
const byId = new Map(previous.map((r) => [r.id, r]));

// Each benchmark runs in a Node process of its own: a case that leaves a big heap behind (a 1M-span
// trace, a 280 MB file's buffers) would otherwise slow the garbage collections of the next one.
const child = process.argv.indexOf('--case');
if (child >= 0) {
  const [file, id] = process.argv.slice(child + 1, child + 3);
  const mod = await import(pathToFileURL(join(here, 'cases', file)).href);
  const c = mod.default.find((x) => x.id === id);
  let value = null, extra;
  try {
    const r = await c.run();
    if (typeof r === 'number') value = r; else ({ value, extra } = r);
  } catch (e) {
    process.stderr.write(`  ${id} failed: ${e && e.message ? e.message : e}\n`);
  }
  process.stdout.write(JSON.stringify({ value, extra }) + '\n');
  process.exit(0);
}

const rows = [];
for (const f of files) {
  const mod = await import(pathToFileURL(join(here, 'cases', f)).href);
  for (const c of mod.default) {
    if (!wanted(c.id)) continue;
    process.stderr.write(`running ${c.id} ...\n`);
    const out = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--case', f, c.id], {
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    let value = null, extra;
    try {
      ({ value, extra } = JSON.parse(out.stdout.trim().split('\n').pop()));
    } catch {
      process.stderr.write(`  ${c.id}: no result (exit ${out.status ?? out.signal})\n`);
    }
    const better = c.better ?? 'lower';
    const ok = value != null && Number.isFinite(value) && (c.goal == null || (better === 'lower' ? value <= c.goal : value >= c.goal));
    const row = { id: c.id, value: value == null ? null : Number(value.toPrecision(4)), unit: c.unit, goal: c.goal ?? null, ok };
    if (extra) row.extra = extra;
    rows.push(row);
    byId.set(row.id, row);
  }
}
if (rows.length === 0) {
  console.error(`no benchmark matches ${prefixes.join(', ')}`);
  process.exit(2);
}
const pad = (s, n) => String(s).padEnd(n);
const w = Math.max(...rows.map((r) => r.id.length), 2);
console.log(`${pad('id', w)}  ${pad('value', 12)} ${pad('unit', 10)} ${pad('goal', 12)} ok`);
for (const r of rows) {
  const goal = r.goal == null ? '-' : r.goal;
  console.log(`${pad(r.id, w)}  ${pad(r.value ?? 'error', 12)} ${pad(r.unit, 10)} ${pad(goal, 12)} ${r.ok ? 'yes' : 'NO'}${r.extra ? '  ' + JSON.stringify(r.extra) : ''}`);
}
writeFileSync(resultsPath, JSON.stringify([...byId.values()], null, 2) + '\n');
console.log(`\nwrote ${resultsPath}`);
