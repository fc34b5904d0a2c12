// DHCPv4 wire format (RFC 2131 section 2, RFC 2132, RFC 3396): bytes <->
// packet. Pure and bounds-checked: every read is checked against the buffer,
// and neither decode nor encode throws; both return a result that names the
// problem. Option 52 (overload) is honoured both ways: sname/file are read as
// options when the client says so, and a reply whose options do not fit
// spills into them. Options longer than 255 bytes are split into consecutive
// instances and instances of one code are concatenated (RFC 3396).
import { err, ok, type Result } from '../result.js';
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

/**
 * One DHCP message, both directions (as dns-packet's packets): decode's
 * result and encode's input. What only one direction needs is said on the
 * field; how a reply must fit the client is encode's second argument.
 */
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
  /** 16 bytes as on the wire (decode); the hardware address is the first hlen of them. Encode takes up to 16. */
  chaddr: Buffer;
  /** Server host name field up to its NUL; '' when it carried options (overload) or is empty. Encode: '' lets options overflow into it. */
  sname: string;
  /** Boot file field up to its NUL; '' when it carried options (overload) or is empty. Encode: '' lets options overflow into it. */
  file: string;
  /**
   * Option code -> value, in wire order (a Map keeps insertion order).
   * Decode: instances of one code concatenated (options, file, sname; RFC 3396).
   * Encode: codes 0, 52 and 255 are the codec's; longer values are split.
   */
  options: Map<number, Buffer>;
  /** Option 52 as received (0 when absent); encode ignores it and decides overload itself. */
  overload?: number;
}

/** How a reply must fit the client (encode's and encodingLength's second argument). */
export interface EncodeFit {
  /** Largest message the client accepts (its option 57 minus IP/UDP headers; at least 548). */
  maxSize?: number;
  /** Codes never dropped to make room (message type, server id, relay agent info). */
  required?: readonly number[];
}

/**
 * encode's result: the shared Result, plus on success the option codes it
 * left out because even overload could not fit them (the last optional ones,
 * the caller orders by priority); [] when all fit.
 */
export type EncodeResult = { ok: true; value: Buffer; dropped: number[] } | { ok: false; error: string };

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
export function decode(input: Uint8Array): Result<DhcpPacket> {
  try {
    return decodeUnchecked(input);
  } catch (e) {
    // Defensive: a bug here must not take the server down with a hostile packet.
    return err(`internal decode error: ${(e as Error).message}`);
  }
}

function decodeUnchecked(input: Uint8Array): Result<DhcpPacket> {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < HEADER_SIZE) return err(`message is ${buf.length} bytes, shorter than the ${HEADER_SIZE}-byte header`);
  const op = buf[0]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) return err(`op ${op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)`);
  const hlen = buf[2]!;
  if (hlen > 16) return err(`hlen ${hlen} exceeds the 16-byte chaddr field`);
  if (buf.readUInt32BE(236) !== MAGIC_COOKIE) return err('no DHCP magic cookie (plain BOOTP or not DHCP)');

  const options = new Map<number, Buffer>();
  let bad = readOptions(buf, HEADER_SIZE, buf.length, 'options', options);
  if (bad) return err(bad);
  let overload = 0;
  const ov = options.get(OPT.OVERLOAD);
  if (ov) {
    // Two instances of option 52 in the options area arrive concatenated: two bytes, refused.
    if (ov.length !== 1 || ov[0]! < 1 || ov[0]! > 3) {
      return err('option 52 (overload) must be one byte 1, 2 or 3');
    }
    overload = ov[0]!;
    // RFC 3396 concatenation order: options, then file, then sname.
    if (overload & OVERLOAD_FILE) bad = readOptions(buf, FILE_OFF, FILE_OFF + FILE_LEN, 'file', options, true);
    if (!bad && overload & OVERLOAD_SNAME) bad = readOptions(buf, SNAME_OFF, SNAME_OFF + SNAME_LEN, 'sname', options, true);
    if (bad) return err(bad);
    // Said by `overload`: the options are what the client meant, without the codec's own bookkeeping.
    options.delete(OPT.OVERLOAD);
  }

  // sname and file starting with NUL are empty: no string made (most requests carry none).
  const text = (off: number, len: number) => (buf[off] === 0 ? '' : fieldText(buf.subarray(off, off + len)));
  return ok({
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
      sname: overload & OVERLOAD_SNAME ? '' : text(SNAME_OFF, SNAME_LEN),
      file: overload & OVERLOAD_FILE ? '' : text(FILE_OFF, FILE_LEN),
      options,
      overload,
  });
}

/** A NUL-terminated string field (sname, file) as text; empty when absent. */
function fieldText(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('latin1', 0, nul < 0 ? b.length : nul);
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

/** What encode lays out: checked fields as bytes, and the size of the options when they all go in the options field. */
interface Prepared {
  maxSize: number;
  sname: Buffer;
  file: Buffer;
  /** Options field bytes with every option in it, END included. */
  total: number;
}

/** Where the options go when they do not all fit the options field: overload areas, and what had to go. */
interface Spill {
  options: Array<readonly [number, Buffer]>;
  areas: Area[];
  overload: number;
  dropped: number[];
  size: number;
}

function prepare(msg: DhcpPacket, fit: EncodeFit): Result<Prepared> {
  const maxSize = Math.min(Math.max(fit.maxSize ?? DEFAULT_MAX_MESSAGE, DEFAULT_MAX_MESSAGE), MAX_MESSAGE_CAP);
  const sname = msg.sname ? Buffer.from(msg.sname, 'latin1') : EMPTY;
  const file = msg.file ? Buffer.from(msg.file, 'latin1') : EMPTY;
  if (sname.length > SNAME_LEN - 1) return err(`sname '${msg.sname}' is longer than ${SNAME_LEN - 1} bytes`);
  if (file.length > FILE_LEN - 1) return err(`file '${msg.file}' is longer than ${FILE_LEN - 1} bytes`);
  if (msg.chaddr.length > 16) return err('chaddr is longer than 16 bytes');
  let total = 1; // END
  let refused: number | undefined;
  // forEach, not for-of: no [code, value] array made per option (encode runs once per reply).
  msg.options.forEach((v, code) => {
    if (code === OPT.PAD || code === OPT.END || code === OPT.OVERLOAD || code < 0 || code > 255) refused ??= code;
    total += v.length === 0 ? 2 : v.length + 2 * Math.ceil(v.length / 255);
  });
  if (refused !== undefined) return err(`option code ${refused} cannot be set by the caller`);
  return ok({ maxSize, sname, file, total });
}

/** The longest prefix of the options (dropping optional ones from the end) that fits, with overload if needed. */
function spill(msg: DhcpPacket, fit: EncodeFit, p: Prepared): Result<Spill> {
  const required = fit.required ?? [];
  let options = [...msg.options];
  const dropped: number[] = [];
  const mainSize = p.maxSize - HEADER_SIZE;
  for (;;) {
    const pieces = piecesOf(options);
    const main: Area = { off: HEADER_SIZE, end: HEADER_SIZE + mainSize, pos: HEADER_SIZE };
    let plan: { areas: Area[]; overload: number } | undefined;
    if (layout(pieces, [{ ...main }], undefined)) plan = { areas: [main], overload: 0 };
    else {
      // Overload: option 52 takes 3 bytes at the front of the options field.
      const extra: Area[] = [];
      let overload = 0;
      if (!p.file.length) (extra.push({ off: FILE_OFF, end: FILE_OFF + FILE_LEN, pos: FILE_OFF }), (overload |= OVERLOAD_FILE));
      if (!p.sname.length) (extra.push({ off: SNAME_OFF, end: SNAME_OFF + SNAME_LEN, pos: SNAME_OFF }), (overload |= OVERLOAD_SNAME));
      const areas = [{ ...main, pos: main.pos + 3 }, ...extra];
      if (overload && layout(pieces, areas.map((a) => ({ ...a })), undefined)) plan = { areas, overload };
    }
    if (plan) {
      const probe = plan.areas.map((a) => ({ ...a }));
      layout(pieces, probe, undefined);
      return ok({ options, ...plan, dropped, size: Math.max(MIN_REPLY_SIZE, probe[0]!.pos + 1) });
    }
    // Drop the last option that is not required (the caller orders by priority).
    let k = options.length - 1;
    while (k >= 0 && required.includes(options[k]![0])) k--;
    if (k < 0) return err(`the required options (${required.join(', ')}) do not fit in ${p.maxSize} bytes`);
    dropped.push(options[k]![0]);
    options = [...options.slice(0, k), ...options.slice(k + 1)];
  }
}

/**
 * Bytes encode(msg, fit) produces (replies are padded to 300, options that
 * do not fit are dropped as encode drops them); 0 when encode refuses the
 * packet (encode says why). Never throws.
 */
export function encodingLength(msg: DhcpPacket, fit: EncodeFit = {}): number {
  try {
    const p = prepare(msg, fit);
    if (!p.ok) return 0;
    if (p.value.total <= p.value.maxSize - HEADER_SIZE) return Math.max(MIN_REPLY_SIZE, HEADER_SIZE + p.value.total);
    const s = spill(msg, fit, p.value);
    return s.ok ? s.value.size : 0;
  } catch {
    return 0;
  }
}

/** Encode a message. Never throws; drops trailing optional options when even overload cannot fit them (see EncodeResult). */
export function encode(msg: DhcpPacket, fit: EncodeFit = {}): EncodeResult {
  try {
    return encodeUnchecked(msg, fit);
  } catch (e) {
    return err(`internal encode error: ${(e as Error).message}`);
  }
}

function writeHeader(out: Buffer, msg: DhcpPacket, sname: Buffer, file: Buffer): void {
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

function encodeUnchecked(msg: DhcpPacket, fit: EncodeFit): EncodeResult {
  const prep = prepare(msg, fit);
  if (!prep.ok) return prep;
  const { sname, file, total } = prep.value;
  // Fast path: everything fits the options field (the common case).
  if (total <= prep.value.maxSize - HEADER_SIZE) {
    const out = Buffer.alloc(Math.max(MIN_REPLY_SIZE, HEADER_SIZE + total));
    writeHeader(out, msg, sname, file);
    let pos = HEADER_SIZE;
    msg.options.forEach((v, code) => {
      if (v.length === 0) {
        out[pos] = code;
        out[pos + 1] = 0;
        pos += 2;
        return;
      }
      for (let from = 0; from < v.length; from += 255) {
        const len = Math.min(255, v.length - from);
        out[pos] = code;
        out[pos + 1] = len;
        out.set(v.subarray(from, from + len), pos + 2);
        pos += 2 + len;
      }
    });
    out[pos] = OPT.END;
    return { ok: true, value: out, dropped: [] };
  }

  const plan = spill(msg, fit, prep.value);
  if (!plan.ok) return plan;
  const { options, overload, dropped, size } = plan.value;
  const out = Buffer.alloc(size);
  writeHeader(out, msg, sname, file);
  const areas = plan.value.areas.map((a) => ({ ...a }));
  if (overload) {
    out[HEADER_SIZE] = OPT.OVERLOAD;
    out[HEADER_SIZE + 1] = 1;
    out[HEADER_SIZE + 2] = overload;
  }
  layout(piecesOf(options), areas, out);
  for (const a of areas) out[a.pos] = OPT.END;
  return { ok: true, value: out, dropped };
}
