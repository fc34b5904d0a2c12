import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { importLvsCf, importToYaml } from '../../director/lvscf/convert.js';
import { BACKENDS, type BackendName } from '../../director/config.js';
import { parseConfigText } from '../../config/load.js';
import { resolveConfig } from '../../main/config.js';
import { ConfigError } from '../../config/errors.js';

export function registerImport(program: Command): void {
  const imp = program.command('import').description('turn other tools\' configuration into rackboot config');
  imp
    .command('lvs.cf <file>')
    .description("a piranha lvs.cf (Red Hat LVS) -> rackboot YAML (networks + director); lists what it could not carry over")
    .option('-o, --output <file>', 'write the YAML here instead of stdout')
    .option('-b, --backend <backend>', 'director backend for the result: ipvs (default, as piranha), keepalived or nftables')
    .action((file: string, o: { output?: string; backend?: string }) => {
      if (o.backend && !(BACKENDS as readonly string[]).includes(o.backend)) throw new Error(`--backend '${o.backend}': expected ${BACKENDS.join(', ')}`);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new Error(`cannot read ${file}: ${(e as Error).message}`);
      }
      const r = importLvsCf(text, { backend: o.backend as BackendName | undefined, source: file });
      if (r.errors.length) throw new Error(`${file}: ${r.errors.length} problem(s), nothing written:\n  ${r.errors.join('\n  ')}`);
      const yaml = importToYaml(r, file);
      // The result must load as a config by itself; a failure here is a bug in the importer, said plainly.
      try {
        // A pair needs an API token, which the user gives at run time (RACKBOOT_API_TOKEN).
        resolveConfig(parseConfigText(yaml, null), null, { RACKBOOT_API_TOKEN: 'given-at-run-time' });
      } catch (e) {
        if (e instanceof ConfigError) throw new Error(`the imported config does not validate (please report): ${e.message}`);
        throw e;
      }
      if (o.output) writeFileSync(o.output, yaml);
      else process.stdout.write(yaml);
      if (r.notes.length) process.stderr.write(`not carried over (${r.notes.length}):\n${r.notes.map((n) => `  - ${n}`).join('\n')}\n`);
      if (o.output) process.stderr.write(`wrote ${o.output}: ${(r.config.director as { services: unknown[] }).services.length} virtual service(s)\n`);
    });
}
