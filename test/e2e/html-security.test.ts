/**
 * The dashboard keeps to itself and runs nothing it is given: no network request (from a file or over HTTP), no
 * console error, and a trace whose every name is markup runs no script and shows the names as text.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Trace } from '../../src/core/model/trace';
import { xssTrace, XSS_LAYER, XSS_NAME, XSS_OP } from '../helpers/html-fixture';
import { mainTrace, SHOTS, tableLabels, useHtmlSession } from '../helpers/html-browser';

const { open, exportTo, browser } = useHtmlSession();

describe('dashboard in Chromium: no requests, no errors', () => {
  let report: string;
  let real = false;
  let trace: Trace;

  beforeAll(async () => {
    ({ trace, real } = await mainTrace());
    report = await exportTo('report-security.html', trace);
  }, 300_000);

  it('opens with zero network requests, no console errors and every view present', async () => {
    const o = await open(report);
    try {
      const p = o.page;
      expect(await p.locator('#summary .card').count()).toBeGreaterThanOrEqual(6);
      expect(await p.locator('#summary .card').first().textContent()).toContain('Wall time');
      expect(await p.locator('#summary .top-ops li').count()).toBeGreaterThan(0);
      expect(await p.locator('#summary .finding').count()).toBe(2);
      expect(await p.locator('#summary .finding').first().textContent()).toContain('Softmax is spelled out by hand');
      expect(await p.locator('#summary .finding').first().textContent()).toContain('Time at stake: 1.20 µs');
      expect(await p.locator('#timeline canvas').isVisible()).toBe(true);
      expect(await p.locator('#roofline canvas').isVisible()).toBe(true);
      const points = await p.evaluate(() => (window as any).__mlxTrace.roofline.points().length);
      expect(points).toBeGreaterThan(0);
      expect(await p.locator('#categories .legend li').count()).toBe(6);
      expect(await p.locator('#ops-table tbody tr').count()).toBeGreaterThan(0);
      expect(await p.locator('#errors').isHidden()).toBe(true);
      // The table's numbers are the trace's: total primitive calls.
      const calls = trace.spans.filter((s) => s.kind === 'primitive').length;
      const footCalls = await p.locator('#ops-table tfoot td').nth(1).textContent();
      expect(Number(footCalls!.replace(/,/g, ''))).toBe(calls);

      await p.screenshot({ path: join(SHOTS, 'full-page.png'), fullPage: true });
      for (const id of ['summary', 'timeline', 'roofline', 'categories', 'ops']) {
        await p.locator(`#${id}`).screenshot({ path: join(SHOTS, `${id}.png`) });
      }
      expect(o.requests).toEqual([]);
      expect(o.errors).toEqual([]);
      expect(o.dialogs).toEqual([]);
    } finally {
      await o.close();
    }
    if (!real) console.log('html.test: test/helpers/real-trace.ts not found, used the synthetic trace');
  });

  it('served over HTTP, the page asks the server for nothing but itself (not even a favicon)', async () => {
    const body = readFileSync(report);
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(req.url ?? '');
      if (req.url === '/report.html') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/report.html`;
    const context = await browser().newContext();
    try {
      const page = await context.newPage();
      const requests: string[] = [];
      const errors: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.goto(url);
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'all');
      await page.waitForTimeout(300);
      expect(requests).toEqual([url]);
      expect(seen).toEqual(['/report.html']);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('dashboard safety', () => {
  it('the dialog check itself works (control: an unescaped handler does fire)', async () => {
    const context = await browser().newContext();
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
    await page.setContent(`<body>${XSS_LAYER}</body>`);
    await expect.poll(() => dialogs.length).toBe(1);
    await context.close();
  });

  it('a trace full of markup runs no script and shows the names as text', async () => {
    const file = await exportTo('xss.html', xssTrace());
    const o = await open(file);
    try {
      const p = o.page;
      await p.selectOption('#ops-group', 'layer');
      // The layer column names the layer span that built each primitive (span-facts layerOf).
      expect(await tableLabels(p)).toContain(`${XSS_LAYER} (<i>Block</i>)`);
      await p.selectOption('#ops-group', 'op');
      expect(await tableLabels(p)).toContain(XSS_OP);
      expect(await p.locator('h1').textContent()).toBe(XSS_NAME);
      expect(await p.title()).toBe(`${XSS_NAME} · mlx-trace`);
      expect(await p.locator('#summary .finding .msg').textContent()).toBe(XSS_LAYER);
      expect(await p.locator('#summary .facts').textContent()).toContain('<img src=x onerror=window.__xss=1>');
      // Hover a layer span so its name goes through the tooltip too.
      const at = await p.evaluate((n) => (window as any).__mlxTrace.timeline.locate(n), `${XSS_LAYER} (<i>Block</i>)`);
      if (at) {
        await p.locator('#timeline canvas').scrollIntoViewIfNeeded();
        const box = (await p.locator('#timeline canvas').boundingBox())!;
        await p.mouse.move(box.x + at.x, box.y + at.y);
        await expect.poll(() => p.locator('#tip').textContent()).toContain(XSS_LAYER);
      }
      // The counter lane's name, and the evidence button's label built from the rule.
      expect(JSON.parse((await p.locator('#timeline canvas').getAttribute('data-counter-lanes'))!)).toEqual([XSS_LAYER]);
      const [lane] = await p.evaluate(() => (window as any).__mlxTrace.timeline.counterLanes());
      await p.locator('#timeline canvas').scrollIntoViewIfNeeded();
      const cbox = (await p.locator('#timeline canvas').boundingBox())!;
      await p.mouse.move(cbox.x + cbox.width / 2, cbox.y + lane.y + lane.h / 2);
      await expect.poll(() => p.locator('#tip').textContent()).toContain(XSS_LAYER);
      expect(await p.locator('#tip').textContent()).toContain('<b onmouseover=alert(8)>°C');
      await p.locator('#summary .finding button.evidence').click();
      expect((await p.evaluate(() => (window as any).__mlxTrace.selection())).label).toBe('evidence of <script>alert(6)</script>');
      expect(await p.locator('.tl-details').textContent()).toContain('<script>alert(6)</script>');
      await p.waitForTimeout(200);
      expect(await p.evaluate(() => (window as any).__xss)).toBeUndefined();
      expect(await p.locator('img, svg, iframe, main script, b, i').count()).toBe(0);
      expect(o.dialogs).toEqual([]);
      expect(o.requests).toEqual([]);
      expect(o.errors).toEqual([]);
      await p.locator('#ops').screenshot({ path: join(SHOTS, 'xss-ops.png') });
    } finally {
      await o.close();
    }
  });
});
