// Every CLI command group, by the name it registers; a subsystem adds its
// group here. main.ts imports only the group a command line names (every
// group for help or a name it does not know): `serve` and `config` load the
// whole server (0.6-0.8 s on the 2-core machine), which a short command such
// as `content sync` or `node list` should not pay at every start.
import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: Record<string, () => Promise<RegisterCommand>> = {
  serve: async () => (await import('./serve.js')).registerServe,
  config: async () => (await import('./config.js')).registerConfig,
  node: async () => (await import('./node.js')).registerNode,
  group: async () => (await import('./group.js')).registerGroup,
  network: async () => (await import('./network.js')).registerNetwork,
  director: async () => (await import('./director.js')).registerDirector,
  image: async () => (await import('./image.js')).registerImage,
  export: async () => (await import('./nfs.js')).registerExport,
  content: async () => (await import('./nfs.js')).registerContent,
  // render.ts registers both `render` and `templates`.
  render: async () => (await import('./render.js')).registerRender,
  templates: async () => (await import('./render.js')).registerRender,
  import: async () => (await import('./import.js')).registerImport,
  lease: async () => (await import('./lease.js')).registerLease,
  power: async () => (await import('./power.js')).registerPower,
  store: async () => (await import('./store.js')).registerStore,
  pair: async () => (await import('./pair.js')).registerPair,
};

/** The register functions a command line needs: its group's, else every one (help, or a typo commander should answer). */
export async function registersFor(argv: string[]): Promise<RegisterCommand[]> {
  const first = argv.find((a) => !a.startsWith('-'));
  const names = first !== undefined && Object.hasOwn(COMMANDS, first) ? [first] : Object.keys(COMMANDS);
  // One module may register several groups (render.ts): register each function once.
  return [...new Set(await Promise.all(names.map((n) => COMMANDS[n]!())))];
}
