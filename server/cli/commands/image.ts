// rackboot image build|list|show|rollback: through the REST API. `build`
// follows the build's server-sent events and draws a progress bar on a
// terminal (log lines otherwise); it exits 1 when the build fails.
import type { Command } from 'commander';
import { ApiClient, ApiRequestError, addApiOptions, readParts, type ApiOptions } from '../client.js';
import { jsonOption, printJson } from '../options.js';
import { table } from '../table.js';

interface JobView {
  id: string;
  image: string;
  state: string;
  version: string | null;
  changed: boolean | null;
  error: string | null;
  reused?: boolean;
  log: string[];
}
interface ImageView {
  name: string;
  recipe: string | null;
  current: string | null;
  building: string | null;
  versions: Array<{ version: string; current: boolean; committedAt: string; kernelRelease: string; initrdSize: number; kernelSize: number; compression: string }>;
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

function bar(done: number, total: number, width = 30): string {
  const f = total > 0 ? Math.min(1, done / total) : 0;
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${String(Math.round(f * 100)).padStart(3)}% ${mib(done)}/${mib(total)}`;
}

/** Read a server-sent event stream, calling back per event until it ends. */
async function followEvents(client: ApiClient, path: string, on: (type: string, data: Record<string, unknown>) => void): Promise<void> {
  const res = await fetch(`${client.base}/api/v1${path}`, { headers: client.token ? { authorization: `Bearer ${client.token}` } : {} });
  if (!res.ok || !res.body) throw new ApiRequestError(res.status, 'events', `${res.status} ${await res.text()}`);
  await readParts(res.body, '\n\n', (block) => {
    let type = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) type = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (data) on(type, JSON.parse(data) as Record<string, unknown>);
  });
}

export function registerImage(program: Command): void {
  const image = program.command('image').description('build, list and roll back kernels and RAM disks (through the REST API)');

  addApiOptions(image.command('build <name>').description('build an image from its recipe and wait for it').option('--no-wait', 'start the build and print its id')).action(
    async (name: string, o: ApiOptions & { wait: boolean }) => {
      const client = ApiClient.from(o);
      const job = await client.request<JobView>('POST', `/images/${encodeURIComponent(name)}/builds`);
      if (!o.wait) return console.log(`build ${job.id} of ${name} ${job.reused ? 'already ' : ''}${job.state}`);
      if (job.reused) console.error(`a build of ${name} is already ${job.state} (${job.id}); following it`);
      const tty = process.stderr.isTTY;
      let drawn = false;
      const clear = () => {
        if (drawn) process.stderr.write('\r\x1b[K');
        drawn = false;
      };
      let final: { state: string; version: string | null; error: string | null } | undefined;
      await followEvents(client, `/images/${encodeURIComponent(name)}/builds/${job.id}/events`, (type, data) => {
        if (type === 'log') {
          clear();
          console.error(`  ${String(data.line)}`);
        } else if (type === 'progress' && tty) {
          const p = data.progress as { phase: string; done?: number; total?: number };
          clear();
          process.stderr.write(p.phase === 'write' ? `  ${bar(p.done ?? 0, p.total ?? 0)}` : `  ${p.phase}...`);
          drawn = true;
        } else if (type === 'state') {
          const s = data as { state: string; version: string | null; error: string | null };
          if (s.state === 'succeeded' || s.state === 'failed') final = s;
        }
      });
      clear();
      if (!final) throw new Error(`lost the build's event stream; see rackboot image show ${name}`);
      if (final.state === 'failed') throw new Error(`build of ${name} failed: ${final.error}`);
      console.log(`${name} ${final.version}`);
    },
  );

  addApiOptions(jsonOption(image.command('list').description('images, their current version and stored versions'))).action(
    async (o: ApiOptions & { json?: boolean }) => {
      const list = await ApiClient.from(o).request<ImageView[]>('GET', '/images');
      if (o.json) return printJson(list);
      const rows = [['IMAGE', 'CURRENT', 'KERNEL', 'INITRD', 'VERSIONS', 'BUILDING']];
      for (const i of list) {
        const cur = i.versions.find((v) => v.current);
        rows.push([i.name, i.current ?? '-', cur?.kernelRelease ?? '-', cur ? mib(cur.initrdSize) : '-', String(i.versions.length), i.building ?? '-']);
      }
      console.log(table(rows));
    },
  );

  addApiOptions(jsonOption(image.command('show <name>').description("an image's stored versions, newest first"))).action(async (name: string, o: ApiOptions & { json?: boolean }) => {
    const i = await ApiClient.from(o).request<ImageView>('GET', `/images/${encodeURIComponent(name)}`);
    if (o.json) return printJson(i);
    console.log(`${i.name}: recipe ${i.recipe ?? '(none)'}${i.building ? `, build ${i.building} in progress` : ''}`);
    const rows = [['', 'VERSION', 'COMMITTED', 'KERNEL', 'INITRD', 'COMPRESSION']];
    for (const v of i.versions) rows.push([v.current ? '*' : '', v.version, v.committedAt, v.kernelRelease, mib(v.initrdSize), v.compression]);
    console.log(table(rows));
  });

  addApiOptions(image.command('rollback <name> [version]').description('serve an older stored version (default: the one before the current)')).action(
    async (name: string, version: string | undefined, o: ApiOptions) => {
      const r = await ApiClient.from(o).request<{ from: string | null; to: string }>('POST', `/images/${encodeURIComponent(name)}/rollback`, version ? { version } : {});
      console.log(`${name}: ${r.from ?? '(none)'} -> ${r.to}`);
    },
  );
}
