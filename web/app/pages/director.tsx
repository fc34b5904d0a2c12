// The director: each virtual service with its real servers' weight, health,
// check history and connections. A node's weight is its weight variable
// (PATCH /nodes/{name} vars): drain sets it to 0 (no new connections),
// restore drops the node's own value so the group's (or 1) applies again.
import { useEffect, useState } from 'preact/hooks';
import { api, canChange, errorText } from '../api.js';
import { ago, clock, duration } from '../format.js';
import { live, useNow } from '../live.js';
import { ErrorNote, Head, Notice, PageTitle, useLoad, usePoll } from '../ui.js';

interface Transition {
  at: string;
  to: 'up' | 'down';
  afterMs: number;
  check: string;
  failures: number | null;
}
interface RealServer {
  name: string;
  node: string | null;
  address: string | null;
  port: number;
  weight: number;
  network: string | null;
  state: string;
  inPool: boolean;
  since: string | null;
  failures: number;
  lastCheck: { ok: boolean; at: string; detail: string } | null;
  reason: string | null;
  transitions: Transition[];
  connections?: { active: number; inactive: number } | null;
}
interface VService {
  name: string;
  vip: string;
  port: number;
  protocol: string;
  scheduler: string;
  persistence: number | null;
  weightVar?: string;
  check: { type: string; path: string; expect: number | string; intervalMs: number; retries: number; reentryMs: number };
  pool: number;
  realServers: RealServer[];
}
interface DirectorOut {
  backend: string;
  natRouter: { interface: string; address: string } | null;
  lastApply: { at: string; ok: boolean; summary: string; error: string | null } | null;
  services: VService[];
}

function WeightControl({ rs, weightVar, onDone }: { rs: RealServer; weightVar: string; onDone: () => Promise<void> }) {
  const [value, setValue] = useState(String(rs.weight));
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  useEffect(() => setValue(String(rs.weight)), [rs.weight]);
  const node = rs.node!;
  const change = async (to: number | null) => {
    setBusy(true);
    setError(undefined);
    try {
      // Read-modify-write of the node's own vars: PATCH replaces the map.
      const n = await api<{ vars: Record<string, unknown> }>('GET', `/nodes/${encodeURIComponent(node)}`);
      const vars = { ...n.vars };
      if (to === null) delete vars[weightVar];
      else vars[weightVar] = to;
      await api('PATCH', `/nodes/${encodeURIComponent(node)}`, { vars });
      await onDone();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const id = `w-${rs.name}`;
  return (
    <form
      class="weight"
      onSubmit={(e) => {
        e.preventDefault();
        void change(Number(value));
      }}
    >
      <label for={id} class="visually-hidden">
        Weight of {rs.name}
      </label>
      <input id={id} type="number" min={0} max={65535} step={1} value={value} onInput={(e) => setValue(e.currentTarget.value)} disabled={busy} />
      <button type="submit" disabled={busy}>
        Set
      </button>
      {rs.weight > 0 ? (
        <button type="button" disabled={busy} onClick={() => void change(0)}>
          Drain
        </button>
      ) : (
        <button type="button" disabled={busy} onClick={() => void change(null)}>
          Restore
        </button>
      )}
      <ErrorNote error={error} />
    </form>
  );
}

function History({ list }: { list: Transition[] }) {
  if (!list.length) return <span class="hint">no transitions yet</span>;
  return (
    <ol class="history" aria-label="Pool transitions, newest first">
      {list
        .slice(-5)
        .reverse()
        .map((t, i) => (
          <li key={i} class={`to-${t.to}`}>
            {t.to === 'up' ? 'entered' : 'left'} {clock(t.at)} after {duration(t.afterMs)}
            {t.to === 'down' ? ` (${t.failures ?? '?'} failures: ${t.check})` : ''}
          </li>
        ))}
    </ol>
  );
}

export function DirectorPage() {
  const now = useNow(5000);
  const d = useLoad(() => api<DirectorOut>('GET', '/director'), []);
  usePoll(d.reload, 3000);
  // Pool changes arrive as node events: show them at once rather than at the next poll.
  useEffect(() => live.onEvent((e) => void (e.kind.startsWith('director.') && d.reload())), [d.reload]);
  return (
    <section aria-labelledby="page-title">
      <PageTitle>Director</PageTitle>
      {d.error ? <Notice>{d.error}</Notice> : null}
      {d.data ? (
        <>
          <p>
            Backend {d.data.backend}
            {d.data.natRouter ? `, NAT router ${d.data.natRouter.address} on ${d.data.natRouter.interface}` : ''}.{' '}
            {d.data.lastApply ? (d.data.lastApply.ok ? `Rules applied ${ago(Date.parse(d.data.lastApply.at), now)}.` : `The last apply failed: ${d.data.lastApply.error}`) : 'Nothing applied yet.'}
          </p>
          {d.data.services.map((s) => (
            <section key={s.name} aria-labelledby={`svc-${s.name}`} class="service">
              <h2 id={`svc-${s.name}`}>
                {s.name}: {s.vip.split('/')[0]}:{s.port}/{s.protocol}
              </h2>
              <p>
                Scheduler {s.scheduler}
                {s.persistence ? `, persistence ${s.persistence} s` : ''}; check {s.check.type}
                {s.check.type === 'http' ? ` ${s.check.path} expecting ${s.check.expect}` : ''} every {duration(s.check.intervalMs)}, {s.check.retries} failures to leave,{' '}
                {duration(s.check.reentryMs)} passing to return. {s.pool} of {s.realServers.length} in the pool.
              </p>
              <table class="realservers">
                <Head cols={['Real server', 'Address', 'Health', 'Last check', 'Connections', 'History', 'Weight']} />
                <tbody>
                  {s.realServers.map((rs) => (
                    <tr key={rs.name} class={rs.inPool ? 'in-pool' : 'out-of-pool'}>
                      <th scope="row">{rs.node ? <a href={`/nodes/${encodeURIComponent(rs.node)}`}>{rs.name}</a> : rs.name}</th>
                      <td>{rs.address ? `${rs.address}:${rs.port}` : '—'}</td>
                      <td>
                        <span class={`badge health-${rs.state}`}>{rs.state}</span> {rs.inPool ? 'in the pool' : 'out of the pool'}
                        {rs.reason ? <div class="reason">{rs.reason}</div> : null}
                      </td>
                      <td>{rs.lastCheck ? `${rs.lastCheck.ok ? 'passed' : 'failed'} ${ago(Date.parse(rs.lastCheck.at), now)}: ${rs.lastCheck.detail}` : '—'}</td>
                      <td>{rs.connections ? `${rs.connections.active} active, ${rs.connections.inactive} other` : '—'}</td>
                      <td>
                        <History list={rs.transitions} />
                      </td>
                      <td>
                        {rs.node && canChange() ? (
                          <WeightControl rs={rs} weightVar={s.weightVar ?? 'weight'} onDone={d.reload} />
                        ) : (
                          <span>
                            {rs.weight}
                            {rs.node ? '' : ' (config)'}
                          </span>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          ))}
        </>
      ) : null}
    </section>
  );
}
