// The command line of the QEMU lab benches (boot, ipv6wait): their
// options, checked with messages that name the flag, and one way to end
// (usage on a bad flag, the stack otherwise, after the labs' cleanup).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { exitWhenClean, signalCleanup } from '../../test/lab/run.js';

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with strict flags; an unknown or malformed flag is a UsageError. */
export function parseOptions<O extends Options>(options: O) {
  try {
    return parseArgs({ options, strict: true }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** `--runs` and the like: a whole number within bounds, or a UsageError naming the flag. */
export function wholeNumber(flag: string, value: string | undefined, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag} '${value}': a whole number from ${min} to ${max}`);
  return n;
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new UsageError('needs root (network namespaces, taps)');
}

/**
 * Runs a bench's main and exits: 2 with the usage after a UsageError, 1
 * with the stack after a failure. After Ctrl-C the step in flight fails as
 * soon as the labs' servers stop: the exit waits for the signal's cleanup.
 */
export function runLabBench(name: string, usage: string, main: () => Promise<void>): void {
  main().then(
    () => exitWhenClean(0),
    (e: unknown) => {
      if (e instanceof UsageError) {
        console.error(`bench/${name}: ${e.message}\n\n${usage}`);
        return exitWhenClean(2);
      }
      if (!signalCleanup()) console.error(`bench/${name}: ${(e as Error).stack ?? e}`);
      return exitWhenClean(1);
    },
  );
}
