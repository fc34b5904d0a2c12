// What `npm run lab` says while blades boot: a line each time a blade's
// timeline moves it to a new boot stage, read by the dashboard's rules
// (web/shared/boot-state.ts), so the minutes of a TCG boot are not silent.
import { advance, EMPTY_BOOT, STATE_LABEL, type BootEvent, type NodeBoot } from '../../web/shared/boot-state.js';

/** One stage a blade reached, as the lab prints it. */
export interface Stage {
  /** Seconds since power-on. */
  t: number;
  line: string;
}

/** The stages `events` (oldest first) lead through after `since` (power-on, epoch ms). Pure. */
export function bootStages(name: string, events: readonly BootEvent[], since: number): Stage[] {
  const out: Stage[] = [];
  let b: NodeBoot = EMPTY_BOOT;
  for (const e of events) {
    if (e.ts < since) continue;
    const next = advance(b, e);
    if (next.state !== b.state && next.since !== null) {
      const t = (next.since - since) / 1000;
      const why = next.state === 'failed' && next.reason ? `: ${next.reason}` : '';
      out.push({ t, line: `${name}: ${STATE_LABEL[next.state]}${why} (+${t.toFixed(1)} s, ${e.kind})` });
    }
    b = next;
  }
  return out;
}

/** Polls a blade's timeline and prints each new stage until stopped; a failed read is skipped (the boot's own wait reports real trouble). */
export function watchBoot(name: string, since: number, read: () => Promise<BootEvent[]>, log: (line: string) => void, everyMs = 1000): { stop: () => Promise<void> } {
  let printed = 0;
  let stopped = false;
  const poll = async () => {
    const events = await read().catch(() => undefined);
    if (!events) return;
    const stages = bootStages(name, events, since);
    for (const s of stages.slice(printed)) log(s.line);
    printed = Math.max(printed, stages.length);
  };
  const loop = (async () => {
    while (!stopped) {
      await poll();
      if (!stopped) await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      // The last stage (ready, the pool) may have landed since the last poll.
      await poll();
    },
  };
}
