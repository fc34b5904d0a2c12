// Parser for piranha's /etc/lvs.cf (Red Hat HA Server / LVS, 1999-2013):
//   key = value                  global settings
//   virtual NAME { key = value ... server NAME { key = value ... } }
//   failover NAME { ... }        (fos services)
// Values are a word, several words ("10.0.0.254 eth1:1") or a quoted string
// whose escapes (\r\n) are kept as written: nanny interpreted them. Comments
// start with #. Never throws: problems (and notes, e.g. a repeated key) come
// back with their line numbers.

export interface Entry {
  value: string;
  line: number;
}

export interface Block {
  kind: 'virtual' | 'server' | 'failover';
  name: string;
  line: number;
  keys: Map<string, Entry>;
  /** Only in virtual blocks. */
  servers: Block[];
}

export interface LvsCf {
  globals: Map<string, Entry>;
  virtuals: Block[];
  failovers: Block[];
  /** "line N: ..." */
  errors: string[];
  /** Things read but worth saying (a key given twice), "line N: ...". */
  notes: string[];
}

/** Strip a trailing comment outside quotes. */
function stripComment(line: string): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === '#' && !quoted) return line.slice(0, i);
  }
  return line;
}

function unquote(v: string): string | undefined {
  if (!v.startsWith('"')) return v;
  if (v.length < 2 || !v.endsWith('"') || (v.endsWith('\\"') && !v.endsWith('\\\\"'))) return undefined;
  return v.slice(1, -1).replace(/\\"/g, '"');
}

export function parseLvsCf(text: string): LvsCf {
  const out: LvsCf = { globals: new Map(), virtuals: [], failovers: [], errors: [], notes: [] };
  const stack: Block[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const n = i + 1;
    const err = (m: string) => out.errors.push(`line ${n}: ${m}`);
    const line = stripComment(raw).trim();
    if (!line) return;
    if (line === '}') {
      if (!stack.pop()) err("'}' without an open block");
      return;
    }
    const open = /^(virtual|server|failover)\s+(.+?)\s*\{$/.exec(line);
    if (open) {
      const kind = open[1] as Block['kind'];
      const name = open[2]!.replace(/^"(.*)"$/, '$1');
      const block: Block = { kind, name, line: n, keys: new Map(), servers: [] };
      const top = stack.at(-1);
      if (kind === 'server') {
        if (top?.kind !== 'virtual') return void err(`server ${block.name} outside a virtual block`);
        top.servers.push(block);
      } else {
        if (top) return void err(`${kind} ${block.name} inside ${top.kind} ${top.name}`);
        (kind === 'virtual' ? out.virtuals : out.failovers).push(block);
      }
      stack.push(block);
      return;
    }
    const kv = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!kv) return void err(`cannot read '${line.length > 60 ? line.slice(0, 57) + '...' : line}' (expected key = value, 'virtual NAME {', 'server NAME {' or '}')`);
    const value = unquote(kv[2]!.trim());
    if (value === undefined) return void err(`unterminated quoted value for ${kv[1]}`);
    const target = stack.at(-1)?.keys ?? out.globals;
    const earlier = target.get(kv[1]!);
    // As piranha read it: the later value wins. Said, not refused.
    if (earlier) out.notes.push(`line ${n}: ${kv[1]} is given twice (also line ${earlier.line}): the later value ${JSON.stringify(value)} wins`);
    target.set(kv[1]!, { value, line: n });
  });
  for (const b of stack) out.errors.push(`line ${b.line}: ${b.kind} ${b.name} is never closed with '}'`);
  return out;
}
