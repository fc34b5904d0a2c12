// The web content the lab syncs into rackboot's NFS export: one page, the
// same for every blade, naming the run so a stale or foreign page is told
// apart. Its hash is what every answer through the VIP must have.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../helpers/netns.js';

export function sitePage(runId: string): string {
  // About the size of a 2001 home page (WebBench's static mix centred on a few KB).
  const filler = Array.from({ length: 60 }, (_, i) => `<p>Line ${i + 1}: served from the director's NFS export to every blade.</p>`).join('\n');
  return `<!doctype html>\n<html><head><title>rackboot lab ${runId}</title></head>\n<body>\n<h1>Linux on Carrier Grade Web Servers</h1>\n<p>rackboot lab page of run ${runId}</p>\n${filler}\n</body></html>\n`;
}

export function writeSitePage(dir: string, runId: string): { sha: string; text: string } {
  mkdirSync(dir, { recursive: true });
  const text = sitePage(runId);
  writeFileSync(join(dir, 'index.html'), text);
  return { sha: createHash('sha256').update(text).digest('hex').slice(0, 16), text };
}

/** The directory as a tar stream (what `rackboot content sync` sends). */
export async function tarOf(dir: string): Promise<Buffer> {
  const r = await run('sh', ['-c', `tar -C '${dir}' -cf - . | base64 -w0`], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`tar of ${dir} failed: ${r.stderr}`);
  return Buffer.from(r.stdout, 'base64');
}
