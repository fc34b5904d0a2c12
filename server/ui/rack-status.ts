// Every node's boot state, kept current from the live events (the same
// reducer the browser runs), so the rack view's first paint needs one
// request, not one timeline per node. Loaded from the store at start: the
// newest events of each node, plus its last report of each state-deciding
// kind for a node whose newest events are only lease renewals.
import { liveEvent } from '../events/live.js';
import type { EventRecorder, RecordedEvent } from '../events/recorder.js';
import type { Logger } from '../log.js';
import type { Registry, RegistryChange } from '../store/registry.js';
import type { GroupRecord, NodeRecord, Store } from '../store/types.js';
import { advance, EMPTY_BOOT, replay, type NodeBoot } from '../../web/shared/boot-state.js';
import { noteUnknown, type LiveEvent, type RackRow, type RackSnapshot, type UnknownMac } from '../../web/shared/rack.js';

/** Events read per node at start; older ones only through the kinds below. */
const WINDOW = 300;
const DECIDING_KINDS = ['ready', 'director.up', 'director.down'];

export interface RackStatusDeps {
  store: Store;
  registry: Registry;
  events: EventRecorder;
  log: Logger;
  /** The current version of an image, when the images service runs. */
  imageCurrent: (image: string) => string | null;
}

export class RackStatus {
  private readonly boots = new Map<string, NodeBoot>();
  private readonly unknown = new Map<string, UnknownMac>();
  /** Events that arrived while the store was read; applied after it. */
  private pending: LiveEvent[] | undefined = [];
  private loading: Promise<void> | undefined;
  private readonly onEvent = (e: RecordedEvent) => this.apply(liveEvent(e));
  private readonly onChange = (c: RegistryChange) => {
    if (c.kind === 'node-deleted') this.boots.delete(c.name);
    if (c.kind === 'node-created') for (const i of c.node.interfaces) this.unknown.delete(i.mac);
  };

  /** The store's change feed was lost and is back: other servers' events meanwhile were not relayed, read them all again. */
  private readonly onResync = () => {
    if (this.pending) return;
    this.pending = [];
    this.reload();
  };

  constructor(private readonly d: RackStatusDeps) {}

  start(): void {
    // Listen first, so nothing recorded while the store is read is missed.
    this.d.events.on('event', this.onEvent);
    this.d.registry.on('change', this.onChange);
    this.d.registry.on('resync', this.onResync);
    this.reload();
  }

  private reload(): void {
    this.loading = this.load().catch((err: unknown) => {
      this.d.log.error({ err }, 'ui: could not read the timelines for the rack view');
      this.flushPending(new Map());
    });
  }

  stop(): void {
    this.d.events.off('event', this.onEvent);
    this.d.registry.off('change', this.onChange);
    this.d.registry.off('resync', this.onResync);
  }

  private apply(e: LiveEvent): void {
    if (this.pending) return void this.pending.push(e);
    if (e.node !== null) this.boots.set(e.node, advance(this.boots.get(e.node) ?? EMPTY_BOOT, e));
    else noteUnknown(this.unknown, e);
  }

  private async load(): Promise<void> {
    const { store } = this.d;
    await this.d.events.flush();
    const loadedUpTo = new Map<string, number>();
    for (const n of await store.listNodes()) {
      const recent = await store.listEvents({ node: n.name, limit: WINDOW });
      let events = recent;
      // A full window may not reach back to the last boot (a node up for weeks renews its lease every half hour).
      if (recent.length === WINDOW) {
        const older = await Promise.all(DECIDING_KINDS.map((kind) => store.listEvents({ node: n.name, kind, limit: 1 })));
        const ids = new Set(recent.map((e) => e.id));
        events = [...older.flat().filter((e) => !ids.has(e.id)), ...recent].sort((a, b) => a.ts - b.ts || a.id - b.id);
      }
      this.boots.set(n.name, replay(events));
      loadedUpTo.set(n.name, recent.at(-1)?.ts ?? -1);
    }
    for (const e of await store.listEvents({ limit: 2000 })) if (e.node === null) noteUnknown(this.unknown, liveEvent(e));
    this.flushPending(loadedUpTo);
  }

  /** Live events recorded during the load and not yet in what it read (same-millisecond ones may apply twice: harmless). */
  private flushPending(loadedUpTo: Map<string, number>): void {
    const pending = this.pending ?? [];
    this.pending = undefined;
    for (const e of pending) if (e.node === null || e.ts >= (loadedUpTo.get(e.node) ?? -1)) this.apply(e);
  }

  async ready(): Promise<void> {
    await this.loading;
  }

  boot(name: string): NodeBoot {
    return this.boots.get(name) ?? EMPTY_BOOT;
  }

  row(n: NodeRecord, group: GroupRecord | undefined): RackRow {
    const eff = this.d.registry.effective(n, group);
    return {
      name: n.name,
      group: n.group,
      discovered: n.discovered,
      interfaces: n.interfaces.map((i) => ({ name: i.name, mac: i.mac, network: i.network, ipv4: i.ipv4 })),
      loader: eff.loader,
      image: eff.image,
      imageCurrent: eff.image ? this.d.imageCurrent(eff.image) : null,
      boot: this.boot(n.name),
    };
  }

  async rowOf(n: NodeRecord): Promise<RackRow> {
    return this.row(n, n.group ? await this.d.store.getGroup(n.group) : undefined);
  }

  async snapshot(): Promise<RackSnapshot> {
    await this.ready();
    const [nodes, groups] = await Promise.all([this.d.store.listNodes(), this.d.store.listGroups()]);
    const byName = new Map(groups.map((g) => [g.name, g]));
    return {
      serverTime: Date.now(),
      rows: nodes.map((n) => this.row(n, n.group ? byName.get(n.group) : undefined)),
      unknown: [...this.unknown.values()].reverse(),
    };
  }
}
