#!/usr/bin/env node
// A lab run interrupted in the middle of a step, driven by signal.test.ts.
// It builds the namespaces, registers a slow stop (like rackboot's), and runs
// a step that fails the moment cleanup begins (as waitReady does when the
// signal handler stops rackboot); then it closes and exits the way cli.ts and
// bench/boot do. Prints "ready <json>" once built, "stopped" when the slow
// stop has finished.
import { exitWhenClean, LabRun } from './run.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const run = new LabRun({ blades: 1 });
  run.build();
  let serverUp = true;
  run.onClose('slow server', async () => {
    serverUp = false;
    await sleep(800);
    console.log('stopped');
  });
  console.log(`ready ${JSON.stringify({ namespaces: run.topo.namespaces, workDir: run.workDir, id: run.topo.id })}`);
  try {
    // The step in flight: polls the server (as waitReady does) and fails once it is gone.
    while (serverUp) await sleep(50);
    throw new Error('the server went away');
  } finally {
    await run.close();
  }
}

main().then(
  () => exitWhenClean(0),
  () => exitWhenClean(1),
);
