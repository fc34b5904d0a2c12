// scripts/check-cycles.mjs on small trees made here: it finds each cycle
// between folders whatever form the import takes, names an import per
// edge, proposes the fewest edges to cut, and passes a tree without one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempDir } from '../../helpers/tmp.js';

const REPO = new URL('../../../../', import.meta.url).pathname;
const SCRIPT = join(REPO, 'scripts', 'check-cycles.mjs');

function tree(root: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), text);
  }
}

function check(root: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [SCRIPT, root, ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface Component {
  layers: string[];
  cycles: string[][];
  remove: Array<{ from: string; to: string; imports: Array<{ file: string; line: number; spec: string }> }>;
  order: string[];
}

// a -> b by a plain import, b -> c by `import type`, c -> a by `export ... from`: one cycle.
// e <-> f by import() and a multi-line import; d and top.ts import into the cycle but are not on it.
const CYCLIC = {
  'a/x.ts': "import { y } from '../b/y.js';\nexport const x = y + 1;\n",
  'a/x2.ts': "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n",
  'b/y.ts': "// a comment first\nimport type { Z } from '../c/z.js';\nexport const y: Z = 1;\n",
  'c/z.ts': "export type Z = number;\nexport { x } from '../a/x.js';\n",
  'c/inner.ts': "import { x } from './z.js';\nexport const i = x;\n",
  'd/w.ts': "import { x } from '../a/x.js';\nexport const w = x;\n",
  'top.ts': "import { w } from './d/w.js';\nexport const t = w;\n",
  'e/g.ts': "export async function g() {\n  return import('../f/h.js');\n}\n",
  'f/h.ts': 'import {\n  g,\n} from "../e/g.js";\nexport const h = g;\n',
};

test('check-cycles: every cycle with an import per edge, the cut to make, exit 1', (t) => {
  const root = tempDir(t, 'rb-cycles-');
  tree(root, CYCLIC);
  const r = check(root);
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.out, /^cycle among 3 layers: a, b, c$/m);
  assert.match(r.out, /^ {2}a -> b -> c -> a$/m);
  assert.match(r.out, /a -> b: a\/x\.ts:1 imports '\.\.\/b\/y\.js'/);
  assert.match(r.out, /b -> c: b\/y\.ts:2 imports '\.\.\/c\/z\.js'/, 'import type counts, at its own line');
  assert.match(r.out, /c -> a: c\/z\.ts:2 imports '\.\.\/a\/x\.js'/, 'export ... from counts');
  assert.match(r.out, /^cycle among 2 layers: e, f$/m);
  assert.match(r.out, /e -> f: e\/g\.ts:2 imports '\.\.\/f\/h\.js'/, 'import() counts');
  assert.doesNotMatch(r.out, /cycle among.*\b(d|top\.ts)\b/, 'layers that only import into a cycle are not on it');
  assert.match(r.out, /2 cyclic group\(s\); 2 edges to remove$/m);
});

test('check-cycles --json: the components, the fewest edges to cut and the order they leave', (t) => {
  const root = tempDir(t, 'rb-cycles-');
  // a <-> b twice over (two files each way) and b <-> c once: cutting b -> a and c -> b would be two edges, cutting a -> b and b -> c too;
  // a -> b has the most imports, so the cut keeps it.
  tree(root, {
    'a/1.ts': "import '../b/1.js';\n",
    'a/2.ts': "import '../b/2.js';\n",
    'a/3.ts': "import '../b/1.js';\n",
    'b/1.ts': "import '../a/1.js';\nimport '../c/1.js';\n",
    'b/2.ts': "import '../c/1.js';\n",
    'c/1.ts': "import '../b/2.js';\n",
  });
  const r = check(root, '--json');
  assert.equal(r.code, 1, r.err);
  const { components } = JSON.parse(r.out) as { components: Component[] };
  assert.equal(components.length, 1);
  const c = components[0]!;
  assert.deepEqual(c.layers, ['a', 'b', 'c']);
  assert.deepEqual(c.remove.map((e) => `${e.from}->${e.to}`).sort(), ['b->a', 'c->b']);
  assert.deepEqual(c.order, ['c', 'b', 'a'], 'lowest first: each layer imports only layers below it');
  assert.deepEqual(c.remove.find((e) => e.from === 'c')!.imports, [{ file: 'c/1.ts', line: 1, spec: '../b/2.js' }]);
});

test('check-cycles: a layered tree passes, exit 0', (t) => {
  const root = tempDir(t, 'rb-cycles-');
  tree(root, {
    'a/x.ts': "import { y } from '../b/y.js';\nimport { z } from '../c/z.js';\nexport const x = y + z;\n",
    'b/y.ts': "import type { Z } from '../c/z.js';\nimport { log } from '../log.js';\nexport const y: Z = log;\n",
    'c/z.ts': "export type Z = number;\nexport const z = 1;\n",
    'log.ts': 'export const log = 0;\n',
  });
  const r = check(root);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /^check-cycles: 4 layers under .*, 4 edges between them, no cycle$/m);
});
