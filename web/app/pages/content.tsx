// Content: the NFS exports, their releases (activate = switch `current`,
// also to roll back), and which release each blade serves, from what the
// blade reported (its ready report, and each switch it followed).
import { api, canChange } from '../api.js';
import { clock } from '../format.js';
import { live, useLive } from '../live.js';
import { releaseOf } from '../../shared/boot-state.js';
import { ActionButton, Head, Notice, PageTitle, useLoad } from '../ui.js';

interface ExportOut {
  name: string;
  path: string;
  networks: string[];
  access: string;
  layout: string;
  origin: string;
  state: string;
  problems: string[];
  pseudo: string;
}
interface Release {
  id: string;
  current: boolean;
  createdAt: string;
}

function Releases({ exp, servedBy }: { exp: ExportOut; servedBy: Map<string, string[]> }) {
  const rel = useLoad(() => api<Release[]>('GET', `/exports/${encodeURIComponent(exp.name)}/releases`), [exp.name]);
  if (rel.error) return <Notice>{rel.error}</Notice>;
  if (!rel.data) return <p>Loading releases…</p>;
  if (!rel.data.length) return <p>No releases yet: sync content with <code>rackboot content sync DIR {exp.name}</code>.</p>;
  return (
    <table class="releases">
      <caption>Releases of {exp.name}, oldest first</caption>
      <Head cols={['Release', 'Made', 'Served by']} action />
      <tbody>
        {rel.data.map((r) => (
          <tr key={r.id} class={r.current ? 'current' : ''}>
            <th scope="row">
              <code>{r.id}</code> {r.current ? <span class="badge">current</span> : null}
            </th>
            <td>{clock(r.createdAt)}</td>
            <td>{(servedBy.get(r.id) ?? []).map((n, i) => [i ? ', ' : '', <a href={`/nodes/${encodeURIComponent(n)}`}>{n}</a>])}</td>
            <td>
              {!r.current && canChange() ? (
                <ActionButton
                  label="Activate"
                  name={`Activate ${r.id}`}
                  confirm={`Make ${r.id} the live content of ${exp.name}? Blades follow within seconds.`}
                  run={async () => {
                    await api('POST', `/exports/${encodeURIComponent(exp.name)}/releases/${encodeURIComponent(r.id)}/activate`);
                    await rel.reload();
                  }}
                />
              ) : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ContentPage() {
  useLive();
  const exports = useLoad(() => api<ExportOut[]>('GET', '/exports'), []);
  const servedBy = new Map<string, string[]>();
  const unknown: string[] = [];
  for (const r of live.rows.values()) {
    if (r.boot.state !== 'ready' && r.boot.state !== 'pool') continue;
    const id = releaseOf(r.boot.booted?.docroot);
    if (id) servedBy.set(id, [...(servedBy.get(id) ?? []), r.name]);
    else unknown.push(r.name);
  }
  return (
    <section aria-labelledby="page-title">
      <PageTitle>Content</PageTitle>
      {exports.error ? <Notice>{exports.error}</Notice> : null}
      {exports.data?.map((e) => (
        <section key={e.name} class="export" aria-labelledby={`exp-${e.name}`}>
          <h2 id={`exp-${e.name}`}>{e.name}</h2>
          <p>
            <code>{e.path}</code> as <code>{e.pseudo}</code>, {e.access} to {e.networks.join(', ') || 'no network'}; layout {e.layout}; {e.state}
            {e.origin === 'api' ? ' (added through the API)' : ''}.
          </p>
          {e.problems.length ? <Notice>{e.problems.join('; ')}</Notice> : null}
          {e.layout === 'releases' ? <Releases exp={e} servedBy={servedBy} /> : null}
        </section>
      ))}
      {unknown.length ? (
        <p>
          Up, but no release reported (local content, or an image that does not report it): {unknown.slice(0, 50).join(', ')}
          {unknown.length > 50 ? ` and ${unknown.length - 50} more` : ''}.
        </p>
      ) : null}
    </section>
  );
}
