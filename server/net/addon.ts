// The optional native addons (native/tftp-pump, built by `npm ci` with a C
// compiler): each is loaded once, on first use; when it was not built the
// caller gets undefined and the reason, and keeps its pure-Node path.
import { createRequire } from 'node:module';

export interface OptionalAddon<T> {
  /** The addon, or undefined when it was not built. */
  load(): T | undefined;
  /** Why it did not load ('' when it did). */
  unavailable(): string;
}

/** @param spec the module to require, e.g. 'rackboot-tftp-pump/icmp6.cjs' */
export function optionalAddon<T>(spec: string): OptionalAddon<T> {
  let addon: T | null | undefined;
  let error = '';
  const load = (): T | undefined => {
    if (addon === undefined) {
      try {
        addon = createRequire(import.meta.url)(spec) as T;
      } catch (e) {
        addon = null;
        error = (e as Error).message.split('\n')[0] ?? 'not built';
      }
    }
    return addon ?? undefined;
  };
  return {
    load,
    unavailable: () => (load(), error),
  };
}
