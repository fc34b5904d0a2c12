// The frame around every page: the header with the navigation, the live
// indicator and sign-out, then the page the URL names.
import { useEffect, useRef } from 'preact/hooks';
import { session, SERVICE_OF_PAGE } from './api.js';
import { live, useLive } from './live.js';
import { useLocation } from './router.js';
import { ContentPage } from './pages/content.js';
import { DirectorPage } from './pages/director.js';
import { ImagesPage } from './pages/images.js';
import { NetworksPage } from './pages/networks.js';
import { NodePage } from './pages/node.js';
import { RackPage } from './pages/rack.js';
import { PageTitle } from './ui.js';

const NAV: Array<[string, string]> = [
  ['/', 'Rack'],
  ['/director', 'Director'],
  ['/images', 'Images'],
  ['/content', 'Content'],
  ['/networks', 'Networks'],
];

function page(path: string) {
  const node = /^\/nodes\/([^/]+)$/.exec(path);
  if (node) return <NodePage key={node[1]} name={decodeURIComponent(node[1]!)} />;
  const off = SERVICE_OF_PAGE[path];
  if (off && !session.services.has(off.service)) {
    return (
      <section aria-labelledby="page-title">
        <PageTitle>{NAV.find(([p]) => p === path)?.[1]}</PageTitle>
        <p class="notice" role="status">
          {off.what} is not running on this server (set <code>{off.key}</code> in the config, or see /healthz for why it did not start).
        </p>
      </section>
    );
  }
  switch (path) {
    case '/':
      return <RackPage />;
    case '/director':
      return <DirectorPage />;
    case '/images':
      return <ImagesPage />;
    case '/content':
      return <ContentPage />;
    case '/networks':
      return <NetworksPage />;
    default:
      return (
        <section aria-labelledby="page-title">
          <PageTitle>Not found</PageTitle>
          <p>
            No dashboard page at {path}. <a href="/">Back to the rack</a>.
          </p>
        </section>
      );
  }
}

const section = (path: string) => (path.startsWith('/nodes/') ? '/' : path);

export function App() {
  useLive();
  const { path } = useLocation();
  const first = useRef(true);
  useEffect(() => {
    document.title = `${NAV.find(([p]) => p === section(path))?.[1] ?? 'rackboot'} · rackboot · ${session.cluster}`;
    // After a page change focus the new page's title (not on first load: the browser's own focus stays).
    if (first.current) first.current = false;
    else document.getElementById('page-title')?.focus();
  }, [path]);
  const status = live.connection === 'live' ? 'live' : live.connection === 'connecting' ? 'connecting…' : 'reconnecting…';
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/">
          rackboot <span class="cluster">{session.cluster}</span>
        </a>
        <nav aria-label="Dashboard">
          <ul>
            {NAV.map(([href, label]) => (
              <li key={href}>
                <a href={href} aria-current={section(path) === href ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class={`conn conn-${live.connection}`} role="status" aria-label={`Live updates: ${status}`}>
          {status}
        </span>
        {session.role === 'viewer' ? <span class="badge role">read-only</span> : null}
        <form method="post" action="/signout" class="signout">
          <input type="hidden" name="csrf" value={session.csrf} />
          <button type="submit">Sign out</button>
        </form>
      </header>
      <main id="main">{page(path)}</main>
    </>
  );
}
