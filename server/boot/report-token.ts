// The token a booted node reports its own events with, derived from the API
// token so blades never carry the admin token. Boot configs (templates,
// image overlays) hand it out; the API accepts it on the node's routes.
import { createHmac } from 'node:crypto';

/** Token a node uses to post its own events: HMAC(api token, node name). */
export function nodeReportToken(apiToken: string, node: string): string {
  return 'node.' + createHmac('sha256', apiToken).update(`report:${node}`).digest('base64url').slice(0, 32);
}
