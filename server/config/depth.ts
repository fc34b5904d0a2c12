// How deeply a JSON value nests, measured without recursion: a body of
// arrays 5,000 deep must not overflow the stack of whatever reads it next
// (Ajv's error text, JSON.stringify in the store, the clients that GET it).
// Used by the API's body parser (a bound for any body) and as the JSON-schema
// keyword `maxDepth` (a tighter bound for template vars and event details).
import type { Ajv } from 'ajv';

/** Objects and arrays inside any API body. */
export const MAX_BODY_DEPTH = 64;
/** Objects and arrays in template variables and event details, the record itself counted. */
export const MAX_VARS_DEPTH = 32;

/**
 * Where `value` nests more than `max` containers deep: the keys leading
 * there (as a path below the value), or undefined when it does not.
 * A scalar has depth 0, `{}` and `[]` depth 1.
 */
export function deeperThan(value: unknown, max: number): string[] | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  // Depth-first with an explicit stack; each entry knows its path for the message.
  const stack: Array<{ v: object; depth: number; path: string[] }> = [{ v: value, depth: 1, path: [] }];
  while (stack.length) {
    const { v, depth, path } = stack.pop()!;
    if (depth > max) return path;
    const entries: Array<[string, unknown]> = Array.isArray(v) ? v.map((x, i) => [`[${i}]`, x]) : Object.entries(v);
    for (const [k, child] of entries) {
      if (child !== null && typeof child === 'object') stack.push({ v: child, depth: depth + 1, path: [...path, k] });
    }
  }
  return undefined;
}

/** A path from deeperThan as text below `base` ("vars.a[0].b"), cut short after a few steps. */
export function depthPath(base: string, path: string[], steps = 4): string {
  let out = base;
  for (const k of path.slice(0, steps)) out += k.startsWith('[') ? k : out ? `.${k}` : k;
  return path.length > steps ? `${out}...` : out;
}

/** The `maxDepth` schema keyword: an object or array nesting at most that many containers. */
export function addMaxDepthKeyword(ajv: Ajv): void {
  ajv.addKeyword({
    keyword: 'maxDepth',
    type: ['object', 'array'],
    schemaType: 'number',
    errors: true,
    validate: function check(max: number, data: unknown): boolean {
      const at = deeperThan(data, max);
      const self = check as unknown as { errors: Array<{ keyword: string; message: string; params: { limit: number } }> | null };
      if (!at) {
        self.errors = null;
        return true;
      }
      self.errors = [{ keyword: 'maxDepth', message: `nests deeper than ${max} levels (at ${depthPath('', at) || 'the top'})`, params: { limit: max } }];
      return false;
    },
  });
}
