// keepalived as the pair's VRRP engine: rackboot writes its config (checked
// with `keepalived -t` first), runs it as a VRRP-only child (-P), and learns
// from its notify FIFO which state this node holds. With a sync group the
// group's state is the node's; with one instance, that instance's.
import { EventEmitter } from 'node:events';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { CommandRunner } from '../director/exec.js';
import type { Ipv4 } from '../net/ipv4.js';
import { Daemon } from './daemon.js';
import { FifoReader } from './fifo.js';
import type { ResolvedPair } from './model.js';
import { parseNotice, PRIMARY_BONUS, renderVrrp, type VrrpState } from './vrrp-conf.js';

export interface VrrpPaths {
  config: string;
  fifo: string;
  pid: string;
  vrrpPid: string;
  primary: string;
}

export const vrrpPaths = (dir: string): VrrpPaths => ({
  config: join(dir, 'keepalived.conf'),
  fifo: join(dir, 'vrrp.fifo'),
  pid: join(dir, 'keepalived.pid'),
  vrrpPid: join(dir, 'keepalived-vrrp.pid'),
  primary: join(dir, 'vrrp-primary'),
});

export class Vrrp extends EventEmitter<{ state: [VrrpState] }> {
  readonly paths: VrrpPaths;
  state: VrrpState = 'init';
  /** When the state last changed (epoch ms). */
  since = Date.now();
  private readonly fifo: FifoReader;
  private daemon: Daemon | undefined;
  private readonly grouped: boolean;

  constructor(
    private readonly pair: ResolvedPair,
    private readonly own: ReadonlyMap<string, Ipv4>,
    private readonly runner: CommandRunner,
    private readonly log: Logger,
  ) {
    super();
    this.paths = vrrpPaths(pair.stateDir);
    this.fifo = new FifoReader(this.paths.fifo);
    this.grouped = pair.links.length > 1;
  }

  render(): string {
    return renderVrrp({ pair: this.pair, ownAddress: this.own, fifo: this.paths.fifo, primaryFile: this.paths.primary });
  }

  /** Write the config through a file `keepalived -t` accepted. */
  async writeConfig(): Promise<void> {
    mkdirSync(this.pair.stateDir, { recursive: true });
    const tmp = `${this.paths.config}.new`;
    writeFileSync(tmp, this.render());
    const r = await this.runner.run(this.pair.keepalivedCommand, ['-t', '-f', tmp]);
    if (r.code !== 0) throw new Error(`keepalived -t refused the pair's VRRP config ${tmp}: ${(r.stderr + r.stdout).trim().split('\n').slice(0, 6).join(' | ')}`);
    renameSync(tmp, this.paths.config);
  }

  async start(): Promise<void> {
    await this.writeConfig();
    if (!this.daemon) this.fifo.open((line) => this.onLine(line));
    this.daemon ??= new Daemon({
      name: 'keepalived',
      argv: [this.pair.keepalivedCommand, '-n', '-l', '-P', '-f', this.paths.config, '-p', this.paths.pid, '-r', this.paths.vrrpPid],
      pidFiles: [this.paths.vrrpPid, this.paths.pid],
      log: this.log,
      interesting: /Entering|Syncing|Stopping|Stopped|error|WARNING|Unable|fail/i,
      onExit: () => this.set('fault'),
    });
    await this.daemon.start();
  }

  /**
   * This node holds the primary database (true) or not: keepalived adds
   * PRIMARY_BONUS to its priority, so a second master that appears (a
   * returning node that missed the first adverts) yields to this one.
   */
  setPrimary(primary: boolean): void {
    const want = primary ? String(PRIMARY_BONUS) : '0';
    const tmp = `${this.paths.primary}.new`;
    writeFileSync(tmp, `${want}\n`);
    renameSync(tmp, this.paths.primary);
  }

  private onLine(line: string): void {
    const n = parseNotice(line);
    if (!n) return void this.log.debug(`pair: keepalived notify: ${line}`);
    if (this.grouped ? n.kind !== 'group' : n.kind !== 'instance') return;
    this.set(n.state);
  }

  private set(state: VrrpState): void {
    if (state === this.state) return;
    this.state = state;
    this.since = Date.now();
    this.emit('state', state);
  }

  get error(): string | undefined {
    return this.daemon?.error;
  }

  get pid(): number | undefined {
    return this.daemon?.pid;
  }

  /**
   * keepalived stops cleanly: removes the addresses and sends priority 0,
   * so the peer (if alive) takes over at once.
   */
  async stop(): Promise<void> {
    await this.daemon?.stop();
    this.set('stop');
  }

  close(): void {
    this.fifo.close();
  }
}
