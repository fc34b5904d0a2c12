// A template failure the operator can act on: which file, which line, which
// variable, for which node. Handlebars' own errors name only the last path
// segment ("webroot" not defined in [object Object] - 7:4); the engine maps
// them back to the template's AST to name the whole path as written.
import { HelperArgumentError } from './helpers.js';

type AstNode = hbs.AST.Node;
type Loc = { line: number; column: number };

export class TemplateError extends Error {
  constructor(
    /** Template name as looked up: 'pxelinux.cfg.hbs', 'partials/cmdline.hbs'. */
    readonly template: string,
    /** The file it came from (operator directory or shipped templates/). */
    readonly file: string,
    readonly line: number | undefined,
    /** What is wrong, without the location: "node.vars.webroot is not defined". */
    readonly problem: string,
    /** The variable path, when a variable is missing. */
    readonly variable?: string,
    /** The node the render was for. */
    readonly node?: string,
  ) {
    super(`${template}${line !== undefined ? `:${line}` : ''}: ${problem}${node ? ` for node ${node}` : ''}`);
    this.name = 'TemplateError';
  }

  /** The same error, naming the node (renders deep inside partials do not know it). */
  forNode(node: string | undefined): TemplateError {
    if (!node || this.node) return this;
    return new TemplateError(this.template, this.file, this.line, this.problem, this.variable, node);
  }

  toJSON(): Record<string, unknown> {
    return { template: this.template, line: this.line ?? null, variable: this.variable ?? null, node: this.node ?? null, message: this.message };
  }
}

/** Visit every node of a Handlebars AST (statements, params, hashes, sub-expressions, blocks). */
// biome-ignore lint/suspicious/noConfusingVoidType: a visitor returns true to stop, or nothing to go on
function walk(node: unknown, visit: (n: AstNode) => boolean | void): boolean {
  if (!node || typeof node !== 'object') return false;
  if (Array.isArray(node)) return node.some((n) => walk(n, visit));
  const n = node as AstNode & Record<string, unknown>;
  if (typeof n.type === 'string' && visit(n)) return true;
  for (const key of ['body', 'path', 'params', 'hash', 'pairs', 'value', 'program', 'inverse', 'name']) {
    const child = n[key];
    if (child && typeof child === 'object' && walk(child, visit)) return true;
  }
  return false;
}

const at = (loc: hbs.AST.SourceLocation | undefined, p: Loc) => !!loc && loc.start.line === p.line && loc.start.column === p.column;

/** The path expression that starts at a location (where a strict-mode lookup failed). */
function pathAt(ast: hbs.AST.Program, p: Loc): { original: string; isHelperCall: boolean } | undefined {
  let found: { original: string; isHelperCall: boolean } | undefined;
  walk(ast, (n) => {
    const s = n as hbs.AST.MustacheStatement;
    if ((n.type === 'MustacheStatement' || n.type === 'SubExpression' || n.type === 'BlockStatement') && s.path?.type === 'PathExpression' && at(s.path.loc, p)) {
      found = { original: (s.path as hbs.AST.PathExpression).original, isHelperCall: (s.params?.length ?? 0) > 0 || !!s.hash };
      return true;
    }
    if (n.type === 'PathExpression' && at(n.loc, p)) {
      found = { original: (n as hbs.AST.PathExpression).original, isHelperCall: false };
      return true;
    }
    return false;
  });
  return found;
}

/** The helper call at a location and the source text of its nth parameter. */
function helperParam(ast: hbs.AST.Program, p: Loc, index: number): string | undefined {
  let found: string | undefined;
  walk(ast, (n) => {
    if ((n.type === 'MustacheStatement' || n.type === 'SubExpression' || n.type === 'BlockStatement') && at(n.loc, p)) {
      const param = (n as hbs.AST.MustacheStatement).params?.[index];
      if (param) found = (param as { original?: string }).original ?? undefined;
      return true;
    }
    return false;
  });
  return found;
}

/** The first path that reads `name` below its first segment (a.b.name): where a helper argument went through a missing object. */
function pathThrough(ast: hbs.AST.Program, name: string): { original: string; parts: string[]; line: number } | undefined {
  let found: { original: string; parts: string[]; line: number } | undefined;
  walk(ast, (n) => {
    if (n.type !== 'PathExpression') return false;
    const p = n as hbs.AST.PathExpression;
    if (p.parts.indexOf(name) >= 1) {
      found = { original: p.original, parts: p.parts, line: p.loc.start.line };
      return true;
    }
    return false;
  });
  return found;
}

function firstPartialLine(ast: hbs.AST.Program | undefined, name: string): number | undefined {
  let line: number | undefined;
  walk(ast, (n) => {
    if ((n.type === 'PartialStatement' || n.type === 'PartialBlockStatement') && (n as hbs.AST.PartialStatement).name.type === 'PathExpression') {
      if (((n as hbs.AST.PartialStatement).name as hbs.AST.PathExpression).original === name) {
        line = n.loc.start.line;
        return true;
      }
    }
    return false;
  });
  return line;
}

/** Where a helper threw: Handlebars hands each helper its call's location in options.loc. */
export interface HelperFailure {
  error: HelperArgumentError;
  loc: Loc;
}

/**
 * Turn whatever a compile or render threw into a TemplateError naming file,
 * line and variable. `ast` is the template's parse tree (undefined when the
 * template did not even parse).
 */
export function explain(err: unknown, template: string, file: string, ast: hbs.AST.Program | undefined, node: string | undefined): TemplateError {
  if (err instanceof TemplateError) return err.forNode(node);
  const e = err as Error & { lineNumber?: number; column?: number; helperLoc?: Loc };
  if (e instanceof HelperArgumentError) {
    const loc = (e as { helperLoc?: Loc }).helperLoc;
    const param = loc && ast ? helperParam(ast, loc, e.index) : undefined;
    if (e.reason === 'undefined') {
      const v = param ?? `argument ${e.index + 1} of ${e.helper}`;
      return new TemplateError(template, file, loc?.line, `${v} is not defined (in ${e.helper})`, param, node);
    }
    return new TemplateError(template, file, loc?.line, e.message, undefined, node);
  }
  const msg = String(e?.message ?? err);
  const strict = /^"(.*)" not defined in .* - (\d+):(\d+)$/s.exec(msg);
  if (strict) {
    const line = Number(strict[2]);
    const column = Number(strict[3]);
    const p = ast ? pathAt(ast, { line, column }) : undefined;
    if (p?.isHelperCall) return new TemplateError(template, file, line, `no helper named '${p.original}'`, undefined, node);
    const v = p?.original ?? strict[1]!;
    return new TemplateError(template, file, line, `${v} is not defined`, v, node);
  }
  // Strict mode leaves helper arguments unchecked, and a path through a missing object there throws a TypeError.
  const through = /^Cannot read properties of (undefined|null) \(reading '(.+)'\)$/.exec(msg);
  if (through && ast) {
    const p = pathThrough(ast, through[2]!);
    if (p) {
      const parent = p.parts.slice(0, p.parts.indexOf(through[2]!)).join('.');
      return new TemplateError(template, file, p.line, `${p.original} is not defined (${parent} is ${through[1]})`, p.original, node);
    }
  }
  const partial = /^The partial (.+) could not be found$/.exec(msg);
  if (partial) {
    return new TemplateError(template, file, firstPartialLine(ast, partial[1]!), `no partial named '${partial[1]}' (looked for partials/${partial[1]}.hbs)`, undefined, node);
  }
  const parse = /^Parse error on line (\d+):\n([\s\S]*)$/.exec(msg);
  if (parse) {
    const detail = parse[2]!.split('\n');
    return new TemplateError(template, file, Number(parse[1]), `syntax error: ${detail[detail.length - 1]} near '${(detail[0] ?? '').trim()}'`, undefined, node);
  }
  if (e?.helperLoc) return new TemplateError(template, file, e.helperLoc.line, msg, undefined, node);
  const located = / - (\d+):(\d+)$/.exec(msg);
  if (located || typeof e?.lineNumber === 'number') {
    const line = located ? Number(located[1]) : e.lineNumber;
    return new TemplateError(template, file, line, msg.replace(/ - \d+:\d+$/, ''), undefined, node);
  }
  return new TemplateError(template, file, undefined, msg, undefined, node);
}
