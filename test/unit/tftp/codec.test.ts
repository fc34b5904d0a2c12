import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { decode, encode, encodingLength, encodeAck, encodeData, encodeError, encodeOack, encodeRequest, dataHeader } from '../../../server/tftp/codec.js';
import { decideRequest } from '../../../server/tftp/policy.js';
import { roundTrip } from '../../helpers/roundtrip.js';

const codec = { encode, decode, encodingLength };

test('codec: encode(packet) round trips every kind; the helpers write the same bytes', () => {
  roundTrip(codec, { op: 'RRQ', filename: 'grub/x86_64-efi/normal.mod', mode: 'octet', options: [['blksize', '1468'], ['tsize', '0']] });
  roundTrip(codec, { op: 'WRQ', filename: 'caf\u00e9/\u{1f680}', mode: 'netascii', options: [] });
  // Names and modes come back lower-cased; values as written.
  roundTrip(codec, { op: 'RRQ', filename: 'A', mode: 'OCTET', options: [['WindowSize', 'X']] }, { op: 'RRQ', filename: 'A', mode: 'octet', options: [['windowsize', 'X']] });
  roundTrip(codec, { op: 'DATA', block: 65535, data: Buffer.from('abc') });
  roundTrip(codec, { op: 'DATA', block: 0, data: Buffer.alloc(0) });
  roundTrip(codec, { op: 'ACK', block: 0 });
  roundTrip(codec, { op: 'ERROR', code: 8, message: 'option negotiation failed: caf\u00e9' });
  roundTrip(codec, { op: 'OACK', options: [['blksize', '1468'], ['windowsize', '16']] });
  roundTrip(codec, { op: 'OACK', options: [] });
  const same = (p: Parameters<typeof encode>[0], helper: Buffer) => {
    const e = encode(p);
    assert.ok(e.ok && e.value.equals(helper), `${p.op}: encode() and its helper agree`);
  };
  same({ op: 'RRQ', filename: 'a/b', mode: 'octet', options: [['tsize', '0']] }, encodeRequest('RRQ', 'a/b', 'octet', [['tsize', '0']]));
  same({ op: 'DATA', block: 9, data: Buffer.from('xyz') }, encodeData(9, Buffer.from('xyz')));
  same({ op: 'ACK', block: 9 }, encodeAck(9));
  same({ op: 'ERROR', code: 1, message: 'file not found' }, encodeError(1, 'file not found'));
  same({ op: 'OACK', options: [['tsize', '42']] }, encodeOack([['tsize', '42']]));
});

test('codec: encode refuses what decode could not give back, naming it', () => {
  const cases: Array<[Parameters<typeof encode>[0], RegExp]> = [
    [{ op: 'ACK', block: 65536 }, /block 65536 is not a 16-bit number/],
    [{ op: 'DATA', block: -1, data: Buffer.alloc(1) }, /block -1/],
    [{ op: 'DATA', block: 1, data: Buffer.alloc(65465) }, /over the largest block/],
    [{ op: 'ERROR', code: 1.5, message: 'x' }, /error code 1.5/],
    [{ op: 'ERROR', code: 0, message: 'a\0b' }, /NUL/],
    [{ op: 'ERROR', code: 0, message: '\u{1f680}' }, /outside latin1/],
    [{ op: 'RRQ', filename: 'a\0b', mode: 'octet', options: [] }, /RRQ field 'a\\0b' contains a NUL/],
    [{ op: 'OACK', options: [['blksize', '\ud800']] }, /not valid Unicode/],
  ];
  for (const [p, re] of cases) {
    const e = encode(p);
    assert.equal(e.ok, false, JSON.stringify(p));
    assert.match(!e.ok ? e.error : '', re);
  }
});

test('codec: RRQ with options round trips; names and modes lower-cased, values kept', () => {
  const d = decode(encodeRequest('RRQ', 'pxelinux.cfg/01-52-54-00-00-00-01', 'OCTET', [['BLKSIZE', '1468'], ['tsize', '0']]));
  assert.deepEqual(d, {
    ok: true,
    value: { op: 'RRQ', filename: 'pxelinux.cfg/01-52-54-00-00-00-01', mode: 'octet', options: [['blksize', '1468'], ['tsize', '0']] },
  });
  const w = decode(encodeRequest('WRQ', 'x', 'netascii'));
  assert.equal(w.ok && w.value.op, 'WRQ');
});

test('codec: DATA, ACK, ERROR, OACK', () => {
  assert.deepEqual(decode(encodeAck(65536 + 7)), { ok: true, value: { op: 'ACK', block: 7 } });
  const d = decode(encodeData(65535, Buffer.from('abc')));
  assert.ok(d.ok && d.value.op === 'DATA' && d.value.block === 65535 && d.value.data.toString() === 'abc');
  assert.deepEqual(dataHeader(65536), Buffer.from([0, 3, 0, 0]), 'block numbers wrap to 0');
  assert.deepEqual(decode(encodeError(1, 'file not found')), { ok: true, value: { op: 'ERROR', code: 1, message: 'file not found' } });
  assert.deepEqual(decode(encodeOack([['blksize', '1468']])), { ok: true, value: { op: 'OACK', options: [['blksize', '1468']] } });
  // Control characters never reach the wire in our messages.
  assert.equal(encodeError(0, 'a\nb\u00e9').subarray(4, -1).toString('latin1'), 'a?b?');
});

test('codec: malformed input is a problem, never an exception', () => {
  const cases: Array<[Buffer, RegExp]> = [
    [Buffer.alloc(0), /too short/],
    [Buffer.from([0]), /too short/],
    [Buffer.from([0, 1]), /lacks a file name/],
    [Buffer.from([0, 1, 0x61, 0x62]), /NUL-terminated/],
    [Buffer.from('\x00\x01a\x00octet\x00blksize\x00', 'latin1'), /has no value/],
    [Buffer.from('\x00\x01a\x00octet\x00blksize\x001468', 'latin1'), /NUL-terminated/],
    [Buffer.from([0, 1, 0xff, 0xfe, 0, 0x6f, 0]), /UTF-8/],
    [Buffer.from([0, 4, 1]), /ACK packet shorter/],
    [Buffer.from([0, 3, 1]), /DATA packet shorter/],
    [Buffer.from([0, 9, 0, 0]), /unknown opcode 9/],
    [Buffer.from([0xff, 0xff]), /unknown opcode 65535/],
  ];
  for (const [buf, re] of cases) {
    const d = decode(buf);
    assert.equal(d.ok, false, buf.toString('hex'));
    assert.match(!d.ok ? d.error : '', re);
  }
});

test('codec fuzz: 20000 random and mutated datagrams decode without throwing', () => {
  const seeds = [encodeRequest('RRQ', 'a/b', 'octet', [['blksize', '8'], ['windowsize', '4']]), encodeAck(3), encodeError(2, 'x'), encodeOack([['tsize', '9']])];
  for (let i = 0; i < 20000; i++) {
    let buf: Buffer;
    if (i % 2) buf = randomBytes(i % 70);
    else {
      buf = Buffer.from(seeds[i % seeds.length]!);
      for (let k = 0; k < 3; k++) if (buf.length) buf[(i * 7 + k * 13) % buf.length] = (i * 31 + k) & 0xff;
      buf = buf.subarray(0, (i * 11) % (buf.length + 1));
    }
    const d = decode(buf);
    assert.equal(typeof d.ok, 'boolean');
    const p = decideRequest(buf);
    assert.ok(['ignore', 'error', 'read'].includes(p.kind));
  }
});

test('policy: WRQ, modes, stray packets, hostile names', () => {
  const wrq = decideRequest(encodeRequest('WRQ', 'x', 'octet'));
  assert.ok(wrq.kind === 'error' && wrq.code === 2 && /read-only/.test(wrq.message));
  const mail = decideRequest(encodeRequest('RRQ', 'x', 'mail'));
  assert.ok(mail.kind === 'error' && mail.code === 4 && /mode 'mail'/.test(mail.message));
  const stray = decideRequest(Buffer.from([7]));
  assert.ok(stray.kind === 'error' && stray.code === 4 && /malformed/.test(stray.message));
  assert.equal(decideRequest(encodeError(0, 'x')).kind, 'ignore', 'an ERROR is never answered');
  // tftp-hpa's client ACKs the ERROR of a failed request, and that ERROR left from the request port.
  assert.equal(decideRequest(encodeAck(1)).kind, 'ignore', 'an ACK at the request port is not answered');
  const data = decideRequest(encodeData(1, Buffer.from('x')));
  assert.ok(data.kind === 'error' && data.code === 4 && /expected a read request/.test(data.message));
  const up = decideRequest(encodeRequest('RRQ', '../etc/passwd', 'octet'));
  assert.ok(up.kind === 'error' && up.code === 2 && up.refusal);
  const abs = decideRequest(encodeRequest('RRQ', '/etc/passwd', 'NetASCII', [['tsize', '0']]));
  assert.deepEqual(abs, { kind: 'read', filename: '/etc/passwd', path: 'etc/passwd', mode: 'netascii', options: [['tsize', '0']] });
});
