// Codec round trips: encode a packet, decode the bytes, and compare, so a
// field one direction forgets shows up as a difference. Used by the DHCP
// and TFTP codec tests.
import assert from 'node:assert/strict';
import type { Result } from '../../server/result.js';

export interface Codec<P> {
  encode(packet: P): Result<Buffer>;
  decode(bytes: Buffer): Result<P>;
  /** Bytes encode(packet) produces, when the codec can say so up front. */
  encodingLength?(packet: P): number;
}

/**
 * Encodes `packet`, checks encodingLength against the bytes when the codec
 * has one, decodes them again and returns the decoded packet after
 * comparing it with `expected` (default: `packet` itself).
 */
export function roundTrip<P>(codec: Codec<P>, packet: P, expected: unknown = packet): P {
  const bytes = codec.encode(packet);
  if (!bytes.ok) assert.fail(`encode failed: ${bytes.error}`);
  if (codec.encodingLength) assert.equal(codec.encodingLength(packet), bytes.value.length, 'encodingLength matches the bytes');
  const back = codec.decode(bytes.value);
  if (!back.ok) assert.fail(`decode of encoded bytes failed: ${back.error}`);
  assert.deepEqual(back.value, expected);
  return back.value;
}
