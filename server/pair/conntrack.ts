// conntrackd as the pair's connection-state sync (pair.conntrack.enabled).
// Both nodes run it; the backup writes what the master sends straight into
// its kernel table (see conntrackd-conf.ts). At a change of role:
//   master: resync the internal cache from the kernel (-R; the entries the
//           peer sent are now this node's own connections) and send it all
//           to the peer (-B), which comes back as the backup;
//   backup: ask the master for its whole table (-n).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { CommandRunner } from '../director/exec.js';
import type { Ipv4 } from '../net/ipv4.js';
import { conntrackdPaths, renderConntrackd } from './conntrackd-conf.js';
import { Daemon } from './daemon.js';
import type { ResolvedPair } from './model.js';

export class ConntrackSync {
  readonly config: string;
  private readonly daemon: Daemon;
  private readonly dir: string;

  constructor(
    private readonly pair: ResolvedPair,
    private readonly own: Ipv4,
    /** Addresses whose connections end on a node (its own, the peer's, the service addresses). */
    private readonly ignore: Ipv4[],
    private readonly udp: boolean,
    private readonly runner: CommandRunner,
    private readonly log: Logger,
  ) {
    this.dir = join(pair.stateDir, 'conntrackd');
    this.config = join(this.dir, 'conntrackd.conf');
    this.daemon = new Daemon({
      name: 'conntrackd',
      argv: [pair.conntrack.command, '-C', this.config],
      pidFiles: [],
      log,
      interesting: /ERROR|WARNING|initialization completed/i,
    });
  }

  render(): string {
    const c = this.pair.conntrack;
    return renderConntrackd({ interface: c.interface!, own: this.own, peer: c.peer!, port: c.port, dir: this.dir, ignore: this.ignore, udp: this.udp });
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(this.config, this.render());
    // A lock file left by a killed conntrackd stops the next one from starting.
    const { lock } = conntrackdPaths(this.dir);
    await this.runner.run('rm', ['-f', lock]);
    await this.daemon.start();
  }

  private async ctl(args: string[], what: string): Promise<void> {
    const r = await this.runner.run(this.pair.conntrack.command, ['-C', this.config, ...args]);
    if (r.code !== 0) this.log.warn(`pair: conntrackd ${args.join(' ')} (${what}) failed: ${(r.stderr || r.stdout).trim()}`);
  }

  async becameMaster(): Promise<void> {
    await this.ctl(['-R'], 'take the kernel table as this node\'s own');
    await this.ctl(['-B'], 'send it to the peer');
  }

  async becameBackup(): Promise<void> {
    await this.ctl(['-n'], 'ask the master for its table');
  }

  /** Connections known: [this node's own, in the kernel table]. */
  async stats(): Promise<{ internal: number; kernel: number } | undefined> {
    const r = await this.runner.run(this.pair.conntrack.command, ['-C', this.config, '-s']);
    if (r.code !== 0) return undefined;
    const internal = /cache internal:\s*current active connections:\s*(\d+)/.exec(r.stdout);
    const k = await this.runner.run('conntrack', ['-C']);
    return { internal: internal ? Number(internal[1]) : 0, kernel: k.code === 0 ? Number(k.stdout.trim()) || 0 : 0 };
  }

  get error(): string | undefined {
    return this.daemon.error;
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
  }
}
