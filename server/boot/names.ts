// File names from the wire -> the confined, normalised paths boot providers
// accept (relative, '/'-separated, no '..', no NUL, no leading '/'). Pure.
//
// PXE ROMs and loaders often send "/pxelinux.0" or "\pxelinux.0": one or more
// leading separators are dropped, so absolute-looking names resolve inside
// the root (like tftpd-hpa -s). Everything that could step outside it is
// refused, not rewritten: a client asking for ".." is either broken or hostile
// and the operator should see it in the log.

export type NameResult = { ok: true; path: string } | { ok: false; code: 1 | 2; reason: string };

export const MAX_NAME_LENGTH = 1024;

export function confineName(raw: string): NameResult {
  if (raw.length > MAX_NAME_LENGTH) return { ok: false, code: 2, reason: `file name longer than ${MAX_NAME_LENGTH} characters` };
  if (raw.includes('\0')) return { ok: false, code: 2, reason: 'NUL byte in file name' };
  // eslint-disable-next-line no-control-regex
  if (/[\x01-\x1f\x7f]/.test(raw)) return { ok: false, code: 2, reason: 'control character in file name' };
  const name = raw.replace(/^[/\\]+/, '');
  if (name.includes('\\')) return { ok: false, code: 2, reason: 'backslash in file name (use /)' };
  if (/^[A-Za-z]:/.test(name)) return { ok: false, code: 2, reason: 'drive-letter path' };
  const segments: string[] = [];
  for (const seg of name.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') return { ok: false, code: 2, reason: "'..' in file name" };
    if (seg.length > 255) return { ok: false, code: 2, reason: 'file name component longer than 255 characters' };
    segments.push(seg);
  }
  if (!segments.length) return { ok: false, code: 1, reason: 'empty file name' };
  return { ok: true, path: segments.join('/') };
}
