// Query parameters several routes share, checked the same way everywhere.
import { canonicalMac, MAC_FORMS } from '../net/mac.js';
import { HttpError } from './errors.js';

/** ?mac= in any accepted form -> the canonical form the store keys on; 400 naming the parameter otherwise. */
export function macQuery(raw: string | undefined, name = 'mac'): string | undefined {
  if (raw === undefined) return undefined;
  const mac = canonicalMac(raw);
  if (!mac) throw new HttpError(400, 'invalid', `querystring.${name}: '${raw}' is not a MAC address (${MAC_FORMS})`, `querystring.${name}`);
  return mac;
}
