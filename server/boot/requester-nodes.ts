// Which registered node a boot request (HTTP or TFTP) comes from, by its
// source address. Asked on every HTTP request (a machine gets only its own
// node's files) and every TFTP transfer (whose timeline it goes on); a
// blade asks for a script, a kernel and a RAM disk from the same address:
// the answer is kept until the registry changes, instead of SQLite reads per
// request. Profiled in bench/httpboot K50: 9% of the main thread's time per
// request.
import type { LoadedConfig } from '../config/loaded.js';
import { networkOf } from '../config/networks.js';
import { parseIpv4 } from '../net/ipv4.js';
import type { Registry } from '../store/registry.js';
import type { Store } from '../store/types.js';

/** Addresses remembered at most; beyond, the cache starts again (a scan of many addresses cannot grow it). */
const MAX_ENTRIES = 8192;

export class RequesterNodes {
  private readonly known = new Map<string, string | null>();
  /** Bumped by every registry change: a lookup that started before one does not store its answer. */
  private generation = 0;
  private readonly forget = () => {
    this.generation++;
    this.known.clear();
  };

  constructor(
    private readonly cfg: LoadedConfig,
    private readonly store: Store,
    private readonly registry: Registry | undefined,
  ) {
    // Without change events (no registry given) nothing is cached: every request asks the store.
    registry?.on('change', this.forget);
    registry?.on('resync', this.forget);
  }

  /** The node registered with this address (not leases: a registered machine's own files only). */
  async of(address: string): Promise<string | undefined> {
    const hit = this.known.get(address);
    if (hit !== undefined) return hit ?? undefined;
    const gen = this.generation;
    const ip = parseIpv4(address);
    const net = ip === undefined ? undefined : networkOf(this.cfg.networks, ip);
    const node = net ? ((await this.store.findByAddress(net.name, address))?.node.name ?? null) : null;
    if (this.registry && gen === this.generation) {
      if (this.known.size >= MAX_ENTRIES) this.known.clear();
      this.known.set(address, node);
    }
    return node ?? undefined;
  }

  close(): void {
    this.registry?.off('change', this.forget);
    this.registry?.off('resync', this.forget);
  }
}
