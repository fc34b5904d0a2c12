// The line each bench ends its report with. Figures on the shared 2-core
// machines move with what else runs, so the line names the core count and
// the load at the start and the end of the run; `npm run bench:smoke`
// (scripts/bench-smoke.mjs) checks every bench printed it.
import { availableParallelism, loadavg } from 'node:os';

/** The 1-minute load average when the bench started (this module loads with it). */
const loadAtStart = loadavg()[0]!;

/** "2 cores, load 3.1 at the start, 2.4 at the end" (1-minute load averages). */
export function machine(): string {
  return `${availableParallelism()} cores, load ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end`;
}

/** Print `bench/NAME result: SUMMARY; MACHINE`: the bench's figures and ratio in one line. */
export function printResult(bench: string, summary: string): void {
  console.log(`bench/${bench} result: ${summary}; ${machine()}`);
}
