// What "usable with 2,000 nodes" means, measured in the browser: how long
// until the full rack is painted, and how smooth the page stays while a
// few hundred nodes boot at once (frame gaps from requestAnimationFrame,
// long tasks from the browser's own PerformanceObserver). Used by the
// browser test (which prints the figures) and bench/dashboard.ts.
import { readdirSync, readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import type { EventInput } from '../../server/store/types.js';
import { bootEvents, type DashboardLab } from './lab.js';

export interface PaintFigures {
  /** ms from navigation start to the frame after the rack's tiles were rendered. */
  rackPainted: number;
  /** The browser's first contentful paint (the page shell). */
  firstContentfulPaint: number | null;
  tiles: number;
  /** CPU the page's renderer used from the navigation to then, ms (the machine's load does not inflate it). */
  rendererCpuMs: number | null;
}

/** Load the rack afresh (the tab is signed in) and read when it was painted. */
export async function measureFirstPaint(page: Page, base: string, expectTiles: number): Promise<PaintFigures> {
  const cpu0 = rendererCpuMs();
  await page.goto(`${base}/`);
  await page.waitForFunction(
    (n) => performance.getEntriesByName('rackboot:rack-painted').length > 0 && document.querySelectorAll('#rack .tile').length === n,
    expectTiles,
    { timeout: 60_000 },
  );
  const cpu1 = rendererCpuMs();
  const figures = await page.evaluate(() => ({
    rackPainted: performance.getEntriesByName('rackboot:rack-painted')[0]!.startTime,
    firstContentfulPaint: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
    tiles: document.querySelectorAll('#rack .tile').length,
  }));
  // A navigation that moved to a new renderer process has no before-figure of its own.
  const cpu = cpu0 === null || cpu1 === null || cpu1 < cpu0 ? null : Math.round(cpu1 - cpu0);
  return { ...figures, rendererCpuMs: cpu };
}

export interface StormFigures {
  nodes: number;
  events: number;
  /** Seconds the events took to send. */
  seconds: number;
  frames: number;
  /** The longest gap between two frames, ms (16.7 is a frame at 60 Hz). */
  maxFrameGapMs: number;
  /** Gaps over 50 ms: frames a user would see skip. */
  gapsOver50ms: number;
  longTasks: number;
  longestTaskMs: number;
  /**
   * CPU the page's renderer processes used meanwhile, ms: unlike frame
   * gaps, it does not grow when other work on the machine takes the cores.
   */
  rendererCpuMs: number | null;
  /** The same renderers over as long before the storm, with only the frame loop running. */
  idleRendererCpuMs: number | null;
}

/** Linux: CPU time (user + system, ms) of the Chromium renderers this process started. */
export function rendererCpuMs(): number | null {
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  const renderers: number[] = [];
  let ids: string[];
  try {
    ids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const id of ids) {
    try {
      const stat = readFileSync(`/proc/${id}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) in parentheses.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(id), Number(f[1]));
      cpu.set(Number(id), ((Number(f[11]) + Number(f[12])) * 1000) / 100);
      if (readFileSync(`/proc/${id}/cmdline`, 'utf8').includes('--type=renderer')) renderers.push(Number(id));
    } catch {
      /* gone meanwhile */
    }
  }
  const ours = (pid: number) => {
    for (let p = pid, n = 0; p > 1 && n < 10; p = parent.get(p) ?? 0, n++) if (p === process.pid) return true;
    return false;
  };
  return renderers.filter(ours).reduce((sum, pid) => sum + cpu.get(pid)!, 0);
}

/**
 * `nodes` of the lab's extra nodes boot at once: each one's PXELINUX boot
 * (15 events from the first DHCP packet to "ready") starts within the first
 * second and runs `speed` times faster than a lab blade's, recorded through
 * the server's own recorder, so the page gets them from the live stream as
 * it would from DHCP and TFTP. Waits until every booted tile says ready.
 */
export async function measureStorm(page: Page, lab: DashboardLab, names: Array<{ name: string; mac: string }>, speed = 4): Promise<StormFigures> {
  await page.evaluate(() => {
    const w = window as unknown as { __frames: number[]; __long: number[]; __stop: boolean };
    w.__frames = [];
    w.__long = [];
    w.__stop = false;
    const loop = (t: number) => {
      w.__frames.push(t);
      if (!w.__stop) requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) w.__long.push(e.duration);
    }).observe({ type: 'longtask' });
  });
  const plan: EventInput[] = [];
  names.forEach((n, i) => plan.push(...bootEvents(n.name, n.mac, 'ready', Math.floor((i / names.length) * 1000) * speed)));
  plan.sort((a, b) => a.ts! - b.ts!);
  // The renderer's CPU over as long with nothing happening (the frame loop runs): the baseline.
  const idle0 = rendererCpuMs();
  await new Promise((r) => setTimeout(r, plan.at(-1)!.ts! / speed));
  await page.evaluate(() => {
    const w = window as unknown as { __frames: number[]; __long: number[] };
    w.__frames = [];
    w.__long = [];
  });
  const cpu0 = rendererCpuMs();
  const t0 = Date.now();
  for (const e of plan) e.ts! += t0;
  await new Promise<void>((resolve) => {
    let i = 0;
    const tick = () => {
      const due = t0 + (Date.now() - t0) * speed;
      while (i < plan.length && plan[i]!.ts! <= due) lab.record({ ...plan[i++]!, ts: Date.now() });
      if (i < plan.length) setTimeout(tick, 5);
      else resolve();
    };
    tick();
  });
  const seconds = (Date.now() - t0) / 1000;
  await page.waitForFunction((n) => document.querySelectorAll('#rack .tile.state-ready').length >= n, names.length, { timeout: 60_000 });
  const cpu1 = rendererCpuMs();
  const figures = await page.evaluate(
    ({ nodes, events, seconds }) => {
      const w = window as unknown as { __frames: number[]; __long: number[]; __stop: boolean };
      w.__stop = true;
      const gaps = w.__frames.slice(1).map((t, i) => t - w.__frames[i]!);
      return {
        nodes,
        events,
        seconds,
        frames: w.__frames.length,
        maxFrameGapMs: Math.round(Math.max(0, ...gaps) * 10) / 10,
        gapsOver50ms: gaps.filter((g) => g > 50).length,
        longTasks: w.__long.length,
        longestTaskMs: Math.round(Math.max(0, ...w.__long)),
      };
    },
    { nodes: names.length, events: plan.length, seconds },
  );
  const ms = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.round(b - a));
  return { ...figures, rendererCpuMs: ms(cpu0, cpu1), idleRendererCpuMs: ms(idle0, cpu0) };
}

export function formatFigures(p: PaintFigures, s: StormFigures): string {
  return (
    `rack of ${p.tiles} nodes painted ${Math.round(p.rackPainted)} ms after navigation (first contentful paint ${p.firstContentfulPaint === null ? '?' : Math.round(p.firstContentfulPaint)} ms, renderer CPU ${p.rendererCpuMs ?? '?'} ms); ` +
    `${s.nodes} nodes booting at once (${s.events} events in ${s.seconds.toFixed(1)} s): ${s.frames} frames, longest gap ${s.maxFrameGapMs} ms, ` +
    `${s.gapsOver50ms} gaps over 50 ms, ${s.longTasks} long tasks (longest ${s.longestTaskMs} ms), renderer CPU ${s.rendererCpuMs ?? '?'} ms (idle over as long: ${s.idleRendererCpuMs ?? '?'} ms)`
  );
}
