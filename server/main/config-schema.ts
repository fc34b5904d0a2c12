// The whole config file, assembled where the subsystems are wired: one
// closed schema per section, each owned by its folder (config/sections.ts
// for the few no subsystem owns). Defaults are merged per section before
// validation, so the validated Config has every field. Config itself
// (config/loaded.ts) is declared section by section by the same owners; the
// check at the end keeps the two in step.
import { Type, type Static } from '@sinclair/typebox';
import type { Config } from '../config/loaded.js';
import { NetworkSchema } from '../config/networks.js';
import { CORE_DEFAULTS, CORE_SECTIONS, Vars } from '../config/sections.js';
import { Name, Section, StringEnum } from '../config/types.js';
import { DhcpConfigSchema, DHCP_DEFAULTS } from '../dhcp/config.js';
import { TftpConfigSchema, TFTP_DEFAULTS } from '../tftp/config.js';
import { TemplatesConfigSchema, TEMPLATES_DEFAULTS } from '../render/config.js';
import { ImagesConfigSchema, IMAGES_DEFAULTS } from '../images/config.js';
import { NfsConfigSchema, NFS_DEFAULTS } from '../nfs/config.js';
import { DirectorConfigSchema, DIRECTOR_DEFAULTS } from '../director/config.js';
import { PairConfigSchema, PAIR_DEFAULTS } from '../pair/config.js';
import { UiConfigSchema, UI_DEFAULTS } from '../ui/config.js';
import { PowerConfigSchema, POWER_DEFAULTS } from '../power/config.js';
import { BmcSchema } from '../store/bmc.js';
import { LOADERS } from '../store/types.js';
import { LOG_FORMATS, LOG_LEVELS } from '../log.js';

export const LoaderSchema = StringEnum(LOADERS);

const SeedInterface = Section({
  name: Type.String({ minLength: 1, maxLength: 15 }),
  mac: Type.String(),
  network: Name,
  ipv4: Type.Optional(Type.String()),
});

export const SeedNodeSchema = Section({
  name: Name,
  group: Type.Optional(Name),
  image: Type.Optional(Name),
  loader: Type.Optional(LoaderSchema),
  vars: Type.Optional(Vars),
  interfaces: Type.Array(SeedInterface, { minItems: 1 }),
  bmc: Type.Optional(BmcSchema),
});

export const SeedGroupSchema = Section({
  name: Name,
  loader: Type.Optional(LoaderSchema),
  image: Type.Optional(Name),
  vars: Type.Optional(Vars),
  bmc: Type.Optional(BmcSchema),
});

const LogSection = Section({
  level: StringEnum(LOG_LEVELS),
  /** auto: one readable line per record on a terminal, JSON lines otherwise; pretty or json: always that. */
  format: StringEnum(LOG_FORMATS),
});

declare module '../config/loaded.js' {
  interface Config {
    log: Static<typeof LogSection>;
    /** Seed data: created on start when missing, never overwriting registry changes. */
    groups: Array<Static<typeof SeedGroupSchema>>;
    nodes: Array<Static<typeof SeedNodeSchema>>;
  }
}

export const ConfigSchema = Section({
  cluster: CORE_SECTIONS.cluster,
  dataDir: CORE_SECTIONS.dataDir,
  server: CORE_SECTIONS.server,
  store: CORE_SECTIONS.store,
  api: CORE_SECTIONS.api,
  log: LogSection,
  events: CORE_SECTIONS.events,
  networks: Type.Array(NetworkSchema),
  dhcp: DhcpConfigSchema,
  tftp: TftpConfigSchema,
  templates: TemplatesConfigSchema,
  images: ImagesConfigSchema,
  nfs: NfsConfigSchema,
  director: DirectorConfigSchema,
  /** Two disk nodes, the second taking over when the first dies (keepalived VRRP, PostgreSQL replication). */
  pair: PairConfigSchema,
  ui: UiConfigSchema,
  power: PowerConfigSchema,
  /** Seed data: created on start when missing, never overwriting registry changes. */
  groups: Type.Array(SeedGroupSchema),
  nodes: Type.Array(SeedNodeSchema),
});

/** Section defaults, merged shallowly under what the file gives. */
export const SECTION_DEFAULTS = {
  ...CORE_DEFAULTS,
  log: { level: 'info', format: 'auto' },
  dhcp: DHCP_DEFAULTS,
  tftp: TFTP_DEFAULTS,
  templates: TEMPLATES_DEFAULTS,
  images: IMAGES_DEFAULTS,
  nfs: NFS_DEFAULTS,
  director: DIRECTOR_DEFAULTS,
  pair: PAIR_DEFAULTS,
  ui: UI_DEFAULTS,
  power: POWER_DEFAULTS,
} as const;

export const TOP_DEFAULTS = {
  dataDir: './var',
  networks: [] as unknown[],
  groups: [] as unknown[],
  nodes: [] as unknown[],
};

// The schema validates exactly the declared Config: a section added to one
// and not the other, or typed differently, fails here at compile time.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const inStep: Same<Static<typeof ConfigSchema>, Config> = true;
void inStep;
