#!/usr/bin/env node
// Fails when the subsystem folders under server/ import each other in a
// cycle. A folder is the first path segment under server/ (dhcp, config,
// api, ...); a file directly in server/ is a layer of its own (log.ts).
// Every import counts: `import type`, `export ... from`, `import()`.
//
//   node scripts/check-cycles.mjs [DIR] [--json]
//
// Prints each cycle with one example import per edge, then the smallest
// set of folder edges whose removal leaves no cycle (fewest edges, then
// fewest importing files) and the layer order that results: the list to
// work through when untangling.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const SOURCE = /\.(m|c)?tsx?$/;

function listSources(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listSources(p));
    else if (SOURCE.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The layer of a file: its first folder under root, or the file's own name when it lies in root. */
export function layerOf(root, file) {
  const rel = relative(root, file);
  if (rel.startsWith('..')) return undefined;
  return rel.split(sep)[0];
}

/** The file a relative specifier names ('./x.js' is x.ts on disk), or undefined for a package. */
function resolveSpecifier(from, spec) {
  if (!spec.startsWith('.')) return undefined;
  return resolve(dirname(from), spec).replace(/\.(m|c)?js$/, (_m, k) => `.${k ?? ''}ts`);
}

/**
 * The graph between layers: Map from layer to Map from imported layer to
 * the list of imports making that edge ({ file, line, spec }).
 */
export function buildGraph(root) {
  const graph = new Map();
  const root_ = resolve(root);
  for (const file of listSources(root_)) {
    const from = layerOf(root_, file);
    if (!graph.has(from)) graph.set(from, new Map());
    const text = readFileSync(file, 'utf8');
    // preProcessFile sees every form: import, import type, export from, import(), require.
    const info = ts.preProcessFile(text, true, true);
    for (const ref of info.importedFiles) {
      const target = resolveSpecifier(file, ref.fileName);
      if (!target) continue;
      const to = layerOf(root_, target);
      if (to === undefined || to === from) continue;
      if (!graph.has(to)) graph.set(to, new Map());
      const edges = graph.get(from);
      if (!edges.has(to)) edges.set(to, []);
      const line = text.slice(0, ref.pos).split('\n').length;
      edges.get(to).push({ file: relative(process.cwd(), file), line, spec: ref.fileName });
    }
  }
  return graph;
}

/** Strongly connected components with more than one layer (Tarjan). */
export function cyclicComponents(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

/** The shortest path from a to b inside the component (breadth first), as a list of layers. */
function shortestPath(graph, members, a, b) {
  const prev = new Map([[a, null]]);
  const queue = [a];
  while (queue.length) {
    const v = queue.shift();
    if (v === b) break;
    for (const w of [...(graph.get(v)?.keys() ?? [])].sort()) {
      if (!members.has(w) || prev.has(w)) continue;
      prev.set(w, v);
      queue.push(w);
    }
  }
  if (!prev.has(b)) return undefined;
  const path = [];
  for (let v = b; v !== null; v = prev.get(v)) path.unshift(v);
  return path;
}

/**
 * The cycles to show: for every edge inside a component, the shortest
 * cycle through it, without repeats. Every edge on a cycle appears at
 * least once, and their number stays at most the number of edges (all
 * elementary cycles can be exponentially many).
 */
export function listCycles(graph, comp) {
  const members = new Set(comp);
  const seen = new Set();
  const cycles = [];
  for (const a of comp) {
    for (const b of [...(graph.get(a)?.keys() ?? [])].sort()) {
      if (!members.has(b)) continue;
      const back = shortestPath(graph, members, b, a);
      if (!back) continue;
      const cycle = [a, ...back.slice(0, -1)];
      // One name per cycle whatever layer it starts at.
      const start = cycle.indexOf([...cycle].sort()[0]);
      const canon = [...cycle.slice(start), ...cycle.slice(0, start)];
      const key = canon.join(' ');
      if (seen.has(key)) continue;
      seen.add(key);
      cycles.push(canon);
    }
  }
  return cycles.sort((x, y) => x.length - y.length || x.join(' ').localeCompare(y.join(' ')));
}

/**
 * The fewest edges to remove so that the component has no cycle (ties:
 * fewest importing files), and the layer order (lowest first) they leave.
 * Exact over orders by dynamic programming on subsets up to 22 layers;
 * above that a greedy order (Eades, Lin and Smyth) gives a small set.
 */
export function minimumCut(graph, comp) {
  const n = comp.length;
  const w = comp.map((a) => comp.map((b) => (a !== b && graph.get(a)?.has(b) ? graph.get(a).get(b).length : 0)));
  // Cost of an edge: one edge, tie-broken by its imports.
  const cost = (k) => (k ? 1_000_000 + k : 0);
  let order;
  if (n <= 22) {
    const size = 1 << n;
    const dp = new Float64Array(size).fill(Infinity);
    const choice = new Int8Array(size).fill(-1);
    dp[0] = 0;
    for (let s = 0; s < size; s++) {
      if (dp[s] === Infinity) continue;
      for (let v = 0; v < n; v++) {
        if (s & (1 << v)) continue;
        // v goes above every layer in s: an import from a layer in s up to v points the wrong way.
        let add = 0;
        for (let u = 0; u < n; u++) if (s & (1 << u)) add += cost(w[u][v]);
        const t = s | (1 << v);
        if (dp[s] + add < dp[t]) {
          dp[t] = dp[s] + add;
          choice[t] = v;
        }
      }
    }
    order = [];
    for (let s = size - 1; s; s &= ~(1 << choice[s])) order.unshift(choice[s]);
  } else {
    const left = new Set(comp.map((_, i) => i));
    const low = [];
    const high = [];
    const deg = (v, dir) => [...left].reduce((a, u) => a + (dir === 'out' ? w[v][u] : w[u][v]), 0);
    while (left.size) {
      let moved = true;
      while (moved) {
        moved = false;
        for (const v of [...left]) {
          if (deg(v, 'out') === 0) (low.push(v), left.delete(v), (moved = true));
          else if (deg(v, 'in') === 0) (high.unshift(v), left.delete(v), (moved = true));
        }
      }
      if (!left.size) break;
      const v = [...left].sort((a, b) => deg(a, 'in') - deg(a, 'out') - (deg(b, 'in') - deg(b, 'out')))[0];
      high.unshift(v);
      left.delete(v);
    }
    order = [...low, ...high];
  }
  const pos = new Map(order.map((v, i) => [v, i]));
  const remove = [];
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (w[a][b] && pos.get(a) < pos.get(b)) remove.push({ from: comp[a], to: comp[b], imports: graph.get(comp[a]).get(comp[b]) });
  remove.sort((x, y) => x.imports.length - y.imports.length || `${x.from} ${x.to}`.localeCompare(`${y.from} ${y.to}`));
  return { remove, order: order.map((i) => comp[i]) };
}

export function checkCycles(root) {
  const graph = buildGraph(root);
  const components = cyclicComponents(graph).map((comp) => ({ layers: comp, cycles: listCycles(graph, comp), ...minimumCut(graph, comp) }));
  return { graph, components };
}

const where = (i) => `${i.file}:${i.line} imports '${i.spec}'`;

function report(root, { graph, components }) {
  const lines = [];
  const edges = [...graph.values()].reduce((a, m) => a + m.size, 0);
  if (!components.length) {
    lines.push(`check-cycles: ${graph.size} layers under ${root}, ${edges} edges between them, no cycle`);
    return lines.join('\n');
  }
  for (const c of components) {
    lines.push(`cycle among ${c.layers.length} layers: ${c.layers.join(', ')}`);
    lines.push(`  ${c.cycles.length} cycles (the shortest through each edge):`);
    for (const cycle of c.cycles) {
      lines.push(`  ${[...cycle, cycle[0]].join(' -> ')}`);
      for (let i = 0; i < cycle.length; i++) {
        const a = cycle[i];
        const b = cycle[(i + 1) % cycle.length];
        const imports = graph.get(a).get(b);
        lines.push(`      ${a} -> ${b}: ${where(imports[0])}${imports.length > 1 ? ` (+${imports.length - 1} more)` : ''}`);
      }
    }
    lines.push('');
    lines.push(`  to break every cycle, remove these ${c.remove.length} edges (${c.remove.reduce((a, e) => a + e.imports.length, 0)} imports):`);
    for (const e of c.remove) {
      lines.push(`    ${e.from} -> ${e.to} (${e.imports.length} import${e.imports.length === 1 ? '' : 's'})`);
      for (const i of e.imports) lines.push(`        ${where(i)}`);
    }
    lines.push(`  which leaves the layers in this order, lowest first: ${c.order.join(' < ')}`);
    lines.push('');
  }
  lines.push(`check-cycles: ${graph.size} layers under ${root}, ${edges} edges; ${components.length} cyclic group(s); ${components.reduce((a, c) => a + c.remove.length, 0)} edges to remove`);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const root = args.find((a) => !a.startsWith('--')) ?? 'server';
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    console.error(`check-cycles: ${root} is not a directory (usage: check-cycles.mjs [DIR] [--json])`);
    process.exit(2);
  }
  const result = checkCycles(root);
  if (args.includes('--json')) {
    const plain = (m) => Object.fromEntries([...m].map(([k, v]) => [k, v instanceof Map ? plain(v) : v]));
    console.log(JSON.stringify({ graph: plain(result.graph), components: result.components }, null, 2));
  } else console.log(report(root, result));
  // exitCode, not exit(): a piped --json is longer than one pipe buffer and must be written out first.
  process.exitCode = result.components.length ? 1 : 0;
}
