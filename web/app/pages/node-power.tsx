// Power and reprovision buttons, shown only when this server's API has the
// routes (its OpenAPI document lists them): the dashboard needs no change
// the day a server gains them. The buttons come from the route's body
// schema: one per value of its first enumerated field.
import { useEffect, useState } from 'preact/hooks';
import { api, apiDocument, type JsonSchema, type OpenApiOp } from '../api.js';
import { ActionButton } from '../ui.js';

const POWER = '/api/v1/nodes/{name}/power';
const REPROVISION = '/api/v1/nodes/{name}/reprovision';

interface Offer {
  field: string | undefined;
  values: string[];
  canRead: boolean;
  reprovision: OpenApiOp | undefined;
}

function choices(op: OpenApiOp | undefined): { field: string | undefined; values: string[] } {
  const schema: JsonSchema | undefined = op?.requestBody?.content?.['application/json']?.schema;
  for (const [field, p] of Object.entries(schema?.properties ?? {})) {
    if (p.enum?.length) return { field, values: p.enum.map(String) };
  }
  return { field: undefined, values: [] };
}

export function PowerActions({ name }: { name: string }) {
  const [offer, setOffer] = useState<Offer>();
  const [state, setState] = useState<string>();
  useEffect(() => {
    void apiDocument()
      .then((doc) => {
        const power = doc.paths[POWER];
        setOffer({ ...choices(power?.post), canRead: !!power?.get, reprovision: doc.paths[REPROVISION]?.post });
      })
      .catch(() => undefined);
  }, []);
  const readPower = async () => {
    const p = await api<Record<string, unknown>>('GET', `/nodes/${encodeURIComponent(name)}/power`);
    setState(typeof p.state === 'string' ? p.state : JSON.stringify(p));
  };
  useEffect(() => {
    if (offer?.canRead) void readPower().catch((e: Error) => setState(`unknown (${e.message})`));
  }, [offer?.canRead, name]);
  if (!offer) return null;
  const base = `/nodes/${encodeURIComponent(name)}`;
  return (
    <>
      {state ? <span class="power-state">Power: {state}</span> : null}
      {offer.field
        ? offer.values.map((v) => (
            <ActionButton
              key={v}
              label={`Power ${v}`}
              confirm={v === 'on' ? undefined : `Power ${v} ${name}?`}
              run={async () => {
                await api('POST', `${base}/power`, { [offer.field!]: v });
                if (offer.canRead) await readPower();
              }}
            />
          ))
        : null}
      {offer.reprovision ? (
        <ActionButton
          label="Reprovision"
          confirm={`Reprovision ${name}: it boots again from the network?`}
          run={() => api('POST', `${base}/reprovision`, offer.reprovision?.requestBody?.required ? {} : undefined)}
        />
      ) : null}
    </>
  );
}
