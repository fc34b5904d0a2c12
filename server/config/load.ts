// The generic part of reading a config file: YAML -> ${ENV} substitution ->
// section defaults -> schema, every problem collected with its key path. What
// the file holds (the schema, the defaults) and the checks that follow are
// the wiring's (main/config.ts): this layer knows no subsystem.
import { readFileSync } from 'node:fs';
import type { TSchema } from '@sinclair/typebox';
import YAML from 'yaml';
import { ConfigError, type ConfigIssue } from './errors.js';
import type { Config } from './loaded.js';
import { FailedParts } from './parts.js';
import { schemaIssues } from './validate-schema.js';

const ENV_REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replace ${VAR} and ${VAR:-default} in every string; $${ is a literal ${. */
export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv = process.env): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (m, name: string | undefined, def: string | undefined) =>
      m === '$${' ? '${' : (env[name!] ?? def ?? ''),
    );
  }
  if (Array.isArray(value)) return value.map((v) => substituteEnv(v, env));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env)]));
  }
  return value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseConfigText(text: string, file: string | null): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '', message: e.message.split('\n')[0]! })),
    );
  }
  return doc.toJS() ?? {};
}

/** A config file's parsed YAML; a file that cannot be read is a ConfigError. */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(e as Error).message}` }]);
  }
  return parseConfigText(text, file);
}

/** What a config file may hold. */
export interface ConfigShape {
  schema: TSchema;
  /** Top-level keys that are not sections, filled in when missing. */
  topDefaults: Readonly<Record<string, unknown>>;
  /** Section defaults, merged shallowly under what the file gives. */
  sectionDefaults: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

function withDefaults(raw: Record<string, unknown>, shape: ConfigShape): Record<string, unknown> {
  const out: Record<string, unknown> = { ...shape.topDefaults, ...raw };
  for (const [k, def] of Object.entries(shape.sectionDefaults)) {
    const given = raw[k];
    if (given === undefined || given === null) out[k] = { ...def };
    else if (isPlainObject(given)) out[k] = { ...def, ...given };
  }
  return out;
}

/**
 * Raw config data with ${ENV} substituted and defaults filled in, against
 * the schema: the schema's issues, which parts failed, and the config the
 * semantic checks see (see FailedParts.view). Throws only when the data is
 * not a mapping at all.
 */
export function validateConfig(
  raw: unknown,
  file: string | null,
  env: NodeJS.ProcessEnv,
  shape: ConfigShape,
): { config: Config; failed: FailedParts; issues: ConfigIssue[] } {
  if (!isPlainObject(raw)) throw new ConfigError(file, [{ path: '', message: 'the config must be a mapping of keys' }]);
  const data = withDefaults(substituteEnv(raw, env) as Record<string, unknown>, shape);
  const issues = schemaIssues(shape.schema, data);
  const failed = new FailedParts(issues, data, { ...shape.topDefaults, ...shape.sectionDefaults });
  return { config: failed.view(), failed, issues };
}
