// DHCPv4 wire format (RFC 2131 section 2, RFC 2132, RFC 3396): bytes <->
// packet. Pure and bounds-checked: every read is checked against the buffer,
// and neither decode nor encode throws; both return a result that names the
// problem. Option 52 (overload) is honoured both ways: sname/file are read as
// options when the client says so, and a reply whose options do not fit
// spills into them. Options longer than 255 bytes are split into consecutive
// instances and instances of one code are concatenated (RFC 3396).
import { OPT } from './options.js';

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const MAGIC_COOKIE = 0x63825363;
/** Fixed header (236) + magic cookie (4). */
export const HEADER_SIZE = 240;
/** BOOTP's minimum message size: replies are padded to it (RFC 1542 2.1, old relays drop shorter ones). */
export const MIN_REPLY_SIZE = 300;
/** Largest message every client must accept: 576-byte IP datagram minus IP and UDP headers (RFC 2131 2). */
export const DEFAULT_MAX_MESSAGE = 576 - 28;
/** An Ethernet frame's worth; a client's option 57 is never honoured beyond this. */
export const MAX_MESSAGE_CAP = 1500 - 28;

const SNAME_OFF = 44;
const SNAME_LEN = 64;
const FILE_OFF = 108;
const FILE_LEN = 128;

const EMPTY = Buffer.alloc(0);

export const OVERLOAD_FILE = 1;
export const OVERLOAD_SNAME = 2;

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** 16 bytes as on the wire; the hardware address is the first hlen of them. */
  chaddr: Buffer;
  /** Raw sname field; empty when it carried options (overload) or starts with NUL. */
  sname: Buffer;
  /** Raw file field; empty when it carried options (overload) or starts with NUL. */
  file: Buffer;
  /** Option code -> value, instances of one code concatenated in wire order (options, file, sname). */
  options: Map<number, Buffer>;
  /** Option 52 as received (0 when absent). */
  overload: number;
}

export type DecodeResult = { ok: true; packet: DhcpPacket } | { ok: false; error: string };
export type EncodeResult = { ok: true; bytes: Buffer; dropped: number[] } | { ok: false; error: string };

/**
 * Parse options in buf[start, end) into `into`; returns an error text or
 * undefined. A code seen again is appended to what it had (RFC 3396; rare, so
 * the copy is paid only then). Option 52 inside file or sname is meaningless
 * and ignored (`overloadArea`).
 */
function readOptions(buf: Buffer, start: number, end: number, where: string, into: Map<number, Buffer>, overloadArea = false): string | undefined {
  let i = start;
  while (i < end) {
    const code = buf[i]!;
    if (code === OPT.PAD) {
      i++;
      continue;
    }
    if (code === OPT.END) return undefined;
    if (i + 1 >= end) return `option ${code} in ${where} at offset ${i} has no length byte`;
    const len = buf[i + 1]!;
    if (i + 2 + len > end) return `option ${code} in ${where} at offset ${i} claims ${len} bytes but only ${end - i - 2} remain`;
    if (!(overloadArea && code === OPT.OVERLOAD)) {
      const v = buf.subarray(i + 2, i + 2 + len);
      const prev = into.get(code);
      into.set(code, prev ? Buffer.concat([prev, v]) : v);
    }
    i += 2 + len;
  }
  // No END: tolerated (some embedded clients omit it); the area simply ends.
  return undefined;
}

/** Decode one DHCP/BOOTP message. Never throws. */
export function decode(input: Uint8Array): DecodeResult {
  try {
    return decodeUnchecked(input);
  } catch (e) {
    // Defensive: a bug here must not take the server down with a hostile packet.
    return { ok: false, error: `internal decode error: ${(e as Error).message}` };
  }
}

function decodeUnchecked(input: Uint8Array): DecodeResult {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < HEADER_SIZE) return { ok: false, error: `message is ${buf.length} bytes, shorter than the ${HEADER_SIZE}-byte header` };
  const op = buf[0]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) return { ok: false, error: `op ${op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)` };
  const hlen = buf[2]!;
  if (hlen > 16) return { ok: false, error: `hlen ${hlen} exceeds the 16-byte chaddr field` };
  if (buf.readUInt32BE(236) !== MAGIC_COOKIE) return { ok: false, error: 'no DHCP magic cookie (plain BOOTP or not DHCP)' };

  const options = new Map<number, Buffer>();
  let err = readOptions(buf, HEADER_SIZE, buf.length, 'options', options);
  if (err) return { ok: false, error: err };
  let overload = 0;
  const ov = options.get(OPT.OVERLOAD);
  if (ov) {
    // Two instances of option 52 in the options area arrive concatenated: two bytes, refused.
    if (ov.length !== 1 || ov[0]! < 1 || ov[0]! > 3) {
      return { ok: false, error: 'option 52 (overload) must be one byte 1, 2 or 3' };
    }
    overload = ov[0]!;
    // RFC 3396 concatenation order: options, then file, then sname.
    if (overload & OVERLOAD_FILE) err = readOptions(buf, FILE_OFF, FILE_OFF + FILE_LEN, 'file', options, true);
    if (!err && overload & OVERLOAD_SNAME) err = readOptions(buf, SNAME_OFF, SNAME_OFF + SNAME_LEN, 'sname', options, true);
    if (err) return { ok: false, error: err };
  }

  // sname and file starting with NUL are empty strings: no view made (most requests carry none).
  const text = (off: number, len: number) => (buf[off] === 0 ? EMPTY : buf.subarray(off, off + len));
  return {
    ok: true,
    packet: {
      op,
      htype: buf[1]!,
      hlen,
      hops: buf[3]!,
      xid: buf.readUInt32BE(4),
      secs: buf.readUInt16BE(8),
      flags: buf.readUInt16BE(10),
      ciaddr: buf.readUInt32BE(12),
      yiaddr: buf.readUInt32BE(16),
      siaddr: buf.readUInt32BE(20),
      giaddr: buf.readUInt32BE(24),
      chaddr: buf.subarray(28, 44),
      sname: overload & OVERLOAD_SNAME ? EMPTY : text(SNAME_OFF, SNAME_LEN),
      file: overload & OVERLOAD_FILE ? EMPTY : text(FILE_OFF, FILE_LEN),
      options,
      overload,
    },
  };
}

/** A NUL-terminated string field (sname, file) as text; empty when absent. */
export function fieldText(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('latin1', 0, nul < 0 ? b.length : nul);
}

export interface EncodeInput {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  chaddr: Uint8Array;
  /** Server host name field; leave empty to let options overflow into it. */
  sname?: string;
  /** Boot file field; leave empty to let options overflow into it. */
  file?: string;
  /** Options in the order they go on the wire. Codes 0, 52 and 255 are managed here. */
  options: ReadonlyArray<readonly [number, Uint8Array]>;
  /** Codes never dropped to make room (message type, server id, relay agent info). */
  required?: readonly number[];
  /** Largest message the client accepts (its option 57 minus IP/UDP headers; at least 548). */
  maxSize?: number;
}

interface Area {
  off: number;
  end: number;
  pos: number;
}

/** Lay out pieces of options into the areas in order; false when they don't fit. */
function layout(pieces: Array<[number, Uint8Array, number, number]>, areas: Area[], out: Buffer | undefined): boolean {
  let a = 0;
  for (const [code, value, from, len] of pieces) {
    const need = 2 + len;
    // Each area keeps one byte for its END.
    while (a < areas.length && areas[a]!.pos + need > areas[a]!.end - 1) a++;
    if (a >= areas.length) return false;
    const area = areas[a]!;
    if (out) {
      out[area.pos] = code;
      out[area.pos + 1] = len;
      out.set(value.subarray(from, from + len), area.pos + 2);
    }
    area.pos += need;
  }
  return true;
}

/** Split every option into <=255-byte pieces (RFC 3396). */
function piecesOf(options: ReadonlyArray<readonly [number, Uint8Array]>): Array<[number, Uint8Array, number, number]> {
  const out: Array<[number, Uint8Array, number, number]> = [];
  for (const [code, value] of options) {
    if (value.length === 0) {
      out.push([code, value, 0, 0]);
      continue;
    }
    for (let from = 0; from < value.length; from += 255) out.push([code, value, from, Math.min(255, value.length - from)]);
  }
  return out;
}

/** Encode a message. Never throws; drops trailing optional options when even overload cannot fit them. */
export function encode(msg: EncodeInput): EncodeResult {
  try {
    return encodeUnchecked(msg);
  } catch (e) {
    return { ok: false, error: `internal encode error: ${(e as Error).message}` };
  }
}

function writeHeader(out: Buffer, msg: EncodeInput, sname: Buffer, file: Buffer): void {
  out[0] = msg.op;
  out[1] = msg.htype;
  out[2] = msg.hlen;
  out[3] = msg.hops;
  out.writeUInt32BE(msg.xid >>> 0, 4);
  out.writeUInt16BE(msg.secs & 0xffff, 8);
  out.writeUInt16BE(msg.flags & 0xffff, 10);
  out.writeUInt32BE(msg.ciaddr >>> 0, 12);
  out.writeUInt32BE(msg.yiaddr >>> 0, 16);
  out.writeUInt32BE(msg.siaddr >>> 0, 20);
  out.writeUInt32BE(msg.giaddr >>> 0, 24);
  out.set(msg.chaddr.subarray(0, 16), 28);
  if (sname.length) sname.copy(out, SNAME_OFF);
  if (file.length) file.copy(out, FILE_OFF);
  out.writeUInt32BE(MAGIC_COOKIE, 236);
}

function encodeUnchecked(msg: EncodeInput): EncodeResult {
  const maxSize = Math.min(Math.max(msg.maxSize ?? DEFAULT_MAX_MESSAGE, DEFAULT_MAX_MESSAGE), MAX_MESSAGE_CAP);
  const sname = msg.sname ? Buffer.from(msg.sname, 'latin1') : EMPTY;
  const file = msg.file ? Buffer.from(msg.file, 'latin1') : EMPTY;
  if (sname.length > SNAME_LEN - 1) return { ok: false, error: `sname '${msg.sname}' is longer than ${SNAME_LEN - 1} bytes` };
  if (file.length > FILE_LEN - 1) return { ok: false, error: `file '${msg.file}' is longer than ${FILE_LEN - 1} bytes` };
  if (msg.chaddr.length > 16) return { ok: false, error: 'chaddr is longer than 16 bytes' };
  for (const [code] of msg.options) {
    if (code === OPT.PAD || code === OPT.END || code === OPT.OVERLOAD || code < 0 || code > 255) {
      return { ok: false, error: `option code ${code} cannot be set by the caller` };
    }
  }
  // Fast path: everything fits the options field (the common case).
  const mainSize = maxSize - HEADER_SIZE;
  let total = 1; // END
  for (const [, v] of msg.options) total += v.length === 0 ? 2 : v.length + 2 * Math.ceil(v.length / 255);
  if (total <= mainSize) {
    const out = Buffer.alloc(Math.max(MIN_REPLY_SIZE, HEADER_SIZE + total));
    writeHeader(out, msg, sname, file);
    let pos = HEADER_SIZE;
    for (const [code, v] of msg.options) {
      if (v.length === 0) {
        out[pos] = code;
        out[pos + 1] = 0;
        pos += 2;
        continue;
      }
      for (let from = 0; from < v.length; from += 255) {
        const len = Math.min(255, v.length - from);
        out[pos] = code;
        out[pos + 1] = len;
        out.set(v.subarray(from, from + len), pos + 2);
        pos += 2 + len;
      }
    }
    out[pos] = OPT.END;
    return { ok: true, bytes: out, dropped: [] };
  }

  const required = msg.required ?? [];
  let options = msg.options.slice();
  const dropped: number[] = [];

  // Find the longest prefix of the options that fits, with overload if needed.
  let plan: { areas: Area[]; overload: number } | undefined;
  for (;;) {
    const pieces = piecesOf(options);
    const main: Area = { off: HEADER_SIZE, end: HEADER_SIZE + mainSize, pos: HEADER_SIZE };
    if (layout(pieces, [{ ...main }], undefined)) {
      plan = { areas: [main], overload: 0 };
      break;
    }
    // Overload: option 52 takes 3 bytes at the front of the options field.
    const extra: Area[] = [];
    let overload = 0;
    if (!file.length) (extra.push({ off: FILE_OFF, end: FILE_OFF + FILE_LEN, pos: FILE_OFF }), (overload |= OVERLOAD_FILE));
    if (!sname.length) (extra.push({ off: SNAME_OFF, end: SNAME_OFF + SNAME_LEN, pos: SNAME_OFF }), (overload |= OVERLOAD_SNAME));
    if (overload) {
      const areas = [{ ...main, pos: main.pos + 3 }, ...extra];
      if (layout(pieces, areas.map((a) => ({ ...a })), undefined)) {
        plan = { areas, overload };
        break;
      }
    }
    // Drop the last option that is not required (the caller orders by priority).
    let k = options.length - 1;
    while (k >= 0 && required.includes(options[k]![0])) k--;
    if (k < 0) return { ok: false, error: `the required options (${required.join(', ')}) do not fit in ${maxSize} bytes` };
    dropped.push(options[k]![0]);
    options = [...options.slice(0, k), ...options.slice(k + 1)];
  }

  const probe = plan.areas.map((a) => ({ ...a }));
  layout(piecesOf(options), probe, undefined);
  const size = Math.max(MIN_REPLY_SIZE, probe[0]!.pos + 1);
  const out = Buffer.alloc(size);
  writeHeader(out, msg, sname, file);
  const areas = plan.areas.map((a) => ({ ...a }));
  if (plan.overload) {
    out[HEADER_SIZE] = OPT.OVERLOAD;
    out[HEADER_SIZE + 1] = 1;
    out[HEADER_SIZE + 2] = plan.overload;
  }
  layout(piecesOf(options), areas, out);
  for (const a of areas) out[a.pos] = OPT.END;
  return { ok: true, bytes: out, dropped };
}
