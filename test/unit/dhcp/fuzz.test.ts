import { strict as assert } from 'node:assert';
import { it } from 'node:test';
import { fuzz } from './fuzz.js';

// 1,000,000 packets by default; FUZZ_PACKETS / FUZZ_SEED for longer or other runs.
it('1,000,000 random and mutated packets through codec and policy: no exception, every reply well-formed', () => {
  const count = Number(process.env.FUZZ_PACKETS ?? 1_000_000);
  const seed = Number(process.env.FUZZ_SEED ?? 0x5eed);
  const r = fuzz(count, seed);
  console.log(`# fuzz: ${r.packets} packets (seed ${seed}), ${r.decoded} decoded, ${r.replies} replies, ${r.ms} ms`);
  assert.equal(r.packets, count);
  assert.ok(r.decoded > count / 4, 'most mutated packets should still decode, or the fuzz is not reaching the policy');
  assert.ok(r.replies > count / 20, 'the fuzz should reach replies');
});
