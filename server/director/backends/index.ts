// Choosing the backend named by director.backend.
import { join } from 'node:path';
import type { LoadedConfig } from '../../config/loaded.js';
import type { Logger } from '../../log.js';
import type { CommandRunner } from '../exec.js';
import type { ResolvedDirector } from '../model.js';
import { IpvsBackend } from './ipvs.js';
import { KeepalivedBackend } from './keepalived.js';
import { NftablesBackend } from './nftables.js';
import type { DirectorBackend } from './types.js';

export function directorStateDir(cfg: LoadedConfig): string {
  return join(cfg.paths.dataDir, 'director');
}

export function createBackend(d: ResolvedDirector, cfg: LoadedConfig, runner: CommandRunner, log: Logger): DirectorBackend {
  const stateDir = directorStateDir(cfg);
  switch (d.backend) {
    case 'nftables':
      return new NftablesBackend(runner, stateDir, log);
    case 'ipvs':
      return new IpvsBackend(runner, log);
    case 'keepalived': {
      const k = cfg.config.director.keepalived;
      const mode = k.mode ?? 'managed';
      return new KeepalivedBackend(
        runner,
        {
          mode,
          command: k.command ?? 'keepalived',
          configFile: k.config ?? join(stateDir, 'keepalived.conf'),
          pidFile: k.pidFile ?? (mode === 'external' ? '/run/keepalived.pid' : join(stateDir, 'keepalived.pid')),
          routerId: `rackboot_${cfg.config.cluster.name}`.replace(/[^A-Za-z0-9_.-]/g, '_'),
        },
        new Map(d.services.map((s) => [s.name, s.check])),
        log,
      );
    }
  }
}
