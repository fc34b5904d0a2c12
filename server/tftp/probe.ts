// UEFI PXE (EDK2's PxeBc, and firmware built on it) reads a loader twice:
// first a read request with the tsize option, which it ends with an ERROR
// ("User aborted the transfer") as soon as the OACK has told it the size, then
// the transfer proper. The first is a size probe: normal, recorded as
// tftp.probe at INFO, not as a failed transfer.
import type { TransferRecord } from './records.js';

/** The OACK a transfer sends names tsize. */
export function asksSize(oack: ReadonlyArray<readonly [string, string]>): boolean {
  return oack.some(([name]) => name === 'tsize');
}

/** The client asked for the size and ended the transfer before taking a block of data. */
export function isSizeProbe(r: Pick<TransferRecord, 'outcome' | 'bytes' | 'tsizeAsked'>): boolean {
  return r.outcome === 'client-error' && r.bytes === 0 && r.tsizeAsked;
}
