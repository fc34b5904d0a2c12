// Networks: each network's ranges and how full they are, the leases in use,
// machines that asked but belong to no node (register one with one form),
// and nodes that discovery registered.
import { useState } from 'preact/hooks';
import { api, canChange, errorText } from '../api.js';
import { ago, macHex } from '../format.js';
import { live, useLive, useNow } from '../live.js';
import { navigate } from '../router.js';
import type { UnknownMac } from '../../shared/rack.js';
import { ErrorNote, GroupSelect, Head, LeaseTable, Notice, PageTitle, useLoad, usePoll, type LeaseView } from '../ui.js';

interface NetworkOut {
  name: string;
  interface: string | null;
  cidr: string;
  serverAddress: string;
  router: string | null;
  dns: string[];
  domain: string;
  staticRange: string | null;
  dynamicRange: string | null;
}
function RegisterForm({ u, networks, onDone }: { u: UnknownMac; networks: NetworkOut[]; onDone: () => void }) {
  const [name, setName] = useState(`node-${macHex(u.mac)}`);
  const [group, setGroup] = useState('');
  const [network, setNetwork] = useState(u.network ?? networks[0]?.name ?? '');
  const [iface, setIface] = useState('eth0');
  const [ipv4, setIpv4] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const id = macHex(u.mac);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api('POST', '/nodes', { name, group: group || null, interfaces: [{ name: iface, mac: u.mac, network, ipv4: ipv4 || null }] });
      onDone();
      navigate(`/nodes/${encodeURIComponent(name)}`);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="register" onSubmit={(e) => void submit(e)} aria-label={`Register ${u.mac}`}>
      <label>
        Name
        <input id={`reg-name-${id}`} value={name} required onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <GroupSelect value={group} onChange={setGroup} />
      <label>
        Interface
        <input value={iface} required onInput={(e) => setIface(e.currentTarget.value)} size={8} />
      </label>
      <label>
        Network
        <select value={network} onChange={(e) => setNetwork(e.currentTarget.value)}>
          {networks.map((n) => (
            <option key={n.name} value={n.name}>
              {n.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Address <span class="hint">(empty: next free)</span>
        <input value={ipv4} onInput={(e) => setIpv4(e.currentTarget.value)} size={15} />
      </label>
      <button type="submit" disabled={busy}>
        {busy ? 'Registering…' : 'Register'}
      </button>
      <ErrorNote error={error} />
    </form>
  );
}

export function NetworksPage() {
  useLive();
  const now = useNow(5000);
  const networks = useLoad(() => api<NetworkOut[]>('GET', '/networks'), []);
  const leases = useLoad(() => api<LeaseView[]>('GET', '/leases'), []);
  usePoll(leases.reload, 5000);
  const [open, setOpen] = useState<string>();
  const rows = [...live.rows.values()];
  const unknown = [...live.unknown.values()].sort((a, b) => b.lastSeen - a.lastSeen);
  const discovered = rows.filter((r) => r.discovered);
  const inUse = (leases.data ?? []).filter((l) => l.state === 'bound' || l.state === 'offered');
  return (
    <section aria-labelledby="page-title">
      <PageTitle>Networks</PageTitle>
      <ErrorNote error={networks.error} />
      {networks.data ? (
        <table class="networks">
          <caption>Networks from the config</caption>
          <Head cols={['Network', 'Interface', 'CIDR', 'Server', 'Router', 'Static range', 'Dynamic range', 'Nodes', 'Leases in use']} />
          <tbody>
            {networks.data.map((n) => (
              <tr key={n.name}>
                <th scope="row">
                  <a href={`/?network=${encodeURIComponent(n.name)}`}>{n.name}</a>
                </th>
                <td>{n.interface ?? '(relayed)'}</td>
                <td>{n.cidr}</td>
                <td>{n.serverAddress}</td>
                <td>{n.router ?? '—'}</td>
                <td>{n.staticRange ?? '—'}</td>
                <td>{n.dynamicRange ?? '—'}</td>
                <td>{rows.filter((r) => r.interfaces.some((i) => i.network === n.name)).length}</td>
                <td>{inUse.filter((l) => l.network === n.name).length}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}

      <section aria-labelledby="unknown-h">
        <h2 id="unknown-h">Machines waiting to be registered</h2>
        <p>MACs that asked for an address or a boot file and belong to no node, newest first.</p>
        {!unknown.length ? <p>None seen.</p> : null}
        {unknown.length ? (
          <table class="unknown" id="unknown-macs">
            <Head cols={['MAC', 'Network', 'Address', 'Client', 'Last seen', 'Requests']} action />
            <tbody>
              {unknown.slice(0, 200).map((u) => [
                <tr key={u.mac}>
                  <th scope="row" class="mono">
                    {u.mac}
                  </th>
                  <td>{u.network ?? '?'}</td>
                  <td>{u.address ?? ''}</td>
                  <td>{[u.vendorClass, u.arch !== null ? `arch ${u.arch}` : ''].filter(Boolean).join(', ')}</td>
                  <td>
                    {ago(u.lastSeen, now)} ({u.lastKind})
                  </td>
                  <td>{u.count}</td>
                  <td>
                    {canChange() ? (
                      <button type="button" aria-expanded={open === u.mac} onClick={() => setOpen(open === u.mac ? undefined : u.mac)}>
                        Register…
                      </button>
                    ) : null}
                  </td>
                </tr>,
                open === u.mac && networks.data ? (
                  <tr key={`${u.mac}-form`} class="form-row">
                    <td colSpan={7}>
                      <RegisterForm u={u} networks={networks.data} onDone={() => setOpen(undefined)} />
                    </td>
                  </tr>
                ) : null,
              ])}
            </tbody>
          </table>
        ) : null}
      </section>

      {discovered.length ? (
        <section aria-labelledby="disc-h">
          <h2 id="disc-h">Registered by discovery</h2>
          <ul>
            {discovered.map((r) => (
              <li key={r.name}>
                <a href={`/nodes/${encodeURIComponent(r.name)}`}>{r.name}</a> {r.interfaces.map((i) => `${i.mac} ${i.ipv4}`).join(', ')} {r.group ? `(group ${r.group})` : '(no group)'}
              </li>
            ))}
          </ul>
        </section>
      ) : null}

      <section aria-labelledby="leases-h">
        <h2 id="leases-h">Leases in use</h2>
        {leases.error ? <Notice>{leases.error}</Notice> : null}
        {leases.data && !inUse.length ? <p>No leases in use.</p> : null}
        {inUse.length ? <LeaseTable leases={inUse} owners /> : null}
      </section>
    </section>
  );
}
