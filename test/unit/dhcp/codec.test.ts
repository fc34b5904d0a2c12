import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { decode, encode, encodingLength, MIN_REPLY_SIZE, type DhcpPacket, type EncodeFit } from '../../../server/dhcp/codec.js';
import { roundTrip, type Codec } from '../../helpers/roundtrip.js';
import { OPT } from '../../../server/dhcp/options.js';
import { ip, rawRequest, str } from './packets.js';

function must(r: ReturnType<typeof decode>) {
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

function base(options: Array<[number, Buffer]>, extra: Partial<DhcpPacket> = {}): DhcpPacket {
  return {
    op: 2,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0xdeadbeef,
    secs: 0,
    flags: 0x8000,
    ciaddr: 0,
    yiaddr: 0x0a00000b,
    siaddr: 0x0a000001,
    giaddr: 0,
    chaddr: Buffer.from([0x52, 0x54, 0, 0, 0x0a, 1]),
    sname: '',
    file: '',
    options: new Map(options),
    ...extra,
  };
}

/** encode(base(...)) with the packet's fields and the fit in one object. */
function enc(options: Array<[number, Buffer]>, extra: Partial<DhcpPacket> & EncodeFit = {}) {
  const { maxSize, required, ...fields } = extra;
  return encode(base(options, fields), { ...(maxSize !== undefined ? { maxSize } : {}), ...(required ? { required } : {}) });
}

/** The codec as roundTrip takes it, fitted as `fit` says. */
function codec(fit: EncodeFit = {}): Codec<DhcpPacket> {
  return { encode: (p) => encode(p, fit), decode, encodingLength: (p) => encodingLength(p, fit) };
}

/** What decode gives back for `p`: chaddr as the 16-byte field, option 52 as `overload`. */
function decoded(p: DhcpPacket, overload = 0): DhcpPacket {
  const chaddr = Buffer.alloc(16);
  p.chaddr.copy(chaddr);
  return { ...p, chaddr, overload };
}

describe('dhcp codec: decode', () => {
  it('reads the fixed fields and options of a hand-built DISCOVER', () => {
    const p = must(
      decode(
        rawRequest({
          type: 1,
          xid: 0xcafebabe,
          flags: 0x8000,
          options: [55, 4, 1, 3, 6, 67, 93, 2, 0, 7, 60, 9, ...str('PXEClient'), 61, 7, 1, 0x52, 0x54, 0, 0, 0x0a, 1],
        }),
      ),
    );
    assert.equal(p.op, 1);
    assert.equal(p.xid, 0xcafebabe);
    assert.equal(p.flags, 0x8000);
    assert.deepEqual([...p.chaddr.subarray(0, 6)], [0x52, 0x54, 0, 0, 0x0a, 1]);
    assert.deepEqual([...p.options.get(OPT.MESSAGE_TYPE)!], [1]);
    assert.deepEqual([...p.options.get(OPT.PARAM_LIST)!], [1, 3, 6, 67]);
    assert.equal(p.options.get(OPT.CLIENT_ARCH)!.readUInt16BE(0), 7);
    assert.equal(p.options.get(OPT.VENDOR_CLASS)!.toString(), 'PXEClient');
  });

  it('concatenates repeated instances of an option in order (RFC 3396)', () => {
    const p = must(decode(rawRequest({ type: 1, options: [60, 3, ...str('abc'), 12, 1, 120, 60, 2, ...str('de')] })));
    assert.equal(p.options.get(60)!.toString(), 'abcde');
  });

  it('reads options from file and sname when option 52 says so, in the order options, file, sname', () => {
    const file = [60, 3, ...str('def'), 12, 4, ...str('host'), 255];
    const sname = [60, 3, ...str('ghi'), 255];
    const p = must(decode(rawRequest({ type: 1, options: [52, 1, 3, 60, 3, ...str('abc')], file, sname })));
    assert.equal(p.overload, 3);
    assert.equal(p.options.get(60)!.toString(), 'abcdefghi');
    assert.equal(p.options.get(12)!.toString(), 'host');
    assert.equal(p.file.length, 0);
    assert.equal(p.sname.length, 0);
  });

  it('keeps sname/file as text fields without overload', () => {
    const p = must(decode(rawRequest({ type: 1, file: str('pxelinux.0') })));
    assert.equal(p.file, 'pxelinux.0');
  });

  it('tolerates a missing END and pads', () => {
    const p = must(decode(rawRequest({ type: 3, options: [0, 0, 50, 4, ...ip('10.0.0.11')], end: false })));
    assert.equal(p.options.get(50)!.readUInt32BE(0), 0x0a00000b);
  });

  it('returns an error, never throws, for broken packets', () => {
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.alloc(10), /shorter than the 240-byte header/],
      [(() => { const b = rawRequest({ type: 1 }); b[0] = 7; return b; })(), /op 7/],
      [(() => { const b = rawRequest({ type: 1 }); b[2] = 17; return b; })(), /hlen 17/],
      [(() => { const b = rawRequest({ type: 1 }); b.writeUInt32BE(1, 236); return b; })(), /magic cookie/],
      [rawRequest({ type: 1, options: [12, 40, 1, 2], end: false }), /claims 40 bytes/],
      [rawRequest({ type: 1, options: [12], end: false }), /no length byte/],
      [rawRequest({ type: 1, options: [52, 1, 9] }), /option 52/],
      [rawRequest({ type: 1, options: [52, 1, 1], file: [12, 200] }), /in file/],
    ];
    for (const [buf, re] of cases) {
      const r = decode(buf);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, re);
    }
  });

  it('reads a packet that is a view into a larger buffer', () => {
    const inner = rawRequest({ type: 1, options: [12, 2, ...str('hi')] });
    const big = Buffer.concat([Buffer.alloc(7, 0xee), inner, Buffer.alloc(5, 0xee)]);
    const p = must(decode(big.subarray(7, 7 + inner.length)));
    assert.equal(p.options.get(12)!.toString(), 'hi');
  });
});

describe('dhcp codec: encode', () => {
  it('round-trips fields and options, pads to 300 bytes', () => {
    const r = enc([[53, Buffer.from([2])], [54, Buffer.from(ip('10.0.0.1'))], [12, Buffer.from('blade1')]], { file: 'pxelinux.0' });
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.equal(r.value.length, MIN_REPLY_SIZE);
    const p = must(decode(r.value));
    assert.equal(p.op, 2);
    assert.equal(p.xid, 0xdeadbeef);
    assert.equal(p.yiaddr, 0x0a00000b);
    assert.equal(p.siaddr, 0x0a000001);
    assert.equal(p.file, 'pxelinux.0');
    assert.equal(p.options.get(12)!.toString(), 'blade1');
    assert.deepEqual([...r.value.subarray(240, 246)], [53, 1, 2, 54, 4, 10]);
  });

  it('keeps the caller order of options on the wire', () => {
    const r = enc([[53, Buffer.from([5])], [54, Buffer.from(ip('10.0.0.1'))], [6, Buffer.from(ip('1.1.1.1'))], [1, Buffer.from(ip('255.255.255.0'))], [3, Buffer.from(ip('10.0.0.254'))]]);
    assert.ok(r.ok);
    if (!r.ok) return;
    const codes: number[] = [];
    for (let i = 240; r.value[i] !== 255; i += 2 + r.value[i + 1]!) codes.push(r.value[i]!);
    assert.deepEqual(codes, [53, 54, 6, 1, 3]);
  });

  it('splits an option longer than 255 bytes and decode joins it back (RFC 3396)', () => {
    const long = Buffer.alloc(600, 0x41);
    const r = enc([[53, Buffer.from([5])], [54, Buffer.from(ip('10.0.0.1'))], [43, long]], { maxSize: 1400 });
    assert.ok(r.ok);
    if (!r.ok) return;
    // three instances: 255 + 255 + 90
    let n = 0;
    for (let i = 240; r.value[i] !== 255; i += 2 + r.value[i + 1]!) if (r.value[i] === 43) n++;
    assert.equal(n, 3);
    assert.deepEqual(must(decode(r.value)).options.get(43), long);
  });

  it('overloads into file and sname when the options field is full, and decode reads them back', () => {
    const opts: Array<[number, Buffer]> = [[53, Buffer.from([5])], [54, Buffer.from(ip('10.0.0.1'))]];
    for (let c = 100; c < 112; c++) opts.push([c, Buffer.alloc(30, c)]);
    const r = enc(opts);
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.ok(r.value.length <= 548, `message ${r.value.length} bytes exceeds 548`);
    assert.deepEqual(r.dropped, []);
    const p = must(decode(r.value));
    assert.equal(p.overload, 3);
    for (let c = 100; c < 112; c++) assert.deepEqual(p.options.get(c), Buffer.alloc(30, c), `option ${c}`);
  });

  it('does not overload into file when file carries the boot file', () => {
    const opts: Array<[number, Buffer]> = [[53, Buffer.from([5])], [54, Buffer.from(ip('10.0.0.1'))]];
    for (let c = 100; c < 112; c++) opts.push([c, Buffer.alloc(30, c)]);
    const r = enc(opts, { file: 'pxelinux.0' });
    assert.ok(r.ok);
    if (!r.ok) return;
    const p = must(decode(r.value));
    assert.equal(p.overload, 2);
    assert.equal(p.file, 'pxelinux.0');
    for (const c of r.dropped) assert.ok(!p.options.has(c));
    for (let c = 100; c < 112; c++) if (!r.dropped.includes(c)) assert.deepEqual(p.options.get(c), Buffer.alloc(30, c));
  });

  it('drops trailing optional options that do not fit, never required ones', () => {
    const opts: Array<[number, Buffer]> = [[53, Buffer.from([5])], [54, Buffer.from(ip('10.0.0.1'))]];
    for (let c = 100; c < 120; c++) opts.push([c, Buffer.alloc(60, c)]);
    opts.push([82, Buffer.from([1, 4, 1, 2, 3, 4])]);
    const r = enc(opts, { required: [53, 54, 82] });
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.ok(r.dropped.length > 0);
    assert.ok(!r.dropped.includes(82));
    const p = must(decode(r.value));
    assert.deepEqual([...p.options.get(82)!], [1, 4, 1, 2, 3, 4]);
  });

  it('honours a larger client maximum message size', () => {
    const opts: Array<[number, Buffer]> = [[53, Buffer.from([5])], [54, Buffer.from(ip('10.0.0.1'))]];
    for (let c = 100; c < 120; c++) opts.push([c, Buffer.alloc(60, c)]);
    const r = enc(opts, { maxSize: 1472, file: 'x' });
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.deepEqual(r.dropped, []);
    assert.ok(r.value.length > 1000);
  });

  it('reports errors instead of throwing', () => {
    assert.equal(enc([[255, Buffer.alloc(1)]]).ok, false);
    assert.equal(enc([], { file: 'x'.repeat(200) }).ok, false);
    const r = enc([[53, Buffer.alloc(600)]], { required: [53] });
    assert.equal(r.ok, false);
  });
});

describe('dhcp codec: round trips and encodingLength', () => {
  const opts = (n: number, size: number): Array<[number, Buffer]> => {
    const o: Array<[number, Buffer]> = [[53, Buffer.from([5])], [54, Buffer.from(ip('10.0.0.1'))]];
    for (let c = 100; c < 100 + n; c++) o.push([c, Buffer.alloc(size, c)]);
    return o;
  };

  it('a reply in the options field comes back field for field, sname and file as text', () => {
    const p = base(opts(3, 8), { sname: 'rackboot', file: 'pxelinux.0', ciaddr: 0x0a000005, giaddr: 0x0a000102, hops: 1, secs: 7 });
    roundTrip(codec(), p, decoded(p));
    // Padded to the BOOTP minimum, and encodingLength says so.
    assert.equal(encodingLength(p), MIN_REPLY_SIZE);
  });

  it('an option longer than 255 bytes comes back whole (split and joined, RFC 3396)', () => {
    const p = base([[53, Buffer.from([5])], [43, Buffer.alloc(600, 0x41)]]);
    roundTrip(codec({ maxSize: 1400 }), p, decoded(p));
    assert.equal(encodingLength(p, { maxSize: 1400 }), 240 + 3 + 600 + 6 + 1);
  });

  it('options spilled into file and sname come back in order, overload said once', () => {
    const p = base(opts(12, 30));
    const back = roundTrip(codec(), p, decoded(p, 3));
    assert.deepEqual([...back.options.keys()], [...p.options.keys()]);
  });

  it('encodingLength counts what encode drops to fit, and is 0 for a packet encode refuses', () => {
    const fit = { required: [53, 54] };
    const p = base(opts(20, 60));
    const r = encode(p, fit);
    assert.ok(r.ok && r.dropped.length > 0);
    assert.equal(encodingLength(p, fit), r.value.length);
    assert.equal(encodingLength(base([[255, Buffer.alloc(1)]])), 0);
    assert.equal(encodingLength(base([[53, Buffer.alloc(600)]]), { required: [53] }), 0);
  });

  it('a decoded request encodes to a packet that decodes the same', () => {
    const bytes = rawRequest({ type: 3, xid: 0x01020304, options: [50, 4, ...ip('10.0.0.11'), 55, 3, 1, 3, 6, 61, 7, 1, 0x52, 0x54, 0, 0, 0x0a, 1], file: str('boot.bin') });
    const p = must(decode(bytes));
    const again = encode(p);
    assert.ok(again.ok);
    assert.deepEqual(must(decode(again.value)), p);
  });
});
