/** The one file writer's stream: chunks the stream hands over together go out without a copy, whatever each write stores. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, expect, it } from 'vitest';
import { atomicWriteStream } from '../../src/core/io/atomic-file';

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
