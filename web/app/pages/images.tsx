// Images: recipes and stored versions, builds followed live through the
// build's own event stream (log, progress, state), and rollback.
import { useEffect, useState } from 'preact/hooks';
import { api, canChange } from '../api.js';
import { bytes, clock, shortVersion } from '../format.js';
import { live } from '../live.js';
import { ActionButton, Head, Notice, PageTitle, useLoad } from '../ui.js';

interface Version {
  version: string;
  current: boolean;
  committedAt: string;
  builtAt: string;
  kernelRelease: string;
  kernelSize: number;
  initrdSize: number;
  compression: string;
}
interface ImageOut {
  name: string;
  recipe: string | null;
  current: string | null;
  building: string | null;
  versions: Version[];
}
interface Progress {
  phase: string;
  done?: number;
  total?: number;
  message?: string;
}
interface Build {
  id: string;
  state: string;
  progress: Progress | null;
  log: string[];
  version: string | null;
  error: string | null;
}

const LOG_LINES = 12;

/** A build followed over GET /images/{name}/builds/{id}/events until it ends. */
function BuildProgress({ image, id, onEnd }: { image: string; id: string; onEnd: () => void }) {
  const [b, setB] = useState<Build>({ id, state: 'queued', progress: null, log: [], version: null, error: null });
  useEffect(() => {
    const es = new EventSource(`/api/v1/images/${encodeURIComponent(image)}/builds/${encodeURIComponent(id)}/events`);
    es.addEventListener('log', (m) => {
      const { line } = JSON.parse((m as MessageEvent<string>).data) as { line: string };
      setB((x) => ({ ...x, log: [...x.log, line].slice(-200) }));
    });
    es.addEventListener('progress', (m) => {
      const { progress } = JSON.parse((m as MessageEvent<string>).data) as { progress: Progress };
      setB((x) => ({ ...x, progress }));
    });
    es.addEventListener('state', (m) => {
      const s = JSON.parse((m as MessageEvent<string>).data) as { state: string; version: string | null; error: string | null };
      setB((x) => ({ ...x, state: s.state, version: s.version, error: s.error }));
      if (s.state === 'succeeded' || s.state === 'failed') {
        es.close();
        onEnd();
      }
    });
    // The server ends the stream with the build; anything else retries by itself.
    return () => es.close();
  }, [image, id]);
  const p = b.progress;
  const pct = p?.total ? Math.min(100, Math.round(((p.done ?? 0) / p.total) * 100)) : b.state === 'succeeded' ? 100 : undefined;
  return (
    <div class={`build build-${b.state}`} aria-live="polite" data-build={id}>
      <p>
        Build {id}: <strong class="build-state">{b.state}</strong>
        {p ? `, ${p.phase}${p.total ? ` ${bytes(p.done ?? 0)} of ${bytes(p.total)}` : ''}` : ''}
        {b.version ? `, version ${shortVersion(b.version)}` : ''}
      </p>
      <progress max={100} value={pct} aria-label={`Build ${id} progress`}>
        {pct === undefined ? '' : `${pct}%`}
      </progress>
      {b.error ? (
        <p class="error" role="alert">
          {b.error}
        </p>
      ) : null}
      <pre class="build-log" aria-label="Build log (last lines)">
        {b.log.slice(-LOG_LINES).join('\n')}
      </pre>
    </div>
  );
}

function ImageCard({ img, reload }: { img: ImageOut; reload: () => Promise<void> }) {
  // The build shown: the one running, else the last one started here (kept to show how it ended).
  const [job, setJob] = useState<{ id: string; running: boolean } | null>(img.building ? { id: img.building, running: true } : null);
  useEffect(() => {
    if (img.building) setJob((j) => (j?.id === img.building ? j : { id: img.building!, running: true }));
  }, [img.building]);
  return (
    <section class="image" aria-labelledby={`img-${img.name}`}>
      <h2 id={`img-${img.name}`}>{img.name}</h2>
      <p>
        {img.recipe ? (
          <>
            Recipe <code>{img.recipe}</code>.
          </>
        ) : (
          'No recipe (stored builds only).'
        )}{' '}
        Current version: {img.current ? <code>{shortVersion(img.current)}</code> : 'none (never built)'}.
      </p>
      {canChange() && img.recipe ? (
        <ActionButton
          label={`Build ${img.name}`}
          disabled={job?.running}
          run={async () => {
            const started = await api<{ id: string }>('POST', `/images/${encodeURIComponent(img.name)}/builds`);
            setJob({ id: started.id, running: true });
          }}
        />
      ) : null}
      {job ? (
        <BuildProgress
          key={job.id}
          image={img.name}
          id={job.id}
          onEnd={() => {
            setJob((j) => (j ? { ...j, running: false } : j));
            void reload();
          }}
        />
      ) : null}
      {img.versions.length ? (
        <table class="versions">
          <caption>Stored versions of {img.name}</caption>
          <Head cols={['Version', 'Last built', 'Kernel', 'RAM disk']} action />
          <tbody>
            {img.versions.map((v) => (
              <tr key={v.version} class={v.current ? 'current' : ''}>
                <th scope="row">
                  <code>{shortVersion(v.version)}</code> {v.current ? <span class="badge">current</span> : null}
                </th>
                <td>{clock(v.committedAt)}</td>
                <td>
                  {v.kernelRelease} ({bytes(v.kernelSize)})
                </td>
                <td>
                  {bytes(v.initrdSize)} {v.compression}
                </td>
                <td>
                  {!v.current && canChange() ? (
                    <ActionButton
                      label={`Roll back to ${shortVersion(v.version)}`}
                      confirm={`Serve ${img.name} ${shortVersion(v.version)} from the next boot on?`}
                      run={async () => {
                        await api('POST', `/images/${encodeURIComponent(img.name)}/rollback`, { version: v.version });
                        await reload();
                      }}
                    />
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

export function ImagesPage() {
  const images = useLoad(() => api<ImageOut[]>('GET', '/images'), []);
  useEffect(() => live.onImage(() => void images.reload()), [images.reload]);
  return (
    <section aria-labelledby="page-title">
      <PageTitle>Images</PageTitle>
      {images.error ? <Notice>{images.error}</Notice> : null}
      {images.data && !images.data.length ? <p>No recipes and no stored builds.</p> : null}
      {images.data?.map((img) => (
        <ImageCard key={img.name} img={img} reload={images.reload} />
      ))}
    </section>
  );
}
