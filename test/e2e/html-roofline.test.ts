/**
 * The roofline in Chromium: its points select their op in the table and the timeline, by pointer and by keys.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';
import { mainTrace, SHOTS, useHtmlSession, nextFrame } from '../helpers/html-browser';

const { open, exportTo } = useHtmlSession();

describe('roofline', () => {
  let report: string;
  let trace: Trace;

  beforeAll(async () => {
    ({ trace } = await mainTrace());
    report = await exportTo('report-roofline.html', trace);
  }, 300_000);

  it('a click on a roofline point selects that op in the table and the timeline; keys do the same', async () => {
    const o = await open(report);
    try {
      const p = o.page;
      const pts = await p.evaluate(() => (window as any).__mlxTrace.roofline.points());
      const target = pts[0];
      await p.locator('#roofline canvas').scrollIntoViewIfNeeded();
      const box = (await p.locator('#roofline canvas').boundingBox())!;
      await p.mouse.click(box.x + target.x, box.y + target.y);
      const sel = await p.evaluate(() => (window as any).__mlxTrace.selection());
      expect(sel).toMatchObject({ by: 'shapes', source: 'roofline', label: target.label });
      expect(await p.locator('#ops-table tbody tr.selected .label').first().textContent()).toBe(target.label);
      expect(await p.locator('.tl-details').textContent()).toContain(target.label);
      await p.screenshot({ path: join(SHOTS, 'selected-from-roofline.png'), fullPage: true });
      await p.locator('#timeline').screenshot({ path: join(SHOTS, 'selected-timeline.png') });

      await p.locator('#roofline canvas').focus();
      await p.keyboard.press('ArrowRight');
      await p.keyboard.press('ArrowRight');
      await p.keyboard.press('Enter');
      const sel2 = await p.evaluate(() => (window as any).__mlxTrace.selection());
      expect(sel2.label).toBe(pts[1].label);

      // N in the timeline brings the next highlighted call into view and shows it.
      await p.locator('#timeline canvas').focus();
      await p.keyboard.press('0');
      await p.keyboard.press('n');
      await nextFrame(p);
      expect(await p.locator('.tl-details strong').textContent()).toBe(pts[1].label);

      // Escape in the timeline clears the selection everywhere.
      await p.locator('#timeline canvas').focus();
      await p.keyboard.press('Escape');
      expect(await p.evaluate(() => (window as any).__mlxTrace.selection())).toBeNull();
      expect(await p.locator('#ops-table tbody tr.selected').count()).toBe(0);

      // A table row is selectable from the keyboard.
      await p.locator('#ops-table tbody tr').nth(1).focus();
      await p.keyboard.press('Enter');
      const sel3 = await p.evaluate(() => (window as any).__mlxTrace.selection());
      expect(sel3.source).toBe('table');
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });
});

describe('ceilings: every view that reads rates against them says where they come from', () => {
  const withPeaks = (source: 'default' | 'calibrated') => {
    const t = syntheticTrace({ steps: 2, blocks: 2 });
    t.meta.peaks = source === 'default' ? { flops: 50e9, bandwidth: 10e9, source } : { flops: 5.86e9, bandwidth: 3.57e9, source };
    return t;
  };

  /** What the summary card, the roofline note, the op table and the timeline's details say about the ceilings. */
  async function said(file: string) {
    const o = await open(file);
    try {
      const p = o.page;
      const card = p.locator('#summary .card', { hasText: 'Peaks' });
      const out = {
        cardWarn: ((await card.getAttribute('class')) ?? '').includes('warn'),
        card: (await card.textContent())!,
        note: (await p.locator('#roofline .rf-note p').first().textContent())!,
        noteWarn: ((await p.locator('#roofline .rf-note p').first().getAttribute('class')) ?? '').includes('warn'),
        table: (await p.locator('#ops-status').textContent())!,
        details: '',
      };
      // A primitive's details: its achieved rates and the ceilings beside them.
      await p.locator('#timeline canvas').focus();
      let at: { x: number; y: number } | null = null;
      for (let k = 0; k < 12 && !at; k++) {
        at = await p.evaluate(() => (window as any).__mlxTrace.timeline.locate('Matmul'));
        if (!at) await p.keyboard.press('+');
      }
      await p.locator('#timeline canvas').scrollIntoViewIfNeeded();
      const box = (await p.locator('#timeline canvas').boundingBox())!;
      await p.mouse.click(box.x + at!.x, box.y + at!.y);
      out.details = (await p.locator('.tl-details').textContent())!;
      expect(o.errors).toEqual([]);
      return out;
    } finally {
      await o.close();
    }
  }

  it('default ceilings are flagged everywhere, with how to measure them', async () => {
    const s = await said(await exportTo('ceilings-default.html', withPeaks('default')));
    expect(s.cardWarn).toBe(true);
    expect(s.card).toContain('50.0 GFLOP/s');
    expect(s.card).toContain('defaults: run mlx-trace calibrate');
    expect(s.noteWarn).toBe(true);
    expect(s.note).toContain('not measured on this machine');
    expect(s.note).toContain('mlx-trace calibrate');
    expect(s.table).toContain('rates against ceilings of 50.0 GFLOP/s · 10.0 GB/s (defaults: run mlx-trace calibrate)');
    expect(s.details).toMatch(/Achieved.*FLOP\/s/);
    expect(s.details).toContain('Ceilings50.0 GFLOP/s · 10.0 GB/s (defaults: run mlx-trace calibrate)');
  });

  it('calibrated ceilings say they were measured on this machine, and nothing is flagged', async () => {
    const s = await said(await exportTo('ceilings-calibrated.html', withPeaks('calibrated')));
    expect(s.cardWarn).toBe(false);
    expect(s.card).toContain('measured on this machine');
    expect(s.noteWarn).toBe(false);
    expect(s.note).toBe('Ceilings: 5.86 GFLOP/s compute, 3.57 GB/s bandwidth, measured on this machine (mlx-trace calibrate).');
    expect(s.table).toContain('rates against ceilings of 5.86 GFLOP/s · 3.57 GB/s (measured on this machine)');
    expect(s.details).toContain('Ceilings5.86 GFLOP/s · 3.57 GB/s (measured on this machine)');
    for (const text of [s.card, s.note, s.table, s.details]) expect(text).not.toContain('default');
  });
});
