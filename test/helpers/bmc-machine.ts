#!/usr/bin/env node
// ipmi_sim's chassis_control program (lan.conf: chassis_control "node
// bmc-machine.js DIR"): ipmi_sim runs it as `... DIR get power boot` or
// `... DIR set power 1 boot pxe` and reads "power:1" lines back. OpenIPMI
// answers Set System Boot Options only through such a program, and when one
// is configured it also does power on/off/reset through it (lanserv's
// bmc_chassis.c), so the program starts and stops the machine itself (the
// Machine of machine.ts: a QEMU VM in the lab).
import { Machine } from './machine.js';

async function main(argv: string[]): Promise<number> {
  const [dir, op, ...rest] = argv;
  if (!dir || !op) {
    console.log('usage: bmc-machine DIR get|set|check PARAM [VALUE] ...');
    return 1;
  }
  const m = new Machine(dir);
  if (op === 'check') return 1; // ipmi_sim's "check" is not supported for chassis control
  if (op === 'get') {
    for (const p of rest) {
      if (p === 'power') console.log(`power:${m.on ? 1 : 0}`);
      else if (p === 'boot') console.log(`boot:${m.boot}`);
      else {
        console.log(`Invalid parameter: ${p}`);
        return 1;
      }
    }
    return 0;
  }
  if (op !== 'set') {
    console.log(`Unknown operation: ${op}`);
    return 1;
  }
  for (let i = 0; i < rest.length; i += 2) {
    const p = rest[i]!;
    const v = rest[i + 1] ?? '';
    if (p === 'power') {
      if (v === '1') m.start();
      else await m.stop();
    } else if (p === 'reset') await m.reset();
    else if (p === 'boot') m.boot = v;
    else if (p === 'shutdown') await m.soft();
    else if (p === 'identify') continue; // "interval force", one quoted value: nothing to light here
    else {
      console.log(`Invalid parameter: ${p}`);
      return 1;
    }
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.log(`bmc-machine: ${(e as Error).message}`);
    process.exit(1);
  },
);
