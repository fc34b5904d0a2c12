// The rack: every node as a tile (or a table row) with its state from its
// timeline, filters by group, state and network, search by name or MAC,
// all live. Built for thousands of nodes: a tile re-renders only when its
// row changed or its "ago" text would.
import { Component, type ComponentChild } from 'preact';
import { useMemo, useRef } from 'preact/hooks';
import { STATES, STATE_LABEL, type NodeState } from '../../shared/boot-state.js';
import type { RackRow } from '../../shared/rack.js';
import { ago, macHex, shortVersion } from '../format.js';
import { live, useLive, useNow } from '../live.js';
import { navigate, useLocation } from '../router.js';
import { ErrorNote, Head, PageTitle } from '../ui.js';

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
  name: string;
  now: number;
}

/**
 * One node, re-rendered only when its own row changes (it listens to its
 * row, not to the rack) or its "ago" text would: during a boot storm a
 * frame re-renders the tiles that changed, not 2,000.
 */
abstract class NodeView extends Component<TileProps> {
  protected shown: RackRow | undefined;
  protected shownAgo = '';
  private off: (() => void) | undefined;
  override componentDidMount() {
    this.off = live.onRow(this.props.name, () => {
      if (live.rows.get(this.props.name) !== this.shown) this.forceUpdate();
    });
  }
  override componentWillUnmount() {
    this.off?.();
  }
  override shouldComponentUpdate(next: TileProps) {
    const row = live.rows.get(next.name);
    return row !== this.shown || ago(row?.boot.last ?? null, next.now) !== this.shownAgo;
  }
  override render({ name, now }: TileProps) {
    const row = live.rows.get(name);
    this.shown = row;
    if (!row) return null;
    this.shownAgo = ago(row.boot.last, now);
    return this.draw(row);
  }
  protected abstract draw(row: RackRow): ComponentChild;
}

class Tile extends NodeView {
  protected draw(row: RackRow) {
    const s = row.boot.state;
    return (
      <div role="listitem" class={`tile state-${s}`}>
        <a href={`/nodes/${encodeURIComponent(row.name)}`} data-node={row.name}>
          <span class="tile-name">{row.name}</span>
          <span class="tile-state">{STATE_LABEL[s]}</span>
          <span class="tile-addr">{row.interfaces.map((i) => i.ipv4 || i.mac).join(' ')}</span>
          <span class="tile-meta">
            {row.group ?? 'no group'} · {versionNote(row)}
          </span>
          <span class="tile-ago">{this.shownAgo}</span>
        </a>
      </div>
    );
  }
}

class Row extends NodeView {
  protected draw(row: RackRow) {
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

interface ListProps {
  names: string[];
  now: number;
  view: 'tiles' | 'rows';
}

/** Rows of tiles per chunk: the browser skips rendering chunks off screen (content-visibility). */
const CHUNK_ROWS = 8;

/**
 * The list re-renders when which nodes it shows changes, or the clock ticks;
 * never for a state change alone. Tiles come in chunks of whole rows, each
 * rendered by the browser only near the screen: 30 chunks for it to track
 * instead of 2,000 tiles, so a frame of a boot storm costs the tiles that
 * changed.
 */
class NodeList extends Component<ListProps, { cols: number | undefined }> {
  private el: HTMLElement | null = null;
  private resize: ResizeObserver | undefined;
  override state = { cols: undefined as number | undefined };
  override componentDidMount() {
    this.measure();
    this.resize = new ResizeObserver(() => this.measure());
    if (this.el) this.resize.observe(this.el);
  }
  override componentWillUnmount() {
    this.resize?.disconnect();
  }
  /** Columns of the tile grid, as CSS lays them out: repeat(auto-fill, minmax(11.5em, 1fr)), gap 0.4em. */
  private measure() {
    if (!this.el) return;
    const em = parseFloat(getComputedStyle(this.el).fontSize) || 15;
    const cols = Math.max(1, Math.floor((this.el.clientWidth + 0.4 * em) / (11.9 * em)));
    if (cols !== this.state.cols) this.setState({ cols });
  }
  override shouldComponentUpdate(next: ListProps, state: { cols: number | undefined }) {
    return next.names !== this.props.names || next.now !== this.props.now || next.view !== this.props.view || state.cols !== this.state.cols;
  }
  override render({ names, now, view }: ListProps, { cols }: { cols: number | undefined }) {
    if (view === 'tiles') {
      const per = (cols ?? 0) * CHUNK_ROWS;
      const chunks: string[][] = [];
      for (let i = 0; per && i < names.length; i += per) chunks.push(names.slice(i, i + per));
      return (
        <div class="tiles" id="rack" role="list" aria-label="Nodes" onKeyDown={(e) => onGridKey(e, cols ?? 1)} ref={(el) => void (this.el = el)}>
          {chunks.map((c, i) => (
            <div key={i} class="chunk" role="none" style={{ '--rows': String(Math.ceil(c.length / cols!)), '--cols': String(cols) }}>
              {c.map((n) => (
                <Tile key={n} name={n} now={now} />
              ))}
            </div>
          ))}
        </div>
      );
    }
    return (
      <table class="rows" id="rack">
        <caption class="visually-hidden">Nodes</caption>
        <Head cols={['Node', 'State', 'Addresses', 'MACs', 'Group', 'Image', 'Last event']} />
        <tbody>
          {names.map((n) => (
            <Row key={n} name={n} now={now} />
          ))}
        </tbody>
      </table>
    );
  }
}

const collator = new Intl.Collator(undefined, { numeric: true });

/** Arrow keys move between tiles (up and down by a row of `cols`), Home/End to the first/last. */
function onGridKey(e: KeyboardEvent, cols: number): void {
  const links = [...(e.currentTarget as HTMLElement).querySelectorAll<HTMLAnchorElement>('a[data-node]')];
  const i = links.indexOf(document.activeElement as HTMLAnchorElement);
  if (i < 0) return;
  const to = { ArrowRight: i + 1, ArrowLeft: i - 1, ArrowDown: i + cols, ArrowUp: i - cols, Home: 0, End: links.length - 1 }[e.key];
  if (to === undefined) return;
  e.preventDefault();
  links[Math.max(0, Math.min(links.length - 1, to))]?.focus();
}

export function RackPage() {
  useLive();
  const now = useNow(5000);
  const { query } = useLocation();
  const f = readFilters(query);
  const search = useRef<HTMLInputElement>(null);
  const set = (k: keyof Filters, v: string) => writeFilters({ ...f, [k]: v });

  // Sorted once per registry change, not per event.
  const sorted = useMemo(() => [...live.rows.values()].sort((a, b) => collator.compare(a.name, b.name)), [live.membership]);
  const groups = useMemo(() => [...new Set(sorted.map((r) => r.group ?? ''))].sort(), [sorted]);
  const networks = useMemo(() => [...new Set(sorted.flatMap((r) => r.interfaces.map((i) => i.network)))].sort(), [sorted]);
  // A state filter's result moves with every event; the others only with the registry.
  const names = useMemo(
    () => sorted.filter((r) => matches(live.rows.get(r.name) ?? r, f)).map((r) => r.name),
    [sorted, f.q, f.group, f.state, f.network, f.state ? live.version : 0],
  );
  const counts = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<NodeState, number>;
  for (const r of live.rows.values()) counts[r.boot.state]++;
  const total = live.rows.size;

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
        {live.loaded ? `${names.length} of ${total} nodes` : 'Loading…'}
      </p>
      <NodeList names={names} now={now} view={f.view} />
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
