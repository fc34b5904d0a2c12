// TFTP packets <-> typed values (RFC 1350, 2347 options), in the
// dns-packet style: decode(bytes) and encode(packet) are inverses, with
// encodingLength(packet) beside them. Pure and bounds-checked: both return a
// Result (server/result.ts) naming the problem for any input instead of
// throwing, so a hostile datagram can never take the server down. The
// encodeData/encodeError/... helpers stay for the sending hot path.
import { err, ok, type Result } from '../result.js';

export const OP = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

export const ERR = {
  NOT_DEFINED: 0,
  NOT_FOUND: 1,
  ACCESS: 2,
  DISK_FULL: 3,
  ILLEGAL_OP: 4,
  UNKNOWN_TID: 5,
  EXISTS: 6,
  NO_USER: 7,
  OPTION: 8,
} as const;
export type ErrorCode = (typeof ERR)[keyof typeof ERR];

export interface Request {
  op: 'RRQ' | 'WRQ';
  filename: string;
  /** Lower-cased: 'octet', 'netascii', 'mail' or whatever else the client wrote. */
  mode: string;
  /** Option names lower-cased, in the order sent; values as sent. */
  options: Array<[string, string]>;
}
export interface DataPacket {
  op: 'DATA';
  block: number;
  data: Buffer;
}
export interface AckPacket {
  op: 'ACK';
  block: number;
}
export interface ErrorPacket {
  op: 'ERROR';
  code: number;
  message: string;
}
export interface OackPacket {
  op: 'OACK';
  options: Array<[string, string]>;
}
export type Packet = Request | DataPacket | AckPacket | ErrorPacket | OackPacket;


const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Split NUL-terminated strings from buf[start..]; undefined when the last one is not terminated or is not UTF-8. */
function strings(buf: Buffer, start: number): string[] | undefined {
  const out: string[] = [];
  let i = start;
  while (i < buf.length) {
    const end = buf.indexOf(0, i);
    if (end < 0) return undefined;
    try {
      out.push(utf8.decode(buf.subarray(i, end)));
    } catch {
      return undefined;
    }
    i = end + 1;
  }
  return out;
}

export function decode(buf: Buffer): Result<Packet> {
  try {
    return decodeUnsafe(buf);
  } catch (e) {
    // Belt and braces: nothing above should throw, but a packet must never crash the server.
    return err(`undecodable packet (${(e as Error).message})`);
  }
}

function decodeUnsafe(buf: Buffer): Result<Packet> {
  if (buf.length < 2) return err(`datagram of ${buf.length} byte(s) is too short for a TFTP opcode`);
  const op = buf.readUInt16BE(0);
  switch (op) {
    case OP.RRQ:
    case OP.WRQ: {
      const parts = strings(buf, 2);
      if (!parts) return err('request fields are not NUL-terminated UTF-8 strings');
      if (parts.length < 2) return err('request lacks a file name or mode');
      if (parts.length % 2 !== 0) return err(`option '${parts[parts.length - 1]}' has no value`);
      const options: Array<[string, string]> = [];
      for (let i = 2; i < parts.length; i += 2) options.push([parts[i]!.toLowerCase(), parts[i + 1]!]);
      return ok({ op: op === OP.RRQ ? 'RRQ' : 'WRQ', filename: parts[0]!, mode: parts[1]!.toLowerCase(), options });
    }
    case OP.DATA:
      if (buf.length < 4) return err('DATA packet shorter than 4 bytes');
      return ok({ op: 'DATA', block: buf.readUInt16BE(2), data: buf.subarray(4) });
    case OP.ACK:
      if (buf.length < 4) return err('ACK packet shorter than 4 bytes');
      return ok({ op: 'ACK', block: buf.readUInt16BE(2) });
    case OP.ERROR: {
      if (buf.length < 4) return err('ERROR packet shorter than 4 bytes');
      // Be lenient about the message: a missing NUL or bad UTF-8 still tells us the transfer is over.
      const end = buf.indexOf(0, 4);
      const message = buf.subarray(4, end < 0 ? buf.length : end).toString('latin1');
      return ok({ op: 'ERROR', code: buf.readUInt16BE(2), message });
    }
    case OP.OACK: {
      const parts = strings(buf, 2);
      if (!parts || parts.length % 2 !== 0) return err('malformed OACK');
      const options: Array<[string, string]> = [];
      for (let i = 0; i < parts.length; i += 2) options.push([parts[i]!.toLowerCase(), parts[i + 1]!]);
      return ok({ op: 'OACK', options });
    }
    default:
      return err(`unknown opcode ${op}`);
  }
}

/** The largest DATA payload: RFC 2348's largest blksize. */
const MAX_DATA = 65464;

const isU16 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff;

/** The strings of a request or OACK, in wire order. */
function fields(p: Request | OackPacket): string[] {
  const head = p.op === 'OACK' ? [] : [p.filename, p.mode];
  return head.concat(...p.options);
}

/** Bytes encode(packet) produces, for a packet it accepts. */
export function encodingLength(p: Packet): number {
  switch (p.op) {
    case 'DATA':
      return 4 + p.data.length;
    case 'ACK':
      return 4;
    case 'ERROR':
      return 4 + p.message.length + 1;
    default:
      return fields(p).reduce((n, f) => n + Buffer.byteLength(f, 'utf8') + 1, 2);
  }
}

/** Why encode() refuses a packet, or undefined when it can be written so decode() gives it back. */
function unencodable(p: Packet): string | undefined {
  switch (p.op) {
    case 'DATA':
      if (p.data.length > MAX_DATA) return `DATA of ${p.data.length} bytes is over the largest block (${MAX_DATA})`;
      return isU16(p.block) ? undefined : `block ${p.block} is not a 16-bit number`;
    case 'ACK':
      return isU16(p.block) ? undefined : `block ${p.block} is not a 16-bit number`;
    case 'ERROR':
      if (!isU16(p.code)) return `error code ${p.code} is not a 16-bit number`;
      // decode() reads the message as latin1, up to its NUL.
      return /[\0\u0100-\uffff]/.test(p.message) ? 'ERROR message has a NUL or a character outside latin1' : undefined;
    default:
      for (const f of fields(p)) {
        if (f.includes('\0')) return `${p.op} field '${f.replace(/\0/g, '\\0')}' contains a NUL`;
        // A lone surrogate would come back as U+FFFD.
        if (Buffer.from(f, 'utf8').toString('utf8') !== f) return `${p.op} field is not valid Unicode`;
      }
      return undefined;
  }
}

/** Any packet to bytes, or why it cannot be (decode(encode(p)) gives p back, names and modes lower-cased). */
export function encode(p: Packet): Result<Buffer> {
  const problem = unencodable(p);
  if (problem !== undefined) return err(problem);
  const buf = Buffer.allocUnsafe(encodingLength(p));
  let o = buf.writeUInt16BE(OP[p.op], 0);
  switch (p.op) {
    case 'DATA':
      p.data.copy(buf, buf.writeUInt16BE(p.block, o));
      break;
    case 'ACK':
      buf.writeUInt16BE(p.block, o);
      break;
    case 'ERROR':
      o = buf.writeUInt16BE(p.code, o);
      buf[o + buf.write(p.message, o, 'latin1')] = 0;
      break;
    default:
      for (const f of fields(p)) {
        o += buf.write(f, o, 'utf8');
        buf[o++] = 0;
      }
  }
  return ok(buf);
}

/** DATA header (4 bytes); the payload is sent as a second buffer to avoid a copy. */
export function dataHeader(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(OP.DATA, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

export function encodeData(block: number, data: Buffer): Buffer {
  return Buffer.concat([dataHeader(block), data]);
}

export function encodeAck(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(OP.ACK, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

/** ERROR packet; the message is cut to keep the packet within 512 bytes and made ASCII-safe. */
export function encodeError(code: number, message: string): Buffer {
  const text = Buffer.from(message.replace(/[^\x20-\x7e]/g, '?').slice(0, 500), 'latin1');
  const b = Buffer.alloc(4 + text.length + 1);
  b.writeUInt16BE(OP.ERROR, 0);
  b.writeUInt16BE(code & 0xffff, 2);
  text.copy(b, 4);
  return b;
}

export function encodeOack(options: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [Buffer.from([0, OP.OACK])];
  for (const [k, v] of options) parts.push(Buffer.from(`${k}\0${v}\0`, 'utf8'));
  return Buffer.concat(parts);
}

/** RRQ/WRQ (for tests and tools). */
export function encodeRequest(op: 'RRQ' | 'WRQ', filename: string, mode: string, options: ReadonlyArray<readonly [string, string]> = []): Buffer {
  const parts: Buffer[] = [Buffer.from([0, op === 'RRQ' ? OP.RRQ : OP.WRQ]), Buffer.from(`${filename}\0${mode}\0`, 'utf8')];
  for (const [k, v] of options) parts.push(Buffer.from(`${k}\0${v}\0`, 'utf8'));
  return Buffer.concat(parts);
}
