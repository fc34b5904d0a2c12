// Hand-built request packets for the DHCP unit tests and the fuzz run, written
// byte by byte (not with the codec under test).
export interface RawRequest {
  type?: number;
  mac?: number[];
  xid?: number;
  flags?: number;
  ciaddr?: number[];
  giaddr?: number[];
  /** Extra raw option bytes (code, len, value...) after 53. */
  options?: number[];
  /** Raw bytes for the sname (64) and file (128) fields. */
  sname?: number[];
  file?: number[];
  end?: boolean;
}

export function rawRequest(r: RawRequest = {}): Buffer {
  const b = Buffer.alloc(240);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  b.writeUInt32BE(r.xid ?? 0x12345678, 4);
  b.writeUInt16BE(r.flags ?? 0, 10);
  Buffer.from(r.ciaddr ?? [0, 0, 0, 0]).copy(b, 12);
  Buffer.from(r.giaddr ?? [0, 0, 0, 0]).copy(b, 24);
  Buffer.from(r.mac ?? [0x52, 0x54, 0, 0, 0x0a, 0x01]).copy(b, 28);
  if (r.sname) Buffer.from(r.sname).copy(b, 44);
  if (r.file) Buffer.from(r.file).copy(b, 108);
  b.writeUInt32BE(0x63825363, 236);
  const opts = [...(r.type !== undefined ? [53, 1, r.type] : []), ...(r.options ?? []), ...(r.end === false ? [] : [255])];
  return Buffer.concat([b, Buffer.from(opts)]);
}

export function ip(s: string): number[] {
  return s.split('.').map(Number);
}

export function str(s: string): number[] {
  return [...Buffer.from(s, 'latin1')];
}
