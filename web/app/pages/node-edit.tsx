// Editing a node: group, image, loader and variables (PATCH /nodes/{name});
// the API's refusal is shown as it words it.
import { useState } from 'preact/hooks';
import { api, errorText, session } from '../api.js';
import { ErrorNote, GroupSelect, useLoad } from '../ui.js';

export interface NodeOut {
  name: string;
  group: string | null;
  image: string | null;
  loader: string | null;
  vars: Record<string, unknown>;
  discovered: boolean;
  interfaces: Array<{ name: string; mac: string; network: string; ipv4: string }>;
  createdAt: string;
  updatedAt: string;
  effective?: { loader: string; image: string | null; vars: Record<string, unknown> };
}

const LOADERS = ['pxelinux', 'ipxe', 'grub', 'bpbatch'];

export function NodeEditForm({ node, onSaved }: { node: NodeOut; onSaved: () => void }) {
  // Names to pick from; none when the images service is off (its route would answer 404).
  const images = useLoad(() => (session.services.has('images') ? api<Array<{ name: string }>>('GET', '/images') : Promise.resolve([])), []);
  const [group, setGroup] = useState(node.group ?? '');
  const [image, setImage] = useState(node.image ?? '');
  const [loader, setLoader] = useState(node.loader ?? '');
  const [vars, setVars] = useState(JSON.stringify(node.vars, null, 2));
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    let parsed: unknown;
    try {
      parsed = JSON.parse(vars || '{}');
    } catch (err) {
      setError(`Variables: not JSON (${(err as Error).message})`);
      return;
    }
    const patch: Record<string, unknown> = {};
    if ((node.group ?? '') !== group) patch.group = group || null;
    if ((node.image ?? '') !== image) patch.image = image || null;
    if ((node.loader ?? '') !== loader) patch.loader = loader || null;
    if (JSON.stringify(parsed) !== JSON.stringify(node.vars)) patch.vars = parsed;
    if (!Object.keys(patch).length) return onSaved();
    setBusy(true);
    try {
      await api('PATCH', `/nodes/${encodeURIComponent(node.name)}`, patch);
      onSaved();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="edit" onSubmit={(e) => void save(e)} aria-label={`Edit ${node.name}`}>
      <GroupSelect value={group} onChange={setGroup} />
      <label>
        Image <span class="hint">(empty: the group's)</span>
        <input value={image} list="image-names" onInput={(e) => setImage(e.currentTarget.value)} />
        <datalist id="image-names">
          {(images.data ?? []).map((i) => (
            <option key={i.name} value={i.name} />
          ))}
        </datalist>
      </label>
      <label>
        Loader
        <select value={loader} onChange={(e) => setLoader(e.currentTarget.value)}>
          <option value="">(the group's)</option>
          {LOADERS.map((l) => (
            <option key={l} value={l}>
              {l}
            </option>
          ))}
        </select>
      </label>
      <label class="wide">
        Variables (JSON)
        <textarea rows={6} value={vars} onInput={(e) => setVars(e.currentTarget.value)} spellcheck={false} />
      </label>
      <ErrorNote error={error} />
      <p>
        <button type="submit" disabled={busy}>
          {busy ? 'Saving…' : 'Save'}
        </button>
      </p>
    </form>
  );
}
