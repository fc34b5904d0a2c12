// Printing what a lab run saw: boot timelines as tables with durations.
import type { SerialMilestone } from './serial.js';
import type { BladeBoot } from './lab.js';

const SERIAL_LABEL: Record<SerialMilestone, string> = {
  firmware: 'firmware (SeaBIOS)',
  rom: 'NIC boot ROM (iPXE)',
  dhcp: 'DHCP address',
  loader: 'boot loader running',
  kernel: 'kernel downloaded',
  initrd: 'RAM disk downloaded',
  linux: 'kernel started',
  init: '/init running',
  panic: 'KERNEL PANIC',
};

export function table(rows: string[][], align: Array<'l' | 'r'> = []): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) => r.map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

const secs = (s: number) => `${s.toFixed(2)} s`;

/** The blade's boot as its console saw it: each milestone, time since power-on, and time since the previous one. */
export function formatSerialTimeline(b: BladeBoot): string {
  const rows: string[][] = [['  console', 'at', 'step']];
  let prev = 0;
  for (const e of b.serial) {
    rows.push([`  ${SERIAL_LABEL[e.milestone]}`, secs(e.t), `+${secs(e.t - prev)}`]);
    prev = e.t;
  }
  rows.push(['  up', secs(b.upAfter), `+${secs(b.upAfter - prev)}`]);
  return `${b.name}: up ${secs(b.upAfter)} after power-on\n${table(rows, ['l', 'r', 'r'])}`;
}
