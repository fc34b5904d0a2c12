// `rackboot export ...` and `rackboot content ...`: NFS exports and their
// content, through the REST API. A content sync tars the source directory
// here and streams it to the server, so the CLI may run on another host and
// reads the tree with the invoking user's permissions.
import type { Command } from 'commander';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { c as tarCreate } from 'tar';
import { ApiClient, ApiRequestError, addApiOptions, type ApiOptions } from '../client.js';
import type { ExportView } from '../../nfs/manager.js';
import type { ReleaseInfo, SyncResult } from '../../nfs/content.js';
import { collect, jsonOption, printJson } from '../options.js';
import { table } from '../table.js';

const enc = encodeURIComponent;

export function registerExport(program: Command): void {
  const exp = program.command('export').description('NFS exports: list, add, remove, show (through the REST API)');

  addApiOptions(jsonOption(exp.command('list').description('list exports, where they come from and whether they are served'))).action(
    async (o: ApiOptions & { json?: boolean }) => {
      const list = await ApiClient.from(o).request<ExportView[]>('GET', '/exports');
      if (o.json) return printJson(list);
      const rows = [['NAME', 'STATE', 'ACCESS', 'NETWORKS', 'PATH', 'MOUNT', 'FROM']];
      for (const e of list) {
        const mount = Object.values(e.mounts)[0];
        rows.push([e.name, e.state, e.access, e.networks.join(','), e.path, mount ? mount.source : '-', e.origin]);
      }
      console.log(table(rows));
      for (const e of list.filter((x) => x.problems.length)) console.log(`${e.name}: ${e.problems.join('; ')}`);
    },
  );

  addApiOptions(exp.command('show <name>').description('one export as JSON, with how each network mounts it')).action(async (name: string, o: ApiOptions) => {
    console.log(JSON.stringify(await ApiClient.from(o).request<ExportView>('GET', `/exports/${enc(name)}`), null, 2));
  });

  addApiOptions(
    exp
      .command('add <name>')
      .description('export a directory under nfs.contentRoots to cluster networks')
      .requiredOption('-p, --path <dir>', 'directory on the server (absolute, or relative to the current directory)')
      .option('-n, --network <name>', 'a cluster network allowed to mount (repeatable)', collect, [])
      .option('--rw', 'read-write (default read-only)')
      .option('--allow-rw-network', 'confirm rw to whole networks')
      .option('--squash <kind>', 'root_squash | all_squash | no_root_squash')
      .option('--async', 'let the server reply before writes reach disk')
      .option('--pseudo <path>', 'NFSv4 pseudo path (default /NAME)')
      .option('--layout <layout>', 'releases (content sync) | plain'),
  ).action(
    async (
      name: string,
      o: ApiOptions & { path: string; network: string[]; rw?: boolean; allowRwNetwork?: boolean; squash?: string; async?: boolean; pseudo?: string; layout?: string },
    ) => {
      const body: Record<string, unknown> = { name, path: resolve(o.path), networks: o.network };
      if (o.rw) body.access = 'rw';
      if (o.allowRwNetwork) body.allowRwNetwork = true;
      if (o.squash) body.squash = o.squash;
      if (o.async) body.sync = false;
      if (o.pseudo) body.pseudo = o.pseudo;
      if (o.layout) body.layout = o.layout;
      const e = await ApiClient.from(o).request<ExportView>('POST', '/exports', body);
      const mounts = Object.entries(e.mounts).map(([net, m]) => `${net}: mount ${m.source} -o ${m.options}${m.contentDir ? ` (content in ${m.contentDir}/)` : ''}`);
      console.log(`exported ${e.name} (${e.realPath}, id ${e.exportId})${mounts.length ? '\n  ' + mounts.join('\n  ') : ''}`);
    },
  );

  addApiOptions(exp.command('rm <name>').description('stop exporting (API-made exports only; config ones are changed in the config)')).action(async (name: string, o: ApiOptions) => {
    await ApiClient.from(o).request('DELETE', `/exports/${enc(name)}`);
    console.log(`removed export ${name}`);
  });

  addApiOptions(exp.command('status').description('which NFS server rackboot drives, and how it is doing')).action(async (o: ApiOptions) => {
    const s = await ApiClient.from(o).request<{ backend: string | null; configured: string; why: string | null; ok: boolean; detail: string; files: Record<string, string>; exports: number }>('GET', '/nfs');
    console.log(`backend: ${s.backend ?? '-'} (configured: ${s.configured}${s.why ? `; ${s.why}` : ''})`);
    console.log(`${s.ok ? 'ok' : 'NOT OK'}: ${s.detail}`);
    for (const [k, v] of Object.entries(s.files)) console.log(`${k}: ${v}`);
  });

  addApiOptions(exp.command('render').description('print the exports file (or ganesha.conf) the server is given')).action(async (o: ApiOptions) => {
    process.stdout.write(await ApiClient.from(o).request<string>('GET', '/nfs/rendered'));
  });
}

function printSync(r: SyncResult & { export: string }, how: string): void {
  const ms = `server: write ${r.ms.write} ms, flush ${r.ms.flush} ms, switch ${r.ms.switch} ms, prune ${r.ms.prune} ms`;
  console.log(`${r.export}: release ${r.release} is live (${r.files} files, ${r.bytes} bytes ${how}; previous ${r.previous ?? 'none'}${r.pruned.length ? `; pruned ${r.pruned.join(', ')}` : ''}; ${ms})`);
}

/**
 * POST a content sync with node:http (https for an https URL) and read its
 * answer. Not fetch: the CLI's start counts in every sync, and fetch loads
 * undici and web streams first (about 70 ms of a 20-file sync's CPU here).
 */
async function postContent(client: ApiClient, exportName: string, contentType: string, body: Readable | string): Promise<SyncResult & { export: string }> {
  const url = new URL(`${client.base}/api/v1/exports/${enc(exportName)}/content`);
  const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const headers = { ...(client.token ? { authorization: `Bearer ${client.token}` } : {}), 'content-type': contentType };
  let res: { status: number; text: string };
  try {
    res = await new Promise((resolve, reject) => {
      const req = request(url, { method: 'POST', headers }, (r) => {
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (d: string) => (text += d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
        r.on('error', reject);
      });
      req.on('error', reject);
      if (typeof body === 'string') req.end(body);
      else {
        body.on('error', (e) => req.destroy(e));
        body.pipe(req);
      }
    });
  } catch (e) {
    const cause = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new ApiRequestError(0, 'unreachable', `cannot reach the rackboot API at ${client.base} (${cause}); is 'rackboot serve' running? (--api or RACKBOOT_API)`);
  }
  let data: unknown = res.text;
  try {
    data = JSON.parse(res.text);
  } catch {
    /* text */
  }
  if (res.status < 200 || res.status > 299) {
    const err = data as { error?: string; message?: string };
    const hint = res.status === 401 ? ' (give --token or RACKBOOT_API_TOKEN)' : '';
    throw new ApiRequestError(res.status, err?.error ?? String(res.status), `${res.status} ${err?.message ?? res.text}${hint}`);
  }
  return data as SyncResult & { export: string };
}

export function registerContent(program: Command): void {
  const content = program.command('content').description('publish content into releases-layout exports, atomically');

  addApiOptions(
    content
      .command('sync <src> <export>')
      .description('copy the tree SRC into EXPORT as a new release and switch to it in one step (blades see the old tree or the new, never half)')
      .option('-z, --gzip', 'compress the upload')
      .option('--local', 'the server copies SRC itself (same host; SRC under nfs.localSyncRoots): no tar, no upload'),
  ).action(async (src: string, exportName: string, o: ApiOptions & { gzip?: boolean; local?: boolean }) => {
    const dir = resolve(src);
    let st;
    try {
      st = statSync(dir);
    } catch {
      throw new Error(`${src}: no such directory`);
    }
    if (!st.isDirectory()) throw new Error(`${src}: not a directory`);
    const client = ApiClient.from(o);
    if (o.local) return printSync(await postContent(client, exportName, 'application/json', JSON.stringify({ source: dir })), 'copied');
    const pack = tarCreate({ cwd: dir, portable: true, gzip: o.gzip ?? false }, ['.']) as unknown as Readable;
    printSync(await postContent(client, exportName, o.gzip ? 'application/gzip' : 'application/x-tar', pack), 'uploaded');
  });

  addApiOptions(jsonOption(content.command('releases <export>').description('list the kept releases of an export'))).action(async (exportName: string, o: ApiOptions & { json?: boolean }) => {
    const list = await ApiClient.from(o).request<ReleaseInfo[]>('GET', `/exports/${enc(exportName)}/releases`);
    if (o.json) return printJson(list);
    const rows = [['RELEASE', 'CREATED', 'CURRENT']];
    for (const r of list) rows.push([r.id, r.createdAt, r.current ? '*' : '']);
    console.log(table(rows));
  });

  addApiOptions(content.command('activate <export> <release>').description('switch an export back (or forward) to a kept release')).action(
    async (exportName: string, release: string, o: ApiOptions) => {
      const r = await ApiClient.from(o).request<{ previous: string | null }>('POST', `/exports/${enc(exportName)}/releases/${enc(release)}/activate`);
      console.log(`${exportName}: release ${release} is live (was ${r.previous ?? 'none'})`);
    },
  );
}
