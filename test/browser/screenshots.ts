// Regenerates the dashboard screenshots in docs/screenshots/ (README links
// them): the browser tests' rack with 40 more blades in every state, a
// built image, two content releases, the director checking real servers on
// loopback. Needs root (the director's rules go into a namespace) and
// Debian's chromium.
//
//   npm run screenshots
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { browserLacks, launchChromium, Tab } from './chromium.js';
import { ADMIN, IMAGE, WEB, bootEvents, startDashboardLab, syncContent, type BootStop } from './lab.js';

const OUT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'screenshots');
const lacks = browserLacks() ?? (process.getuid?.() !== 0 ? 'needs root (the director applies its rules in a network namespace)' : undefined);
if (lacks) {
  console.error(`screenshots: ${lacks}`);
  process.exit(1);
}

/** How far each of the 40 blades got: most are up, some boot, two failed, a few never asked. */
const PLAN: BootStop[] = [...Array<BootStop>(22).fill('ready'), ...Array<BootStop>(4).fill('initrd'), 'kernel', 'kernel', 'kernel', 'loader', 'loader', 'dhcp', 'dhcp', 'dhcp', 'failed', 'failed'];

const lab = await startDashboardLab({ netns: true, director: true, nodes: 40 });
const browser = await launchChromium();
try {
  const releases = await syncContent(lab);
  const job = await lab.ts.api<{ id: string }>('POST', `/api/v1/images/${IMAGE}/builds`, undefined, ADMIN);
  let version = '';
  for (let i = 0; i < 120 && !version; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const j = await lab.ts.api<{ state: string; version: string | null; error: string | null }>('GET', `/api/v1/images/${IMAGE}/builds/${job.body.id}`, undefined, ADMIN);
    if (j.body.state === 'failed') throw new Error(`the image build failed: ${j.body.error}`);
    if (j.body.state === 'succeeded') version = j.body.version!;
  }
  const docroot = `/var/www/releases/${releases[1]}`;
  const nodes = (await lab.ts.api<Array<{ name: string; interfaces: Array<{ mac: string }> }>>('GET', '/api/v1/nodes?group=rack', undefined, ADMIN)).body;
  const now = Date.now();
  nodes.forEach((n, i) => {
    const stop = PLAN[i];
    if (!stop) return;
    // Up nodes booted a while ago; booting ones started in the last minute.
    const t0 = stop === 'ready' ? now - 3_600_000 + i * 20_000 : now - 60_000 + i * 1000;
    for (const e of bootEvents(n.name, n.interfaces[0]!.mac, stop, t0, { version, docroot })) lab.record(e);
  });
  for (const w of WEB.slice(0, 2)) for (const e of bootEvents(w.name, w.mac, 'ready', now - 600_000, { version, docroot })) lab.record(e);
  ['52:54:00:7a:10:03', '52:54:00:7a:10:02', '52:54:00:7a:10:01'].forEach((mac, i) =>
    lab.record({ node: null, mac, kind: 'dhcp.ignored', ts: now - (2 - i) * 45_000, detail: { request: 'DISCOVER', network: 'inside', vendorClass: 'PXEClient:Arch:00007:UNDI:003016', arch: 7, reason: 'unknown MAC' } }),
  );
  await lab.ts.server.events.flush();
  // Let the director's checks put web1 and web2 in the pool.
  await new Promise((r) => setTimeout(r, 3000));

  mkdirSync(OUT, { recursive: true });
  const tab = await Tab.open(browser, lab.url, { width: 1280, height: 800 });
  const shot = async (name: string, path: string, ready: string, fullPage = false) => {
    await tab.goto(path);
    await tab.page.waitForSelector(ready);
    await tab.page.waitForTimeout(300);
    await tab.page.screenshot({ path: join(OUT, `${name}.png`), fullPage });
    console.log(`docs/screenshots/${name}.png`);
  };
  await shot('signin', '/signin', '#token');
  await tab.signIn(ADMIN);
  await shot('rack', '/', '#rack .tile');
  await shot('rack-rows', '/?view=rows&group=rack', 'table.rows tbody tr');
  await shot('node', `/nodes/${nodes[0]!.name}`, '.boot-chart tr.step-ready', true);
  await shot('director', '/director', 'table.realservers');
  await tab.goto('/images');
  await tab.page.click(`button:text-is("Build ${IMAGE}")`);
  await tab.page.waitForSelector('.build .build-state:text-is("succeeded")', { timeout: 120_000 });
  await tab.page.screenshot({ path: join(OUT, 'images.png') });
  console.log('docs/screenshots/images.png');
  await shot('content', '/content', 'table.releases a');
  await shot('networks', '/networks', '#unknown-macs', true);
  if (tab.errors.length) throw new Error(`the pages logged errors:\n${tab.errors.join('\n')}`);
} finally {
  await browser.close();
  await lab.close();
}
