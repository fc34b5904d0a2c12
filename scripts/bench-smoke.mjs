#!/usr/bin/env node
// npm run bench:smoke [-- FILTER...]: every bench/*.ts at smoke size, one
// after another, so a bench that no longer runs is noticed (CI runs this
// after npm test). A bench is found by its file; its header says how:
//
//   // bench:smoke args: --runs 1 --seconds 1      (required: the smallest sizes that still run its whole path)
//   // bench:smoke needs: root wrk apache2          (optional: root and the commands it runs)
//   // bench:smoke args+postgres: --store postgres --runs 1
//                                                  (optional, any number: one more run each, with these
//                                                   needs on top, `postgres` meaning PostgreSQL's server)
//
// A bench passes when it exits 0 and printed its result line
// (bench/lib/result.ts: `bench/NAME result: ...; N cores, load ...`).
// Outside CI a bench whose needs are missing is skipped with the reason; in
// CI (env CI set) that is a failure, as for the tests (test/helpers/env.ts).
// A bench file without a `bench:smoke args:` line fails: a new bench must
// say how it runs small.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const { labLacks, IN_CI } = await import(join(root, 'dist/test/helpers/env.js'));
const { pgLacks } = await import(join(root, 'dist/test/helpers/postgres.js'));
/** Seconds a bench may take at smoke size before it is stopped and failed. */
const TIMEOUT_S = Number(process.env.BENCH_SMOKE_TIMEOUT ?? 600);

const filters = process.argv.slice(2);
const names = readdirSync(join(root, 'bench'))
  .filter((n) => n.endsWith('.ts'))
  .map((n) => n.slice(0, -3))
  .filter((n) => !filters.length || filters.some((f) => n.includes(f)))
  .sort();
if (!names.length) {
  console.error(`bench:smoke: no bench matches ${filters.join(' ')}`);
  process.exit(1);
}

/** Words of a header line; '' and "" give an empty argument. */
const words = (line) => [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);

/** The bench's smoke runs (arguments, needs), from its header comment; none when it has no args line. */
function header(name) {
  const src = readFileSync(join(root, 'bench', `${name}.ts`), 'utf8');
  const needs = /^\/\/ bench:smoke needs:(.*)$/m.exec(src);
  const common = needs ? words(needs[1]) : [];
  const runs = [...src.matchAll(/^\/\/ bench:smoke args(?:\+([\w,-]+))?:(.*)$/gm)].map((m) => {
    const extra = m[1] ? m[1].split(',') : [];
    const need = [...common, ...extra];
    return {
      label: extra.length ? `${name}+${extra.join(',')}` : name,
      args: words(m[2]),
      needs: { root: need.includes('root'), postgres: need.includes('postgres'), commands: need.filter((w) => w !== 'root' && w !== 'postgres') },
    };
  });
  // The plain run first (the one without extra needs).
  return runs.sort((a, b) => Number(a.label !== name) - Number(b.label !== name));
}

/** Why this machine cannot run it, or undefined. */
const lacking = (needs) => labLacks(needs) ?? (needs.postgres ? pgLacks() : undefined);

/** Run one bench, its output shown as it comes with the bench's name in front; exit code, stdout, seconds. */
function runBench(name, args) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    // Its own process group: a bench that overruns is stopped with everything it started.
    const child = spawn(process.execPath, [join(root, 'dist/bench', `${name}.js`), ...args], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    const show = (stream) => {
      let part = '';
      return (d) => {
        part += d.toString();
        const lines = part.split('\n');
        part = lines.pop();
        for (const l of lines) stream.write(`[${name}] ${l}\n`);
      };
    };
    child.stdout.on('data', (d) => (stdout += d.toString()));
    child.stdout.on('data', show(process.stdout));
    child.stderr.on('data', show(process.stderr));
    let timedOut = false;
    const killGroup = (sig) => {
      try {
        process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 10_000).unref();
    }, TIMEOUT_S * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, stdout, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

const results = [];
for (const name of names) {
  const runs = header(name);
  if (!runs.some((h) => h.label === name)) {
    results.push({ name, status: 'FAIL', why: `bench/${name}.ts has no '// bench:smoke args:' line in its header` });
    continue;
  }
  for (const h of runs) await smoke(name, h);
}

async function smoke(name, h) {
  const lacks = lacking(h.needs);
  if (lacks && !IN_CI) {
    console.log(`# skipped: bench/${h.label}: ${lacks}`);
    results.push({ name: h.label, status: 'skipped', why: lacks });
    return;
  }
  if (lacks) {
    results.push({ name: h.label, status: 'FAIL', why: `CI must run it, but it ${lacks}` });
    return;
  }
  console.log(`\n== bench/${name} ${h.args.join(' ')}`);
  const r = await runBench(name, h.args);
  const line = new RegExp(`^bench/${name} result: .+; \\d+ cores, load [\\d.]+ at the start, [\\d.]+ at the end$`, 'm');
  const why = r.timedOut
    ? `stopped after ${TIMEOUT_S} s (BENCH_SMOKE_TIMEOUT)`
    : r.code !== 0
      ? `exited ${r.code ?? r.signal}`
      : !line.test(r.stdout)
        ? `printed no 'bench/${name} result: ...' line with the core count and load (bench/lib/result.ts)`
        : undefined;
  results.push({ name: h.label, status: why ? 'FAIL' : 'ok', why, seconds: r.seconds });
}

console.log('\nbench:smoke:');
for (const r of results) console.log(`  ${r.status.padEnd(7)} bench/${r.name.padEnd(21)} ${r.seconds !== undefined ? `${r.seconds.toFixed(1).padStart(6)} s` : '        '}${r.why ? `  ${r.why}` : ''}`);
const total = results.reduce((a, r) => a + (r.seconds ?? 0), 0);
const failed = results.filter((r) => r.status === 'FAIL').length;
console.log(`${results.length} benches, ${failed} failed, ${results.filter((r) => r.status === 'skipped').length} skipped, ${total.toFixed(0)} s`);
process.exit(failed ? 1 : 0);
