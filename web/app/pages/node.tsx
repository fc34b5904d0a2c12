// One node: its state, the last boot as a bar chart of step durations, the
// boot config exactly as TFTP/HTTP serve it, its leases and timeline, and
// the actions: edit, rebuild its image, delete, and power / reprovision
// when this server's API offers them.
import { useEffect, useState } from 'preact/hooks';
import { bootBars, STEP_LABEL, type BootEvent } from '../../shared/boot-state.js';
import type { LiveEvent } from '../../shared/rack.js';
import { api, apiText, canChange, session } from '../api.js';
import { ago, bytes, clock, duration, shortVersion } from '../format.js';
import { live, useLive, useNow } from '../live.js';
import { navigate } from '../router.js';
import { ActionButton, ErrorNote, Head, LeaseTable, Notice, PageTitle, StateBadge, useLoad, type LeaseView } from '../ui.js';
import { NodeEditForm, type NodeOut } from './node-edit.js';
import { PowerActions } from './node-power.js';

interface EventOut extends BootEvent {
  id?: number;
  node: string | null;
  time: string;
}
const EVENTS_SHOWN = 200;

function BootChart({ events }: { events: BootEvent[] }) {
  const { start, bars } = bootBars(events);
  if (start === null || !bars.length) return <p>No boot recorded yet.</p>;
  const total = Math.max(1, ...bars.map((b) => b.start + b.duration));
  return (
    <figure class="boot-chart">
      <figcaption>
        Last boot, started {clock(start)}; {duration(total)} from the first DHCP packet to the last step.
      </figcaption>
      <table>
        <caption class="visually-hidden">Boot steps and their durations</caption>
        <thead>
          <tr>
            <th scope="col">Step</th>
            <th scope="col">Starts after</th>
            <th scope="col">Duration</th>
            <th scope="col" class="bar-col">
              <span class="visually-hidden">Timeline</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {bars.map((b) => (
            <tr key={b.step} class={`step step-${b.step}`}>
              <th scope="row">{STEP_LABEL[b.step]}</th>
              <td>{duration(b.start)}</td>
              <td>{duration(b.duration)}</td>
              <td class="bar-col">
                <span class="bar-track">
                  <span class="bar" style={{ left: `${(b.start / total) * 100}%`, width: `max(2px, ${(b.duration / total) * 100}%)` }} />
                </span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

function BootConfig({ node }: { node: NodeOut }) {
  if (!session.services.has('render')) {
    return (
      <section aria-labelledby="cfg-h">
        <h2 id="cfg-h">Boot config</h2>
        <Notice>The template renderer is not running on this server (templates.enabled).</Notice>
      </section>
    );
  }
  if (!canChange()) {
    return (
      <section aria-labelledby="cfg-h">
        <h2 id="cfg-h">Boot config</h2>
        <Notice>A boot config carries the node's report token: the read-only role does not see it.</Notice>
      </section>
    );
  }
  return <RenderedConfig node={node} />;
}

function RenderedConfig({ node }: { node: NodeOut }) {
  const loader = node.effective?.loader ?? node.loader ?? 'pxelinux';
  const [iface, setIface] = useState(node.interfaces[0]?.name ?? '');
  const cfg = useLoad(() => apiText(`/nodes/${encodeURIComponent(node.name)}/render/${loader}?iface=${encodeURIComponent(iface)}`), [node.name, loader, iface, node.updatedAt]);
  return (
    <section aria-labelledby="cfg-h">
      <h2 id="cfg-h">Boot config</h2>
      <p>
        What {loader} gets for this node, byte for byte as TFTP and HTTP serve it
        {cfg.data ? ` (template ${cfg.data.headers.get('x-rackboot-template') ?? '?'})` : ''}.
      </p>
      {node.interfaces.length > 1 ? (
        <label>
          Interface booting{' '}
          <select value={iface} onChange={(e) => setIface(e.currentTarget.value)}>
            {node.interfaces.map((i) => (
              <option key={i.name} value={i.name}>
                {i.name} ({i.mac})
              </option>
            ))}
          </select>
        </label>
      ) : null}
      <ErrorNote error={cfg.error} />
      {cfg.data ? (
        <pre class="config" tabIndex={0} aria-label="Rendered boot config">
          {cfg.data.text}
        </pre>
      ) : null}
    </section>
  );
}

function Leases({ node }: { node: NodeOut }) {
  const leases = useLoad(async () => (await Promise.all(node.interfaces.map((i) => api<LeaseView[]>('GET', `/leases?mac=${encodeURIComponent(i.mac)}`)))).flat(), [node.name, node.updatedAt]);
  return (
    <section aria-labelledby="leases-h">
      <h2 id="leases-h">Leases</h2>
      {leases.error ? <Notice>{leases.error}</Notice> : null}
      {leases.data && !leases.data.length ? <p>No DHCP lease for its MACs.</p> : null}
      {leases.data?.length ? <LeaseTable leases={leases.data} /> : null}
    </section>
  );
}

function summary(e: BootEvent): string {
  const d = e.detail;
  const parts: string[] = [];
  for (const k of ['file', 'path', 'address', 'request', 'reason', 'check', 'message', 'web', 'docroot', 'service']) {
    const v = d[k];
    if (typeof v === 'string' && v) parts.push(`${k} ${v}`);
  }
  if (typeof d.bytes === 'number' && d.bytes) parts.push(bytes(d.bytes));
  const took = typeof d.durationMs === 'number' ? d.durationMs : typeof d.ms === 'number' ? d.ms : undefined;
  if (took !== undefined) parts.push(duration(took));
  return parts.join(' · ');
}

function Events({ events }: { events: EventOut[] }) {
  const [all, setAll] = useState(false);
  const list = events.slice().reverse();
  const shown = all ? list : list.slice(0, EVENTS_SHOWN);
  return (
    <section aria-labelledby="events-h">
      <h2 id="events-h">Events</h2>
      <p>Newest first; live.</p>
      <table class="events" id="node-events">
        <Head cols={['Time', 'Kind', 'MAC', 'Detail']} />
        <tbody>
          {shown.map((e, i) => (
            <tr key={e.id ?? `live-${e.ts}-${i}`}>
              <td>{clock(e.ts)}</td>
              <td class="mono">{e.kind}</td>
              <td class="mono">{e.mac ?? ''}</td>
              <td>{summary(e)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!all && list.length > EVENTS_SHOWN ? (
        <button type="button" onClick={() => setAll(true)}>
          Show all {list.length} events
        </button>
      ) : null}
    </section>
  );
}

export function NodePage({ name }: { name: string }) {
  useLive();
  const now = useNow(5000);
  const node = useLoad(() => api<NodeOut>('GET', `/nodes/${encodeURIComponent(name)}`), [name]);
  const [events, setEvents] = useState<EventOut[]>([]);
  const [editing, setEditing] = useState(false);
  const [note, setNote] = useState<string>();

  useEffect(() => {
    let stop = false;
    let loaded = false;
    const early: LiveEvent[] = [];
    // Listen before loading: an event of the gap shows twice at most, never not at all.
    const off = live.onEvent((e) => {
      if (e.node !== name || stop) return;
      if (loaded) setEvents((list) => [...list, e]);
      else early.push(e);
    });
    void api<EventOut[]>('GET', `/nodes/${encodeURIComponent(name)}/events?limit=1000`)
      .then((list) => {
        const last = list.at(-1)?.ts ?? 0;
        loaded = true;
        if (!stop) setEvents([...list, ...early.filter((e) => e.ts >= last)]);
      })
      .catch(() => {
        loaded = true;
        if (!stop) setEvents(early);
      });
    return () => {
      stop = true;
      off();
    };
  }, [name]);

  // A change of the node (another operator, the API) reloads it.
  const row = live.rows.get(name);
  useEffect(() => {
    if (row && node.data && row.group !== node.data.group) void node.reload();
  }, [row?.group]);

  if (node.error) {
    return (
      <section aria-labelledby="page-title">
        <PageTitle>Node {name}</PageTitle>
        <ErrorNote error={node.error} />
      </section>
    );
  }
  const n = node.data;
  const boot = row?.boot;
  const image = n?.effective?.image ?? null;
  return (
    <section aria-labelledby="page-title">
      <PageTitle>
        Node {name} {boot ? <StateBadge state={boot.state} /> : null}
      </PageTitle>
      {!n ? <p>Loading…</p> : null}
      {n ? (
        <>
          <dl class="facts">
            <dt>State</dt>
            <dd>
              {boot ? `${boot.reason ?? ''} ${boot.since ? `since ${ago(boot.since, now)}` : 'no events yet'}`.trim() : 'unknown'}
            </dd>
            <dt>Group</dt>
            <dd>{n.group ?? '(none)'}</dd>
            <dt>Image</dt>
            <dd>
              {image ?? '(none)'} {row?.boot.booted?.version ? `booted ${shortVersion(row.boot.booted.version)}` : ''}
              {row?.imageCurrent ? `, current ${shortVersion(row.imageCurrent)}` : image ? ', not built' : ''}
            </dd>
            <dt>Loader</dt>
            <dd>{n.effective?.loader ?? n.loader}</dd>
            <dt>Interfaces</dt>
            <dd>
              <ul class="plain">
                {n.interfaces.map((i) => (
                  <li key={i.name}>
                    {i.name} <span class="mono">{i.mac}</span> {i.ipv4} on {i.network}
                  </li>
                ))}
              </ul>
            </dd>
            {n.discovered ? (
              <>
                <dt>Registered by</dt>
                <dd>discovery</dd>
              </>
            ) : null}
          </dl>
          {canChange() ? (
            <div class="actions" role="group" aria-label="Actions">
              <button type="button" aria-expanded={editing} onClick={() => setEditing(!editing)}>
                Edit
              </button>
              {image && session.services.has('images') ? (
                <ActionButton
                  label="Rebuild image"
                  run={async () => {
                    const job = await api<{ id: string; reused?: boolean }>('POST', `/images/${encodeURIComponent(image)}/builds`);
                    setNote(`${job.reused ? 'A build was already running' : 'Build started'}: follow it on the Images page (build ${job.id}).`);
                  }}
                />
              ) : null}
              <PowerActions name={name} />
              <ActionButton
                label="Delete"
                class="danger"
                confirm={`Delete node ${name} and its timeline?`}
                run={async () => {
                  await api('DELETE', `/nodes/${encodeURIComponent(name)}`);
                  navigate('/');
                }}
              />
            </div>
          ) : (
            <Notice>Signed in read-only: actions need the API token.</Notice>
          )}
          {note ? (
            <p role="status" class="notice">
              {note} <a href="/images">Images</a>
            </p>
          ) : null}
          {editing ? (
            <NodeEditForm
              node={n}
              onSaved={() => {
                setEditing(false);
                void node.reload();
              }}
            />
          ) : null}
          <section aria-labelledby="boot-h">
            <h2 id="boot-h">Boot timeline</h2>
            <BootChart events={events} />
          </section>
          <BootConfig node={n} />
          <Leases node={n} />
          <Events events={events} />
        </>
      ) : null}
    </section>
  );
}
