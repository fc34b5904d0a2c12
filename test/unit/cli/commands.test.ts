// The CLI loads only the command group a command line names: each name in
// COMMANDS must bring its own command, and every command any group registers
// must be reachable by its name (else `rackboot NAME` would not find it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { COMMANDS, registersFor } from '../../../server/cli/commands/index.js';

const registered = async (argv: string[]) => {
  const program = new Command('rackboot');
  for (const register of await registersFor(argv)) register(program);
  return program.commands.map((c) => c.name());
};

test('each group name loads the module that registers that command', async () => {
  for (const name of Object.keys(COMMANDS)) {
    assert.ok((await registered([name, '--help'])).includes(name), `rackboot ${name}`);
  }
});

test('help and unknown names load every group; every registered command has an entry', async () => {
  const all = await registered(['--help']);
  assert.deepEqual([...all].sort(), Object.keys(COMMANDS).sort());
  assert.deepEqual(await registered(['no-such-command']), all);
  assert.deepEqual(await registered([]), all);
});

test('content sync registers only the content group (not serve, which loads the server)', async () => {
  assert.deepEqual(await registered(['content', 'sync', '/tmp/x', 'www']), ['content']);
});
