// Small pieces every page uses: state badges, error notes, an action button
// that shows the API's answer, and data loading with a retry.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { STATE_LABEL, type NodeState } from '../shared/boot-state.js';
import { api, errorText } from './api.js';
import { clock } from './format.js';

export function StateBadge({ state }: { state: NodeState }) {
  return <span class={`badge state-${state}`}>{STATE_LABEL[state]}</span>;
}

/** An API refusal or failure, announced to screen readers. */
export function ErrorNote({ error }: { error: string | undefined }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error}
    </p>
  );
}

export function Notice({ children }: { children: ComponentChildren }) {
  return (
    <p class="notice" role="status">
      {children}
    </p>
  );
}

/**
 * A button that runs an API call: disabled while it runs, then shows the
 * API's error text beside it when it was refused. `name`: a fuller
 * accessible name than the visible label (it must start with the label).
 */
export function ActionButton(props: { label: string; run: () => Promise<unknown>; confirm?: string; class?: string; disabled?: boolean; title?: string; name?: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const click = async () => {
    if (props.confirm && !window.confirm(props.confirm)) return;
    setBusy(true);
    setError(undefined);
    try {
      await props.run();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button type="button" class={props.class} disabled={busy || props.disabled} title={props.title} aria-label={props.name} onClick={() => void click()}>
        {busy ? `${props.label}…` : props.label}
      </button>
      <ErrorNote error={error} />
    </span>
  );
}

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  reload: () => Promise<void>;
}

/** Load once (and again when `deps` change or reload() is called). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  // eslint-style exhaustive deps are the caller's: `deps` says when to load again.
  const reload = useCallback(async () => {
    try {
      setData(await load());
      setError(undefined);
    } catch (e) {
      setError(errorText(e));
    }
  }, deps);
  useEffect(() => void reload(), [reload]);
  return { data, error, reload };
}

/** Reload every `ms` while the page is visible. */
export function usePoll(reload: () => Promise<void>, ms: number): void {
  useEffect(() => {
    const t = setInterval(() => {
      if (!document.hidden) void reload();
    }, ms);
    return () => clearInterval(t);
  }, [reload, ms]);
}

export function PageTitle({ children }: { children: ComponentChildren }) {
  // tabIndex -1: focus lands here after a page change, so a screen reader starts at the new page.
  return (
    <h1 id="page-title" tabIndex={-1}>
      {children}
    </h1>
  );
}

/** A table's header row; `action`: a last column for buttons, named for screen readers only. */
export function Head({ cols, action }: { cols: string[]; action?: boolean }) {
  return (
    <thead>
      <tr>
        {cols.map((c) => (
          <th scope="col" key={c}>
            {c}
          </th>
        ))}
        {action ? (
          <th scope="col">
            <span class="visually-hidden">Action</span>
          </th>
        ) : null}
      </tr>
    </thead>
  );
}

export interface LeaseView {
  network: string;
  ipv4: string;
  mac: string;
  state: string;
  expiresAt: string;
  node?: string | null;
}

/** DHCP leases; with `owners`, a column linking each to its node. */
export function LeaseTable({ leases, owners }: { leases: LeaseView[]; owners?: boolean }) {
  return (
    <table class="leases">
      <Head cols={['Address', 'Network', 'MAC', ...(owners ? ['Node'] : []), 'State', 'Expires']} />
      <tbody>
        {leases.map((l) => (
          <tr key={`${l.network}/${l.ipv4}`}>
            <td>{l.ipv4}</td>
            <td>{l.network}</td>
            <td class="mono">{l.mac}</td>
            {owners ? <td>{l.node ? <a href={`/nodes/${encodeURIComponent(l.node)}`}>{l.node}</a> : 'unknown'}</td> : null}
            <td>{l.state}</td>
            <td>{clock(l.expiresAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The registry's groups as a labelled select ("" for none). */
export function GroupSelect({ value, onChange }: { value: string; onChange: (group: string) => void }) {
  const groups = useLoad(() => api<Array<{ name: string }>>('GET', '/groups'), []);
  return (
    <label>
      Group
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">(none)</option>
        {(groups.data ?? []).map((g) => (
          <option key={g.name} value={g.name}>
            {g.name}
          </option>
        ))}
      </select>
    </label>
  );
}
