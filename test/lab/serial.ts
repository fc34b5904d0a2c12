// What a blade's serial console says about its boot, as milestones with the
// time since power-on. This is the VM's own view, the same whichever server
// answers it (rackboot or the dnsmasq reference), so boot times compare
// fairly. Pure: lines in, milestones out.

export type SerialMilestone =
  | 'firmware' // SeaBIOS
  | 'rom' // the network boot starts: the NIC's iPXE ROM, or OVMF's PXE / HTTP boot
  | 'dhcp' // it has an address (iPXE: "Configuring (net0 ...) ... ok"; OVMF: "Station IP address is")
  | 'loader' // the boot loader runs (PXELINUX/SYSLINUX banner, an iPXE script, GRUB)
  | 'kernel' // kernel image downloaded
  | 'initrd' // RAM disk downloaded
  | 'linux' // the kernel starts ("Linux version")
  | 'init' // the kernel runs /init
  | 'panic';

export interface SerialEvent {
  /** Seconds since power-on. */
  t: number;
  milestone: SerialMilestone;
  line: string;
}

const RULES: Array<[SerialMilestone, RegExp]> = [
  ['firmware', /SeaBIOS \(version/],
  ['rom', /iPXE \(PCI [0-9a-f:.]+\) starting execution|^>>Start (PXE|HTTP Boot) over IPv4/],
  ['dhcp', /Configuring \(net\d [0-9a-f:]+\).*\bok\b|^\s*Station IP address is \d/],
  ['loader', /PXELINUX \d|SYSLINUX \d\S* EFI|^\s*\S+\.ipxe\b.*\.\.\. ok|boot\/ipxe\/[0-9a-f:]+.*\.\.\. ok|#!ipxe|Welcome to GRUB!/i],
  // PXELINUX: "Loading vmlinuz... ok"; iPXE: "http://.../boot/blade1/kernel... ok"; GRUB (shipped template): the RAM disk is next.
  ['kernel', /Loading \S*(vmlinuz|kernel)\S*\.+\s*o+k+|\/kernel\.\.\. ok|rackboot: loading the RAM disk/],
  ['initrd', /Loading \S*(initrd|ramdisk)\S*\.+\s*o+k+|\/initrd\.\.\. ok/],
  ['linux', /\] Linux version \d/],
  ['init', /\] Run \S+ as init process/],
  ['panic', /Kernel panic - not syncing/],
];

// eslint-style escape stripping: CSI sequences, other ESC pairs, and NULs.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>78cDEHM]|\x00/g;

export function cleanLine(raw: string): string {
  return raw.replace(ANSI, '').replace(/\s+$/, '');
}

/** The milestone a console line marks, if any. */
export function classify(line: string): SerialMilestone | undefined {
  for (const [m, re] of RULES) if (re.test(line)) return m;
  return undefined;
}

/** Splits a byte stream into lines (CR or LF), keeping the unfinished tail. */
export class LineSplitter {
  private tail = '';
  push(chunk: string): string[] {
    const text = this.tail + chunk;
    const parts = text.split(/\r\n|\r|\n/);
    this.tail = parts.pop() ?? '';
    return parts;
  }
  flush(): string[] {
    const t = this.tail;
    this.tail = '';
    return t ? [t] : [];
  }
}

/** First occurrence of each milestone, in time order. */
export function firstMilestones(events: SerialEvent[]): SerialEvent[] {
  const seen = new Set<SerialMilestone>();
  const out: SerialEvent[] = [];
  for (const e of events) {
    if (seen.has(e.milestone)) continue;
    seen.add(e.milestone);
    out.push(e);
  }
  return out;
}
