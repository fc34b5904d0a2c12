// log.format and its env override: which format is in effect, what each
// writes, and the errors a bad override gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { ConfigError } from '../../server/config/errors.js';
import { resolveConfig } from '../../server/main/config.js';
import { createLogger, logEnvIssues, logSettings, prettyLine } from '../../server/log.js';

/** Records a logger writes to a stream, as lines. */
async function written(format: 'pretty' | 'json', write: (log: ReturnType<typeof createLogger>) => void): Promise<string[]> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (b: Buffer) => (text += b.toString()));
  const log = createLogger({ level: 'debug', format }, out);
  write(log);
  await new Promise((r) => setImmediate(r));
  return text.split('\n').filter(Boolean);
}

test('logSettings: auto is pretty on a terminal and JSON otherwise; the file and the env choose', () => {
  const section = { level: 'info', format: 'auto' } as const;
  assert.deepEqual(logSettings(section, {}, true), { level: 'info', format: 'pretty' });
  assert.deepEqual(logSettings(section, {}, false), { level: 'info', format: 'json' });
  assert.deepEqual(logSettings({ level: 'warn', format: 'pretty' }, {}, false), { level: 'warn', format: 'pretty' });
  assert.deepEqual(logSettings({ level: 'info', format: 'json' }, {}, true).format, 'json');
  // The env overrides the file; an empty variable is as unset.
  assert.deepEqual(logSettings({ level: 'info', format: 'json' }, { RACKBOOT_LOG_FORMAT: 'pretty', RACKBOOT_LOG: 'debug' }, false), { level: 'debug', format: 'pretty' });
  assert.deepEqual(logSettings(section, { RACKBOOT_LOG_FORMAT: 'json' }, true).format, 'json');
  assert.deepEqual(logSettings(section, { RACKBOOT_LOG_FORMAT: '', RACKBOOT_LOG: '' }, true), { level: 'info', format: 'pretty' });
});

test('a bad env override is named, with the values it takes and the key it overrides', () => {
  assert.deepEqual(logEnvIssues({ RACKBOOT_LOG_FORMAT: 'text', RACKBOOT_LOG: 'loud' }), [
    { path: 'env RACKBOOT_LOG', message: "'loud' is not one of fatal, error, warn, info, debug, trace (it overrides log.level)" },
    { path: 'env RACKBOOT_LOG_FORMAT', message: "'text' is not one of auto, pretty, json (it overrides log.format)" },
  ]);
  assert.deepEqual(logEnvIssues({ RACKBOOT_LOG_FORMAT: 'pretty', RACKBOOT_LOG: 'trace' }), []);
  assert.throws(
    () => logSettings({ level: 'info', format: 'auto' }, { RACKBOOT_LOG_FORMAT: 'xml' }, false),
    (e: unknown) => e instanceof ConfigError && /env RACKBOOT_LOG_FORMAT: 'xml' is not one of auto, pretty, json/.test(e.message),
  );
});

test('log.format in the file: the three values pass, anything else is named by its key', () => {
  assert.equal(resolveConfig({}, null, {}).config.log.format, 'auto');
  for (const f of ['auto', 'pretty', 'json']) assert.equal(resolveConfig({ log: { format: f } }, null, {}).config.log.format, f);
  assert.throws(
    () => resolveConfig({ log: { format: 'text' } }, null, {}),
    (e: unknown) => e instanceof ConfigError && e.issues.length === 1 && e.issues[0]!.path === 'log.format' && /auto.*pretty.*json/.test(e.issues[0]!.message),
  );
});

test('json: one JSON record a line with numeric levels; pretty: one line with the level word and the service', async () => {
  const err = new Error('disk full');
  const json = await written('json', (log) => {
    log.child({ svc: 'tftp' }).info({ file: 'pxelinux.0', bytes: 46000 }, 'sent');
    log.debug('quiet');
  });
  assert.equal(json.length, 2);
  const rec = JSON.parse(json[0]!) as Record<string, unknown>;
  assert.equal(rec.level, 30);
  assert.deepEqual([rec.svc, rec.msg, rec.file, rec.bytes], ['tftp', 'sent', 'pxelinux.0', 46000]);
  assert.match(String(rec.time), /^\d{4}-\d\d-\d\dT/);

  const pretty = await written('pretty', (log) => {
    log.child({ svc: 'dhcp' }).warn({ mac: '52:54:00:00:0a:01', reason: 'no free address', range: { from: 1 } }, 'declined');
    log.child({ svc: 'dhcp' }).info('dhcp: serving eth1');
    log.error({ err }, 'store failed');
    log.trace('below the level');
  });
  assert.match(pretty[0]!, /^\d\d:\d\d:\d\d\.\d{3} WARN {2}\[dhcp\] declined mac=52:54:00:00:0a:01 reason="no free address" range=\{"from":1\}$/);
  assert.match(pretty[1]!, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}dhcp: serving eth1$/, 'the service named once');
  assert.match(pretty[2]!, /^\d\d:\d\d:\d\d\.\d{3} ERROR store failed$/);
  assert.match(pretty[3]!, /^ {2}Error: disk full$/);
  assert.ok(pretty.slice(4).every((l) => /^\s+at /.test(l)), 'the rest is the stack');
  // A line that is not a record passes as it came.
  assert.equal(prettyLine('not json'), 'not json\n');
});
