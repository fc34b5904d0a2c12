// server/log.ts LogThrottle, as the DHCP server's flood-prone warnings use it.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { LogThrottle } from '../../../server/log.js';

describe('LogThrottle', () => {
  it('says to log the first 10, then every 1000th, and counts all', () => {
    const t = new LogThrottle();
    const logged: number[] = [];
    for (let i = 0; i < 3000; i++) if (t.hit()) logged.push(t.count);
    assert.deepEqual(logged, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1000, 2000, 3000]);
    assert.equal(t.count, 3000);
  });

  it('counted in batches: logs a batch that holds one of the first 10 or crosses a 1000th', () => {
    const t = new LogThrottle();
    assert.equal(t.hit(25), true);
    assert.equal(t.hit(900), false);
    assert.equal(t.hit(100), true, '925 -> 1025 crosses 1000');
    assert.equal(t.hit(974), false);
    assert.equal(t.hit(1), true, '1999 -> 2000');
    t.reset();
    assert.equal(t.count, 0);
    assert.equal(t.hit(), true);
  });
});
