// An event as live listeners get it (the event stream, the dashboard's rack
// status): the stored fields plus an ISO time, whether this server recorded
// it or a peer did.
import type { EventRecord } from '../store/types.js';
import type { LiveEvent } from '../../web/shared/rack.js';
import type { RecordedEvent } from './recorder.js';

export const liveEvent = (e: RecordedEvent | EventRecord): LiveEvent => ({
  node: e.node,
  mac: e.mac,
  ts: e.ts,
  time: new Date(e.ts).toISOString(),
  kind: e.kind,
  detail: e.detail,
});
