// The Chrome export in the real speedscope app (npm `speedscope`, its dist/release), served from 127.0.0.1 and
// opened by #profileURL= in Chromium, under the exporter's default file name: speedscope picks its importer by
// name, and it must aggregate the spans into one frame per distinct op (name + args), not one per span.
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { CHROME_TRACE_EXT, exportChromeTrace, type ChromeTraceEvent } from '../../src/exporters/chrome';
import type { Trace } from '../../src/core/model/trace';
import { recordRealOrMlp } from '../helpers/real-or-recorded';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

/** The speedscope web app the npm package ships (a devDependency). */
const release = join(dirname(createRequire(import.meta.url).resolve('speedscope/package.json')), 'dist', 'release');

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm' };

describe('the Chrome export in speedscope', () => {
  let dir: string;
  let server: Server;
  let base: string;
  let browser: Browser;
  let trace: Trace;
  const file = `trace${CHROME_TRACE_EXT}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mlx-speedscope-'));
    trace = await recordRealOrMlp();
    await exportChromeTrace(trace, join(dir, file));
    // The app's files at /, the trace next to them.
    server = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
      const local = path === `/${file}` ? join(dir, file) : join(release, normalize(path === '/' ? '/index.html' : path));
      if (!local.startsWith(release) && local !== join(dir, file)) return void res.writeHead(403).end();
      if (!existsSync(local) || !statSync(local).isFile()) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': TYPES[extname(local)] ?? 'application/octet-stream' });
      createReadStream(local).pipe(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads the default file name with the trace-event importer and shows one frame per op and args, not per span', async () => {
    const page = await browser.newPage({ acceptDownloads: true });
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/index.html#profileURL=/${file}`);
    // Loaded: the import is logged, and the toolbar offers Export.
    await page.waitForFunction(() => document.body.innerText.includes('Export'), undefined, { timeout: 60_000 }).catch(async () => {
      throw new Error(`speedscope did not load the trace; page says: ${(await page.innerText('body')).slice(0, 300)}; console: ${logs.join(' | ')}; errors: ${errors.join(' | ')}`);
    });
    expect(errors).toEqual([]);
    expect(logs).toContain('Importing as Trace Event Format profile');

    // speedscope's own export holds its frame table: what its views aggregate by.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByText('Export').click()]);
    const saved = JSON.parse(readFileSync((await download.path())!, 'utf8')) as { shared: { frames: { name: string }[] } };
    const frames = saved.shared.frames.map((f) => f.name);

    const events = (JSON.parse(readFileSync(join(dir, file), 'utf8')) as { traceEvents: ChromeTraceEvent[] }).traceEvents;
    const slices = events.filter((e) => e.ph === 'X');
    expect(slices).toHaveLength(trace.spans.length);
    // speedscope keys a frame by `${name} ${JSON.stringify(args)}`: one frame per distinct key, every op among them.
    const keys = new Set(slices.map((e) => `${e.name} ${JSON.stringify(e.args)}`));
    expect(new Set(frames)).toEqual(keys);
    const ops = new Set(trace.spans.filter((s) => s.kind === 'primitive').map((s) => s.name));
    for (const op of ops) expect(frames.some((f) => f.startsWith(`${op} {`))).toBe(true);
    const primFrames = new Set(slices.filter((e) => e.args!.kind === 'primitive').map((e) => `${e.name} ${JSON.stringify(e.args)}`));
    const prims = trace.spans.filter((s) => s.kind === 'primitive').length;
    console.log(`speedscope: ${frames.length} frames (${primFrames.size} for ${ops.size} op names) for ${trace.spans.length} spans (${prims} primitives)`);
    // Aggregated: a few frames per op name (shapes and layer differ), not one per primitive.
    expect(primFrames.size).toBeLessThanOrEqual(4 * ops.size);
    expect(primFrames.size * 3).toBeLessThan(prims);
  }, 120_000);
});
