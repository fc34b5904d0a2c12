// DHCPv4 option codes and message types (RFC 2132 and the PXE/iPXE/PXELINUX
// extensions rackboot speaks), with small value encoders used by the policy.

export const OPT = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  DOMAIN: 15,
  MTU: 26,
  BROADCAST: 28,
  NTP: 42,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAM_LIST: 55,
  MESSAGE: 56,
  MAX_SIZE: 57,
  RENEWAL_T1: 58,
  REBINDING_T2: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER: 66,
  BOOTFILE: 67,
  USER_CLASS: 77,
  RELAY_AGENT: 82,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  UUID: 97,
  SUBNET_SELECTION: 118,
  TFTP_SERVER_ADDRESS: 150,
  BPBATCH: 155,
  IPXE_ENCAP: 175,
  PXELINUX_CONFIG_FILE: 209,
  PXELINUX_PATH_PREFIX: 210,
  END: 255,
} as const;

export const MSG = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

export type MessageType = (typeof MSG)[keyof typeof MSG];

const MSG_NAMES: Record<number, string> = {
  1: 'discover',
  2: 'offer',
  3: 'request',
  4: 'decline',
  5: 'ack',
  6: 'nak',
  7: 'release',
  8: 'inform',
};

/** Lower-case name of a message type ('discover', ...), or 'type-N'. */
export function messageName(t: number | undefined): string {
  if (t === undefined) return 'bootp';
  return MSG_NAMES[t] ?? `type-${t}`;
}

/** RFC 4578 client system architectures rackboot distinguishes. */
export const ARCH = {
  BIOS: 0,
  EFI_IA32: 6,
  EFI_BC: 7,
  EFI_X64: 9,
  EFI_X64_HTTP: 16,
} as const;

/** PXE vendor sub-option 6 (PXE_DISCOVERY_CONTROL). */
export const PXE_DISCOVERY_CONTROL = 6;
/** Bit 3: the boot file name in this reply is the one to use; skip boot server discovery. */
export const PXE_DISCOVERY_USE_BOOTFILE = 8;

export function u8(v: number): Buffer {
  return Buffer.from([v & 255]);
}

export function u16(v: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(v & 0xffff, 0);
  return b;
}

export function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

export function ipList(ips: readonly number[]): Buffer {
  const b = Buffer.allocUnsafe(ips.length * 4);
  ips.forEach((ip, i) => b.writeUInt32BE(ip >>> 0, i * 4));
  return b;
}

export function text(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}
