/**
 * The roofline in Chromium: its points select their op in the table and the timeline, by pointer and by keys.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Trace } from '../../src/core/model/trace';
import { mainTrace, SHOTS, useHtmlSession } from '../helpers/html-browser';

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
      await p.waitForTimeout(50);
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
