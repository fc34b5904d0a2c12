// JSON-schema validation of a config (or API body) with errors rewritten into
// one line per problem that names the key path, instead of ajv's raw output.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import { addMaxDepthKeyword } from './depth.js';
import { closest, pointerToPath, type ConfigIssue } from './errors.js';

const ajv = new Ajv({ allErrors: true, verbose: true, strict: false, useDefaults: false });
addMaxDepthKeyword(ajv);
const cache = new WeakMap<TSchema, ValidateFunction>();

/** Keys whose values an error message never shows (a BMC password inside a refused object). */
const SECRET_KEYS = new Set(['password']);
const HIDDEN = '(hidden)';

function show(v: unknown): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v, (k, x: unknown) => (SECRET_KEYS.has(k) ? HIDDEN : x));
  } catch {
    // Nested too deep for the stack (or a cycle): the message names the key path anyway.
    return Array.isArray(v) ? 'an array' : 'an object';
  }
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + '...' : s;
}

/** Whether a value of this schema may be, or hold, a write-only value (a BMC password). */
const holdsSecret = new WeakMap<object, boolean>();
function mayHoldSecret(schema: unknown): boolean {
  if (!schema || typeof schema !== 'object') return false;
  const known = holdsSecret.get(schema);
  if (known !== undefined) return known;
  holdsSecret.set(schema, false); // a recursive schema ends here
  const s = schema as { writeOnly?: boolean; properties?: Record<string, unknown>; anyOf?: unknown[]; oneOf?: unknown[]; items?: unknown };
  const found = !!s.writeOnly || Object.values(s.properties ?? {}).some(mayHoldSecret) || [...(s.anyOf ?? []), ...(s.oneOf ?? [])].some(mayHoldSecret) || mayHoldSecret(s.items);
  holdsSecret.set(schema, found);
  return found;
}

function describe(e: ErrorObject): string {
  const schema = e.parentSchema as { description?: string; enum?: unknown[]; writeOnly?: boolean } | undefined;
  // A value that is or may hold a password (a bmc given as a string, say) is named by its key path only.
  if (mayHoldSecret(schema) && e.keyword !== 'additionalProperties' && e.keyword !== 'required') return describeHidden(e, schema!);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys((e.parentSchema as { properties?: object })?.properties ?? {});
      const hint = closest(key, allowed);
      return `unknown key${hint ? ` (did you mean '${hint}'?)` : ''}; allowed: ${allowed.join(', ')}`;
    }
    case 'required':
      return 'is required';
    case 'enum':
      return `${show(e.data)} is not one of: ${(schema?.enum ?? []).join(', ')}`;
    case 'type':
      return `must be ${(e.params as { type: string }).type}, got ${show(e.data)}`;
    case 'pattern':
      return `${show(e.data)} is not ${schema?.description ?? `of the form ${(e.params as { pattern: string }).pattern}`}`;
    case 'anyOf':
      return `${show(e.data)} is not ${schema?.description ?? 'of an accepted form'}`;
    case 'minItems': {
      const n = (e.params as { limit: number }).limit;
      return Array.isArray(e.data) && e.data.length === 0 ? `must list at least ${n === 1 ? 'one item' : `${n} items`}` : `${show(e.data)}: must list at least ${n} items`;
    }
    case 'maxItems':
      return `${show(e.data)}: must list at most ${(e.params as { limit: number }).limit} items`;
    case 'minimum':
    case 'maximum':
    case 'minLength':
    case 'maxLength':
      return `${show(e.data)}: ${e.message}`;
    default:
      return e.message ?? e.keyword;
  }
}

function describeHidden(e: ErrorObject, schema: { description?: string; enum?: unknown[] }): string {
  const hidden = '(the value is not shown)';
  switch (e.keyword) {
    case 'type':
      return `must be ${(e.params as { type: string }).type} ${hidden}`;
    case 'enum':
      return `is not one of: ${(schema.enum ?? []).join(', ')} ${hidden}`;
    case 'pattern':
    case 'anyOf':
      return `is not ${schema.description ?? 'of an accepted form'} ${hidden}`;
    default:
      // Ajv's own words name the rule, never the value.
      return `${e.message ?? e.keyword} ${hidden}`;
  }
}

/** Validate; returns the problems found (empty when valid). */
export function schemaIssues(schema: TSchema, data: unknown, basePath = ''): ConfigIssue[] {
  let validate = cache.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    cache.set(schema, validate);
  }
  if (validate(data)) return [];
  return formatAjvErrors(validate.errors ?? [], basePath);
}

/** ajv errors -> one issue per problem, each naming its key path under basePath. */
export function formatAjvErrors(errors: ErrorObject[], basePath = ''): ConfigIssue[] {
  // A failed anyOf explains itself; drop the per-branch noise under the same path.
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (e.keyword !== 'anyOf' && anyOfPaths.has(e.instancePath)) continue;
    let pointer = e.instancePath;
    if (e.keyword === 'additionalProperties') pointer += '/' + (e.params as { additionalProperty: string }).additionalProperty;
    if (e.keyword === 'required') pointer += '/' + (e.params as { missingProperty: string }).missingProperty;
    let path = pointerToPath(pointer);
    if (basePath) path = path ? `${basePath}.${path}` : basePath;
    const message = describe(e);
    const key = path + '\0' + message;
    if (!seen.has(key)) (seen.add(key), issues.push({ path, message }));
  }
  return issues;
}
