// Options several command groups share: repeatable flags, KEY=VALUE
// variables, the fields `node set` and `group set` change, and --json output.
import type { Command } from 'commander';

/** Commander's collector for a repeatable option. */
export function collect(value: string, prev: string[]): string[] {
  return [...prev, value];
}

/** `--var KEY=VALUE` options as an object (the value stays a string). */
export function parseVars(list: readonly string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i < 1) throw new Error(`--var '${kv}': expected KEY=VALUE`);
    vars[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return vars;
}

/** What `--json` prints: the API's answer as it came, indented. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** The --json flag of a list command. */
export function jsonOption(cmd: Command): Command {
  return cmd.option('--json', "the API's JSON instead of a table");
}

/** The fields `set` changes on a node or a group: a string sets, false (`--no-x`) clears to inherit. */
export interface SetOptions {
  image?: string | false;
  loader?: string | false;
  var: string[];
  unsetVar: string[];
}

/** --image/--no-image, --loader/--no-loader, --var, --unset-var: shared by `node set` and `group set`. */
export function setOptions(cmd: Command, inheritFrom: string): Command {
  return cmd
    .option('--image <image>', 'image')
    .option('--no-image', `no image of its own (inherit from ${inheritFrom})`)
    .option('--loader <loader>', 'pxelinux | ipxe | grub | bpbatch')
    .option('--no-loader', `no loader of its own (inherit from ${inheritFrom})`)
    .option('--var <key=value>', 'set a template variable, keeping the others (repeatable)', collect, [])
    .option('--unset-var <key>', 'remove a template variable (repeatable)', collect, []);
}

/**
 * The PATCH body for the fields of SetOptions. Variables are merged into the
 * current ones (`current()` reads them): the API replaces `vars` whole, and
 * `--var rack=7` should not drop every other variable.
 */
export async function setPatch(o: SetOptions, current: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
  const patch: Record<string, unknown> = {};
  if (o.image !== undefined) patch.image = o.image === false ? null : o.image;
  if (o.loader !== undefined) patch.loader = o.loader === false ? null : o.loader;
  if (o.var.length || o.unsetVar.length) {
    const vars = { ...(await current()), ...parseVars(o.var) };
    for (const k of o.unsetVar) {
      if (!Object.hasOwn(vars, k)) throw new Error(`--unset-var '${k}': no variable '${k}' is set here`);
      delete vars[k];
    }
    patch.vars = vars;
  }
  return patch;
}

/** `k=v k2=v2` for a table cell ('-' when there are none). */
export function varsCell(vars: Record<string, unknown>): string {
  const kv = Object.entries(vars).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return kv.length ? kv.join(' ') : '-';
}
