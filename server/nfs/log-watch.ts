// Reading a log file another process appends to (ganesha's): where it ends
// now, the lines written since an offset, and waiting for a line to appear.
// ganesha reports start-up, reload results and config errors only there.
import { open, stat } from 'node:fs/promises';

export async function logSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** Complete lines written at or after `from`, and the offset after the last one. */
export async function linesSince(file: string, from: number): Promise<{ lines: string[]; end: number }> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return { lines: [], end: from };
  }
  try {
    const size = (await fh.stat()).size;
    if (size < from) from = 0; // truncated or replaced
    const len = size - from;
    if (len <= 0) return { lines: [], end: from };
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, from);
    const text = buf.toString('utf8');
    const lastNl = text.lastIndexOf('\n');
    if (lastNl < 0) return { lines: [], end: from };
    return { lines: text.slice(0, lastNl).split('\n'), end: from + Buffer.byteLength(text.slice(0, lastNl + 1)) };
  } finally {
    await fh.close();
  }
}

/** The last `n` lines of a file (for error messages). */
export async function tailLines(file: string, n: number, from = 0): Promise<string[]> {
  const { lines } = await linesSince(file, from);
  return lines.slice(-n);
}

export interface WaitOptions {
  timeoutMs: number;
  /** Checked on every poll: a reason stops the wait (e.g. the process exited). */
  abort?: () => string | undefined;
  pollMs?: number;
}

/**
 * Poll until a line matching `done` appears after `from`. Resolves with every
 * line seen since `from` up to and including it; rejects on timeout or abort.
 */
export async function waitForLine(file: string, from: number, done: (line: string) => boolean, o: WaitOptions): Promise<{ lines: string[]; end: number }> {
  const deadline = Date.now() + o.timeoutMs;
  const seen: string[] = [];
  let at = from;
  for (;;) {
    const { lines, end } = await linesSince(file, at);
    at = end;
    for (const l of lines) {
      seen.push(l);
      if (done(l)) return { lines: seen, end: at };
    }
    const why = o.abort?.();
    if (why) throw Object.assign(new Error(why), { lines: seen });
    if (Date.now() > deadline) throw Object.assign(new Error(`timed out after ${o.timeoutMs} ms`), { lines: seen });
    await new Promise((r) => setTimeout(r, o.pollMs ?? 25));
  }
}
