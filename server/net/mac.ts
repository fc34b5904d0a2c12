// MAC addresses are accepted in the forms operators paste (aa:bb:.., AA-BB-..,
// Cisco aabb.ccdd.eeff, bare aabbccddeeff) and stored in one canonical form:
// lower-case, colon-separated.

/** The forms canonicalMac accepts, for messages and API docs. */
export const MAC_FORMS = 'aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff or aabbccddeeff';

const HEX12 = /^[0-9a-f]{12}$/;

export function canonicalMac(input: string): string | undefined {
  if (typeof input !== 'string') return undefined;
  const s = input.trim().toLowerCase();
  let hex: string;
  if (/^([0-9a-f]{1,2})([:-][0-9a-f]{1,2}){5}$/.test(s)) {
    const sep = s.includes(':') ? ':' : '-';
    if (s.includes(':') && s.includes('-')) return undefined;
    hex = s.split(sep).map((b) => b.padStart(2, '0')).join('');
  } else if (/^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/.test(s)) {
    hex = s.replaceAll('.', '');
  } else if (HEX12.test(s)) {
    hex = s;
  } else {
    return undefined;
  }
  return hex.match(/../g)!.join(':');
}

/**
 * A NIC's MAC in canonical form, or why the text is not one: the registry,
 * the seed and `config check` refuse the same MACs with the same words.
 */
export function nicMac(input: string): { mac: string } | { problem: string } {
  const mac = canonicalMac(input);
  if (!mac) return { problem: `'${input}' is not a MAC address (${MAC_FORMS})` };
  if (mac === 'ff:ff:ff:ff:ff:ff') return { problem: `${mac} is the broadcast address, not a NIC's` };
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1) return { problem: `${mac} is a multicast address, not a NIC's` };
  // A NIC without a burnt-in address (or a zeroed chaddr) reports all zeros: it names no machine.
  if (mac === '00:00:00:00:00:00') return { problem: `${mac} is the null address, not a NIC's` };
  return { mac };
}

/** 6-byte buffer -> canonical text. */
export function macFromBytes(b: Uint8Array, offset = 0): string {
  let out = '';
  for (let i = 0; i < 6; i++) {
    const v = b[offset + i] ?? 0;
    out += (i ? ':' : '') + (v < 16 ? '0' : '') + v.toString(16);
  }
  return out;
}

export function macToBytes(mac: string): Buffer {
  return Buffer.from(mac.replaceAll(':', ''), 'hex');
}

/** PXELINUX per-MAC config name component: 01-aa-bb-cc-dd-ee-ff (01 = Ethernet). */
export function pxelinuxMacName(mac: string): string {
  return `01-${mac.replaceAll(':', '-')}`;
}
