// The engine: strict variables with precise errors, operator overrides file by
// file (partials too), changes picked up without a restart, compiled once.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TemplateEngine } from '../../../server/render/engine.js';
import { TemplateError } from '../../../server/render/errors.js';
import { suiteTempDir } from '../../helpers/tmp.js';

const root = suiteTempDir('rackboot-engine-');
let shipped: string;
let ops: string;
const scope = { node: { name: 'blade3', vars: { port: 80, empty: '' } }, iface: { address: '10.0.0.13' } };

function write(dir: string, name: string, text: string, mtime?: number): void {
  mkdirSync(join(dir, name, '..'), { recursive: true });
  writeFileSync(join(dir, name), text);
  if (mtime !== undefined) utimesSync(join(dir, name), mtime, mtime);
}

function renderError(engine: TemplateEngine, name: string, node = 'blade3'): TemplateError {
  try {
    engine.render(name, scope, node);
  } catch (e) {
    assert.ok(e instanceof TemplateError, `expected a TemplateError, got ${String(e)}`);
    return e;
  }
  assert.fail(`${name} rendered without an error`);
}

before(() => {
  shipped = join(root, 'shipped');
  ops = join(root, 'ops');
  mkdirSync(shipped);
  mkdirSync(ops);
});

test('a missing variable names file, line, the whole path and the node', () => {
  write(shipped, 'pxelinux.cfg.hbs', 'DEFAULT x\n# two\n\n\n\n\n  APPEND root={{node.vars.webroot}} port={{node.vars.port}}\n');
  const e = renderError(new TemplateEngine(null, shipped), 'pxelinux.cfg.hbs');
  assert.equal(e.message, 'pxelinux.cfg.hbs:7: node.vars.webroot is not defined for node blade3');
  assert.equal(e.line, 7);
  assert.equal(e.variable, 'node.vars.webroot');
  assert.equal(e.template, 'pxelinux.cfg.hbs');
});

test('inside a block the path is named as written; a missing parent object too', () => {
  write(shipped, 'with.hbs', '{{#with node}}\nline2\n  {{vars.zz}}{{/with}}');
  assert.equal(renderError(new TemplateEngine(null, shipped), 'with.hbs').message, 'with.hbs:3: vars.zz is not defined for node blade3');
  write(shipped, 'deep.hbs', 'a {{node.nope.deep}}');
  assert.equal(renderError(new TemplateEngine(null, shipped), 'deep.hbs').message, 'deep.hbs:1: node.nope.deep is not defined for node blade3');
});

test('a missing variable given to a helper is named too, never an empty string', () => {
  write(shipped, 'helper.hbs', 'one\ntwo {{hexip iface.address}} {{hexip node.vars.gateway}}\n');
  assert.equal(renderError(new TemplateEngine(null, shipped), 'helper.hbs').message, 'helper.hbs:2: node.vars.gateway is not defined (in hexip) for node blade3');
  write(shipped, 'sub.hbs', '\n\n{{#if (eq (hexip node.vars.gw) "x")}}y{{/if}}');
  assert.equal(renderError(new TemplateEngine(null, shipped), 'sub.hbs').message, 'sub.hbs:3: node.vars.gw is not defined (in hexip) for node blade3');
  write(shipped, 'badval.hbs', 'x\n{{pxemac iface.address}}');
  assert.equal(renderError(new TemplateEngine(null, shipped), 'badval.hbs').message, "badval.hbs:2: pxemac: '10.0.0.13' is not a MAC address for node blade3");
});

test('optional variables: #if, get and default do not throw', () => {
  write(shipped, 'opt.hbs', '{{#if node.vars.webroot}}w{{else}}none{{/if}} {{get node "vars.x" "dflt"}} {{default node.vars.nope node.vars.empty "d2"}} {{get node "vars.port"}}');
  assert.equal(new TemplateEngine(null, shipped).render('opt.hbs', scope).body, 'none dflt d2 80');
  // A helper argument through a missing object is still an error naming the path.
  write(shipped, 'through.hbs', 'x\n{{#if node.nope.deep}}y{{/if}}');
  assert.equal(renderError(new TemplateEngine(null, shipped), 'through.hbs').message, 'through.hbs:2: node.nope.deep is not defined (node.nope is undefined) for node blade3');
});

test('errors in partials name the partial file and line; unknown partials and helpers are named', () => {
  write(shipped, 'partials/inner.hbs', 'fine\n{{node.vars.missing}}\n');
  write(shipped, 'outer.hbs', 'head\n{{> inner}}\n');
  assert.equal(renderError(new TemplateEngine(null, shipped), 'outer.hbs').message, 'partials/inner.hbs:2: node.vars.missing is not defined for node blade3');
  write(shipped, 'nopartial.hbs', 'a\n\n{{> nosuch}}\n');
  assert.equal(renderError(new TemplateEngine(null, shipped), 'nopartial.hbs').message, "nopartial.hbs:3: no partial named 'nosuch' (looked for partials/nosuch.hbs) for node blade3");
  write(shipped, 'nohelper.hbs', 'a {{frobnicate node.name}}');
  assert.equal(renderError(new TemplateEngine(null, shipped), 'nohelper.hbs').message, "nohelper.hbs:1: no helper named 'frobnicate' for node blade3");
});

test('syntax errors name the line', () => {
  write(shipped, 'broken.hbs', 'ok\n{{#if node}}\nx\n{{/fi}}\n');
  const e = renderError(new TemplateEngine(null, shipped), 'broken.hbs');
  assert.equal(e.line, 2, 'the line of the block that is not closed');
  assert.match(e.message, /^broken\.hbs:2: if doesn't match fi for node blade3$/);
  write(shipped, 'broken2.hbs', 'ok\nok\n{{node.name\n');
  assert.match(renderError(new TemplateEngine(null, shipped), 'broken2.hbs').message, /^broken2\.hbs:3: syntax error: /);
  assert.match(renderError(new TemplateEngine(null, shipped), 'nosuch.hbs').message, /^nosuch\.hbs: no template nosuch\.hbs in /);
});

test('the operator directory overrides file by file, partials too; removing the override restores the shipped one', () => {
  write(shipped, 'a.hbs', 'shipped a {{> p}}');
  write(shipped, 'b.hbs', 'shipped b {{> p}}');
  write(shipped, 'partials/p.hbs', 'shipped-p');
  const engine = new TemplateEngine(ops, shipped);
  assert.equal(engine.render('a.hbs', scope).body, 'shipped a shipped-p');
  write(ops, 'a.hbs', 'operator a {{> p}}');
  const r = engine.render('a.hbs', scope);
  assert.equal(r.body, 'operator a shipped-p');
  assert.equal(r.template.origin, 'operator');
  assert.equal(r.template.file, join(ops, 'a.hbs'));
  write(ops, 'partials/p.hbs', 'operator-p');
  assert.equal(engine.render('b.hbs', scope).body, 'shipped b operator-p');
  assert.deepEqual(
    engine.list().filter((t) => ['a.hbs', 'b.hbs', 'partials/p.hbs'].includes(t.name)).map((t) => `${t.name}:${t.origin}`),
    ['a.hbs:operator', 'b.hbs:shipped', 'partials/p.hbs:operator'],
  );
  rmSync(join(ops, 'a.hbs'));
  rmSync(join(ops, 'partials', 'p.hbs'));
  assert.equal(engine.render('a.hbs', scope).body, 'shipped a shipped-p');
});

test('a changed file is picked up on the next render without a restart; unchanged files compile once', () => {
  const engine = new TemplateEngine(ops, shipped);
  write(ops, 'live.hbs', 'v1 {{node.name}}', 1_700_000_000);
  assert.equal(engine.render('live.hbs', scope).body, 'v1 blade3');
  const compiles = engine.compiles;
  for (let i = 0; i < 50; i++) engine.render('live.hbs', scope);
  assert.equal(engine.compiles, compiles, 'cached: no recompiles while the file is unchanged');
  // Same size, different mtime: an editor saving a one-character change.
  write(ops, 'live.hbs', 'v2 {{node.name}}', 1_700_000_100);
  assert.equal(engine.render('live.hbs', scope).body, 'v2 blade3');
  assert.equal(engine.compiles, compiles + 1);
  // A broken edit is reported, and fixing it recovers.
  write(ops, 'live.hbs', 'v3 {{node.vars.nope}}', 1_700_000_200);
  assert.equal(renderError(engine, 'live.hbs').message, 'live.hbs:1: node.vars.nope is not defined for node blade3');
  write(ops, 'live.hbs', 'v4 {{node.name}}', 1_700_000_300);
  assert.equal(engine.render('live.hbs', scope).body, 'v4 blade3');
});

test('template names cannot leave the template directories', () => {
  const engine = new TemplateEngine(ops, shipped);
  for (const bad of ['../etc/passwd', '/etc/passwd', 'a/../../b.hbs', 'x.txt']) {
    assert.throws(() => engine.render(bad, scope), /not a template name/, bad);
  }
});
