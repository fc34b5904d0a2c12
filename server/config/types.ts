// Small schema helpers shared by every config section.
import { Type, type TSchema, type TObject, type TProperties, type ObjectOptions } from '@sinclair/typebox';

/** A closed object: an unknown key is an error that names it. */
export function Section<T extends TProperties>(props: T, opts: ObjectOptions = {}): TObject<T> {
  return Type.Object(props, { additionalProperties: false, ...opts });
}

/** Durations as "2s", "500ms", "10m", "1h", "7d" or a number of seconds. */
export const Duration = Type.Union([Type.String({ pattern: '^\\d+(\\.\\d+)?(ms|s|m|h|d)$' }), Type.Number({ minimum: 0 })], {
  description: 'duration: "500ms", "2s", "10m", "1h", "7d" or seconds as a number',
});

export function parseDuration(v: string | number): number {
  if (typeof v === 'number') return v * 1000;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(v);
  if (!m) throw new Error(`bad duration '${v}'`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

export const Name = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$', description: 'a name: letters, digits, _ . -' });

export const Port = Type.Integer({ minimum: 0, maximum: 65535 });

/** "host:port" */
export const Listen = Type.String({ pattern: '^(\\[[0-9a-fA-F:]+\\]|[^:\\s]+):\\d{1,5}$', description: 'host:port' });

export function Opt<T extends TSchema>(t: T) {
  return Type.Optional(t);
}

/** A string from a fixed list, as a JSON-schema enum (clearer errors than a union of literals). */
export function StringEnum<const T extends readonly string[]>(values: T, opts: { description?: string; default?: T[number] } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...opts });
}
