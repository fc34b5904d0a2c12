// The rack: every node as a tile (or a table row) with its state from its
// timeline, filters by group, state and network, search by name or MAC,
// all live. Built for thousands of nodes: a tile re-renders only when its
// row changed or its "ago" text would.
import { Component } from 'preact';
import { useMemo, useRef } from 'preact/hooks';
import { STATES, STATE_LABEL, type NodeState } from '../../shared/boot-state.js';
import type { RackRow } from '../../shared/rack.js';
import { ago, macHex, shortVersion } from '../format.js';
import { live, useLive, useNow } from '../live.js';
import { navigate, useLocation } from '../router.js';
import { ErrorNote, PageTitle } from '../ui.js';

interface Filters {
  q: string;
  group: string;
  state: string;
  network: string;
  view: 'tiles' | 'rows';
}

function readFilters(query: URLSearchParams): Filters {
  return {
    q: query.get('q') ?? '',
    group: query.get('group') ?? '',
    state: query.get('state') ?? '',
    network: query.get('network') ?? '',
    view: query.get('view') === 'rows' ? 'rows' : 'tiles',
  };
}

function writeFilters(f: Filters): void {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v && !(k === 'view' && v === 'tiles')) q.set(k, v);
  const s = q.toString();
  navigate(s ? `/?${s}` : '/', true);
}

export function matches(r: RackRow, f: Filters): boolean {
  if (f.group && (r.group ?? '') !== (f.group === '-' ? '' : f.group)) return false;
  if (f.state && r.boot.state !== f.state) return false;
  if (f.network && !r.interfaces.some((i) => i.network === f.network)) return false;
  if (f.q) {
    const q = f.q.trim().toLowerCase();
    const hex = macHex(q);
    const byName = r.name.toLowerCase().includes(q);
    const byMac = hex.length >= 2 && /^[0-9a-f:.-]+$/.test(q) && r.interfaces.some((i) => macHex(i.mac).includes(hex));
    const byAddress = r.interfaces.some((i) => i.ipv4 && i.ipv4.startsWith(q));
    if (!byName && !byMac && !byAddress) return false;
  }
  return true;
}

const versionNote = (r: RackRow) => {
  const booted = r.boot.booted?.version ?? null;
  if (!r.image) return 'no image';
  if (booted && r.imageCurrent && !r.imageCurrent.startsWith(booted) && !booted.startsWith(r.imageCurrent)) return `${r.image} ${shortVersion(booted)} (next boot: ${shortVersion(r.imageCurrent)})`;
  return `${r.image} ${shortVersion(booted ?? r.imageCurrent) || '(not built)'}`;
};

interface TileProps {
  row: RackRow;
  now: number;
}

/** One node. shouldComponentUpdate keeps a 2,000-node rack cheap: most events change one tile. */
class Tile extends Component<TileProps> {
  private shownAgo = '';
  override shouldComponentUpdate(next: TileProps) {
    return next.row !== this.props.row || ago(next.row.boot.last, next.now) !== this.shownAgo;
  }
  override render({ row, now }: TileProps) {
    this.shownAgo = ago(row.boot.last, now);
    const s = row.boot.state;
    return (
      <li class={`tile state-${s}`}>
        <a href={`/nodes/${encodeURIComponent(row.name)}`} data-node={row.name} aria-label={`${row.name}: ${STATE_LABEL[s]}`}>
          <span class="tile-name">{row.name}</span>
          <span class="tile-state">{STATE_LABEL[s]}</span>
          <span class="tile-addr">{row.interfaces.map((i) => i.ipv4 || i.mac).join(' ')}</span>
          <span class="tile-meta">
            {row.group ?? 'no group'} · {versionNote(row)}
          </span>
          <span class="tile-ago">{this.shownAgo}</span>
        </a>
      </li>
    );
  }
}

class Row extends Component<TileProps> {
  private shownAgo = '';
  override shouldComponentUpdate(next: TileProps) {
    return next.row !== this.props.row || ago(next.row.boot.last, next.now) !== this.shownAgo;
  }
  override render({ row, now }: TileProps) {
    this.shownAgo = ago(row.boot.last, now);
    const s = row.boot.state;
    return (
      <tr class={`state-${s}`}>
        <th scope="row">
          <a href={`/nodes/${encodeURIComponent(row.name)}`} data-node={row.name}>
            {row.name}
          </a>
        </th>
        <td>
          <span class={`badge state-${s}`}>{STATE_LABEL[s]}</span>
          {row.boot.reason ? <span class="reason"> {row.boot.reason}</span> : null}
        </td>
        <td>{row.interfaces.map((i) => i.ipv4).filter(Boolean).join(', ')}</td>
        <td class="mono">{row.interfaces.map((i) => i.mac).join(', ')}</td>
        <td>{row.group ?? ''}</td>
        <td>{versionNote(row)}</td>
        <td>{this.shownAgo}</td>
      </tr>
    );
  }
}

/** Arrow keys move between tiles (by their place on screen), Home/End to the first/last. */
function onGridKey(e: KeyboardEvent): void {
  const links = [...(e.currentTarget as HTMLElement).querySelectorAll<HTMLAnchorElement>('a[data-node]')];
  const i = links.indexOf(document.activeElement as HTMLAnchorElement);
  if (i < 0) return;
  let to = -1;
  if (e.key === 'ArrowRight') to = i + 1;
  else if (e.key === 'ArrowLeft') to = i - 1;
  else if (e.key === 'Home') to = 0;
  else if (e.key === 'End') to = links.length - 1;
  else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    const here = links[i]!.getBoundingClientRect();
    const dir = e.key === 'ArrowDown' ? 1 : -1;
    // The nearest tile in the next row, in the same column.
    for (let j = i + dir; j >= 0 && j < links.length; j += dir) {
      const r = links[j]!.getBoundingClientRect();
      if (dir * (r.top - here.top) > here.height / 2 && Math.abs(r.left - here.left) < here.width / 2) {
        to = j;
        break;
      }
    }
  } else return;
  e.preventDefault();
  links[Math.max(0, Math.min(links.length - 1, to))]?.focus();
}

export function RackPage() {
  useLive();
  const now = useNow(5000);
  const { query } = useLocation();
  const f = readFilters(query);
  const search = useRef<HTMLInputElement>(null);
  const rows = [...live.rows.values()];
  const set = (k: keyof Filters, v: string) => writeFilters({ ...f, [k]: v });

  const groups = useMemo(() => [...new Set(rows.map((r) => r.group ?? ''))].sort(), [live.version]);
  const networks = useMemo(() => [...new Set(rows.flatMap((r) => r.interfaces.map((i) => i.network)))].sort(), [live.version]);
  const shown = useMemo(() => rows.filter((r) => matches(r, f)).sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true })), [live.version, f.q, f.group, f.state, f.network]);
  const counts = useMemo(() => {
    const c = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<NodeState, number>;
    for (const r of rows) c[r.boot.state]++;
    return c;
  }, [live.version]);

  return (
    <section aria-labelledby="page-title">
      <PageTitle>Rack</PageTitle>
      <ErrorNote error={live.loadError} />
      <ul class="counts" aria-label="Nodes by state">
        {STATES.filter((s) => counts[s] > 0).map((s) => (
          <li key={s}>
            <button type="button" class={`badge state-${s}`} aria-pressed={f.state === s} onClick={() => set('state', f.state === s ? '' : s)}>
              {STATE_LABEL[s]}: {counts[s]}
            </button>
          </li>
        ))}
      </ul>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search <span class="hint">(name, MAC or address; press /)</span>
          <input ref={search} id="rack-search" type="search" value={f.q} onInput={(e) => set('q', e.currentTarget.value)} placeholder="blade1, 52:54:00:…" />
        </label>
        <label>
          Group
          <select value={f.group} onChange={(e) => set('group', e.currentTarget.value)}>
            <option value="">all</option>
            {groups.map((g) => (
              <option key={g} value={g || '-'}>
                {g || '(none)'}
              </option>
            ))}
          </select>
        </label>
        <label>
          State
          <select value={f.state} onChange={(e) => set('state', e.currentTarget.value)}>
            <option value="">all</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {STATE_LABEL[s]}
              </option>
            ))}
          </select>
        </label>
        <label>
          Network
          <select value={f.network} onChange={(e) => set('network', e.currentTarget.value)}>
            <option value="">all</option>
            {networks.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <fieldset class="view">
          <legend>View</legend>
          <button type="button" aria-pressed={f.view === 'tiles'} onClick={() => set('view', 'tiles')}>
            Tiles
          </button>
          <button type="button" aria-pressed={f.view === 'rows'} onClick={() => set('view', 'rows')}>
            Rows
          </button>
        </fieldset>
      </form>
      <p class="summary" role="status" id="rack-summary">
        {live.loaded ? `${shown.length} of ${rows.length} nodes` : 'Loading…'}
      </p>
      {f.view === 'tiles' ? (
        <ul class="tiles" id="rack" aria-label="Nodes" onKeyDown={onGridKey}>
          {shown.map((r) => (
            <Tile key={r.name} row={r} now={now} />
          ))}
        </ul>
      ) : (
        <table class="rows" id="rack">
          <caption class="visually-hidden">Nodes</caption>
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">State</th>
              <th scope="col">Addresses</th>
              <th scope="col">MACs</th>
              <th scope="col">Group</th>
              <th scope="col">Image</th>
              <th scope="col">Last event</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <Row key={r.name} row={r} now={now} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** "/" anywhere outside a field focuses the rack search. */
export function focusSearchKey(e: KeyboardEvent): void {
  const t = e.target as HTMLElement;
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) || t.isContentEditable) return;
  const input = document.getElementById('rack-search');
  if (!input) return;
  e.preventDefault();
  input.focus();
}
