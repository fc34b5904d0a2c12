// Several rackboot servers on one database. The relay turns what other
// servers change (the store's peer feed) into this server's own change
// events, so the DHCP index, the boot caches and the director see a node
// registered through any server; events other servers record reach this
// server's live listeners (SSE), fetched only while someone listens.
import type { EventRecorder } from '../events/recorder.js';
import type { Logger } from '../log.js';
import type { Registry } from '../store/registry.js';
import type { PeerChange, Store } from '../store/types.js';

export class PeerRelay {
  private off: (() => void) | undefined;
  private registryChain: Promise<void> = Promise.resolve();
  private eventsChain: Promise<void> = Promise.resolve();

  constructor(private readonly store: Store, private readonly registry: Registry, private readonly events: EventRecorder, private readonly log: Logger) {}

  start(): void {
    this.off = this.store.onPeerChange((c) => this.on(c));
  }

  stop(): void {
    this.off?.();
  }

  /** Registry changes in the order they were told; events on a chain of their own. */
  private on(c: PeerChange): void {
    const fail = (err: unknown) => this.log.warn(`peers: could not apply a change from server '${'server' in c ? c.server : '?'}': ${(err as Error).message}`);
    switch (c.kind) {
      case 'node':
      case 'group':
      case 'resync':
        this.registryChain = this.registryChain.then(() => this.registryChange(c)).catch(fail);
        return;
      case 'events':
        // Nobody listening: nothing to fetch (the events are in the store for any later reader).
        if (this.events.listenerCount('event') === 0) return;
        this.eventsChain = this.eventsChain.then(() => this.relayEvents(c.server, c.fromId, c.toId)).catch(fail);
        return;
      default:
        return;
    }
  }

  private async registryChange(c: Extract<PeerChange, { kind: 'node' | 'group' | 'resync' }>): Promise<void> {
    if (c.kind === 'resync') {
      this.log.info('peers: the store connection is back; reloading the registry');
      this.registry.emit('resync');
      return;
    }
    if (c.kind === 'group') return this.registry.groupChanged(c.name);
    const node = c.deleted ? undefined : await this.store.getNode(c.name);
    this.registry.emit('change', node ? { kind: 'node-updated', node } : { kind: 'node-deleted', name: c.name });
  }

  private async relayEvents(server: string, fromId: number, toId: number): Promise<void> {
    for (let after = fromId - 1; after < toId; ) {
      const page = await this.store.listEvents({ server, afterId: after, limit: Math.min(10_000, toId - after) });
      for (const e of page) if (e.id <= toId) this.events.relay(e);
      if (!page.length) return;
      after = page[page.length - 1]!.id;
    }
  }
}
