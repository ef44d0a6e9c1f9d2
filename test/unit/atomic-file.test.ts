/**
 * The one file writer: chunks its stream hands over together go out without a copy, whatever each
 * write stores; big files written synchronously start the disk early through descriptors that stay bounded.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, expect, it } from 'vitest';
import { AtomicFile, atomicWriteStream } from '../../src/core/io/atomic-file';

const dir = mkdtempSync(join(tmpdir(), 'mlx-trace-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Chunks of odd sizes (some empty), written while the stream is corked so that they reach writev together. */
function chunks(): Buffer[] {
  const out: Buffer[] = [];
  let seed = 3;
  for (let i = 0; i < 3000; i++) {
    const n = i % 17 === 0 ? 0 : (seed = (seed * 1103515245 + 12345) >>> 0) % 300;
    out.push(Buffer.from(Array.from({ length: n }, (_, k) => (i * 31 + k) & 0xff)));
  }
  return out;
}

for (const maxWriteBytes of [undefined, 1, 7, 4096]) {
  it(`writev of many chunks stores them in order (each write system call at most ${maxWriteBytes ?? 'unlimited'} bytes)`, async () => {
    const path = join(dir, `out-${maxWriteBytes ?? 'all'}.bin`);
    const parts = chunks();
    const s = atomicWriteStream(path, { maxWriteBytes });
    s.cork();
    for (const p of parts) s.write(p);
    process.nextTick(() => s.uncork());
    s.end();
    await once(s, 'finish');
    expect(readFileSync(path).equals(Buffer.concat(parts))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
}

/** Descriptors this process has open (vitest runs each file in a process of its own). */
const openFds = () => readdirSync('/proc/self/fd').length;

it('big files written synchronously are exact, and the descriptors that start the disk early are bounded and closed after', async () => {
  const data = Buffer.alloc(10 << 20);
  for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
  const before = openFds();
  let most = before;
  for (let f = 0; f < 6; f++) {
    const file = new AtomicFile(join(dir, `big-${f}.bin`));
    for (let at = 0; at < data.length; at += 1 << 20) {
      file.write(data.subarray(at, at + (1 << 20)));
      most = Math.max(most, openFds());
    }
    file.commit();
  }
  // One loop without a turn of the event loop: the early syncs' descriptors wait for it, four files' at most.
  expect(most).toBeGreaterThan(before + 1);
  expect(most).toBeLessThanOrEqual(before + 1 + 4);
  for (let f = 0; f < 6; f++) expect(readFileSync(join(dir, `big-${f}.bin`)).equals(data)).toBe(true);
  expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  const t0 = Date.now();
  while (openFds() > before && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 20));
  expect(openFds()).toBe(before);
});
