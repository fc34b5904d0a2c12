// HTTP Range requests (RFC 9110 section 14) for boot files: pure parsing and
// the conditional-request decisions, so the route only moves bytes.

/** [start, end): end exclusive, like BootFile.read/stream. */
export interface ByteRange {
  start: number;
  end: number;
}

export type RangeDecision =
  /** No (usable) Range header: send the whole file. */
  | { kind: 'full' }
  | { kind: 'partial'; ranges: ByteRange[] }
  /** 416 with Content-Range: bytes * /size. */
  | { kind: 'unsatisfiable' };

/** More ranges than this in one request is treated as no Range at all (RFC 9110 allows ignoring). */
export const MAX_RANGES = 16;

/**
 * Decide what a Range header asks of a file of `size` bytes. A malformed
 * header is ignored (full response), as the RFC says; ranges beyond the end
 * are clipped; when none is satisfiable the answer is 416.
 */
export function parseRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return { kind: 'full' };
  const m = /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  if (!m) return { kind: 'full' };
  const specs = m[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length === 0 || specs.length > MAX_RANGES) return { kind: 'full' };
  const ranges: ByteRange[] = [];
  for (const spec of specs) {
    const r = /^(\d*)-(\d*)$/.exec(spec);
    if (!r || (r[1] === '' && r[2] === '')) return { kind: 'full' };
    if (r[1] === '') {
      // Suffix: the last N bytes.
      const n = Number(r[2]);
      if (!Number.isSafeInteger(n)) return { kind: 'full' };
      if (n === 0 || size === 0) continue;
      ranges.push({ start: Math.max(0, size - n), end: size });
      continue;
    }
    const first = Number(r[1]);
    const last = r[2] === '' ? Infinity : Number(r[2]);
    if (!Number.isSafeInteger(first) || (last !== Infinity && !Number.isSafeInteger(last)) || last < first) return { kind: 'full' };
    if (first >= size) continue;
    ranges.push({ start: first, end: Math.min(size, last + 1) });
  }
  return ranges.length ? { kind: 'partial', ranges } : { kind: 'unsatisfiable' };
}

/** If-None-Match: true when the client's copy is current (304). */
export function notModified(ifNoneMatch: string | undefined, etag: string | undefined): boolean {
  if (!ifNoneMatch || !etag) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const weak = (t: string) => t.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => weak(t) === weak(etag));
}

/** If-Range: honour Range only when the validator still matches (strong comparison of ETags). */
export function rangeStillValid(ifRange: string | undefined, etag: string | undefined): boolean {
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  if (!v.startsWith('"') && !v.startsWith('W/')) return false; // a date: boot files carry no Last-Modified
  return !!etag && !v.startsWith('W/') && v === etag;
}

export function contentRange(r: ByteRange, size: number): string {
  return `bytes ${r.start}-${r.end - 1}/${size}`;
}
