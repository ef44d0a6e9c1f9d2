// serveLive's options are checked before anything starts: a bad one is one clear TypeError naming it and
// its range.
import { afterAll, describe, expect, it } from 'vitest';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';

const inst = registerMlxInstrumentation();
afterAll(() => inst.disable());

describe('serveLive options', () => {
  it.each([
    [{ pagePrimitives: 5 }, 'serveLive: pagePrimitives must be a number from 1000 to 10000000, got 5'],
    [{ pagePrimitives: Number.NaN }, 'serveLive: pagePrimitives must be a number from 1000 to 10000000, got null'],
    [{ windowSeconds: 0 }, 'serveLive: windowSeconds must be a number from 1 to 3600, got 0'],
    [{ port: 70000 }, 'serveLive: port must be a number from 0 to 65535, got 70000'],
    [{ host: '' }, 'serveLive: host must be an address such as 127.0.0.1 or 0.0.0.0, got ""'],
  ])('refuses %j with one line', (options, message) => {
    expect(() => inst.serveLive(options as never)).toThrow(new TypeError(message));
  });

  it('serves with a page budget of its own', async () => {
    const live = inst.serveLive({ pagePrimitives: 5000 });
    try {
      expect(live.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    } finally {
      await live.close();
    }
  });
});
