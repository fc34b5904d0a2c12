// The bar of issue 9 for bench/boot, pure: rackboot's TFTP boot no slower
// than the reference's (dnsmasq DHCP+TFTP serving the same bytes), its HTTP
// boot faster. Figures are seconds (the boot server's part of each boot);
// the verdict compares medians.

export type Transport = 'tftp' | 'http';

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export const fmt = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : '-');

function range(xs: number[]): string {
  const s = xs.filter((x) => Number.isFinite(x));
  return s.length ? `${fmt(Math.min(...s))}-${fmt(Math.max(...s))}` : '-';
}

export interface Verdict {
  variant: string;
  reference: string;
  transport: Transport;
  /** Median over median: below 1 is faster than the reference. */
  ratio: number;
  bar: string;
  /** undefined when a side has no figure. */
  met: boolean | undefined;
  line: string;
}

/**
 * One variant against its reference. The decision is taken on the ratio as
 * printed (2 decimals), so a line never reads "1.00x ... missed".
 */
export function verdict(o: { variant: string; reference: string; transport: Transport; samples: number[]; refSamples: number[]; what?: string }): Verdict {
  const m = median(o.samples);
  const r = median(o.refSamples);
  const ratio = m / r;
  const shown = Math.round(ratio * 100);
  const bar = o.transport === 'tftp' ? 'TFTP no slower than the reference (<= 1.00x)' : 'HTTP faster than the reference (< 1.00x)';
  const met = Number.isFinite(ratio) && r > 0 ? (o.transport === 'tftp' ? shown <= 100 : shown < 100) : undefined;
  const runs = o.samples.length > 1 || o.refSamples.length > 1 ? `; runs ${range(o.samples)} s vs ${range(o.refSamples)} s` : '';
  const line =
    `${o.variant}: ${o.what ?? 'files'} ${fmt(ratio)}x ${o.reference}'s (median ${fmt(m)} s vs ${fmt(r)} s${runs}); ` +
    `bar: ${bar}: ${met === undefined ? 'no figure' : met ? 'met' : 'MISSED'}`;
  return { variant: o.variant, reference: o.reference, transport: o.transport, ratio, bar, met, line };
}
