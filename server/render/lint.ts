// Syntax checks of rendered configs, run by `templates check` (and the
// golden tests) so a template that renders but would not parse on the blade
// is caught before a boot. bpbatch cannot run here (a 1990s DOS program), so
// its script language is checked by a parser written from the Remote-Boot
// HOWTO's syntax rules: blank lines ignored, '#' comments, ':' labels,
// strings in double quotes with \" inside, commands with their arguments.
import type { Loader } from '../store/types.js';
import { splitCmdline } from './helpers.js';

export interface LintIssue {
  line: number;
  message: string;
}

/** x86 Linux keeps this many bytes of command line (COMMAND_LINE_SIZE). */
export const KERNEL_CMDLINE_MAX = 2048;

export type BpbToken = { kind: 'string'; value: string } | { kind: 'word'; value: string } | { kind: 'op'; value: string } | { kind: 'number'; value: number };

export interface BpbStatement {
  line: number;
  command: string;
  args: BpbToken[];
}

/** Tokenise one bpbatch line; throws with a message on an unterminated string or a stray character. */
export function tokenizeBpbatch(text: string): BpbToken[] {
  const out: BpbToken[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '"') {
      let v = '';
      i++;
      let closed = false;
      while (i < text.length) {
        const d = text[i]!;
        if (d === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) {
          v += text[i + 1];
          i += 2;
        } else if (d === '"') {
          closed = true;
          i++;
          break;
        } else {
          v += d;
          i++;
        }
      }
      if (!closed) throw new Error('unterminated string (a " inside a string must be written \\")');
      // Postfix string operators ("..."/a=b/, {n}, [n]) are not used by rackboot's scripts.
      if (i < text.length && !/[\s=]/.test(text[i]!)) throw new Error(`unexpected '${text[i]}' right after a string`);
      out.push({ kind: 'string', value: v });
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+/.exec(text.slice(i))![0];
      out.push({ kind: 'number', value: Number(m) });
      i += m.length;
    } else if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_\-$]*/.exec(text.slice(i))![0];
      out.push({ kind: 'word', value: m });
      i += m.length;
    } else if (/[=!<>]/.test(c)) {
      const m = /^(==|!=|<=|>=|=|<|>)/.exec(text.slice(i))![0];
      out.push({ kind: 'op', value: m });
      i += m.length;
    } else {
      throw new Error(`unexpected character '${c}'`);
    }
  }
  return out;
}

/** Commands this checker knows and the shape of their arguments. */
const BPB_COMMANDS: Record<string, (args: BpbToken[]) => string | undefined> = {
  set: (a) =>
    a.length === 3 && a[0]!.kind === 'word' && a[1]!.kind === 'op' && a[1]!.value === '=' && (a[2]!.kind === 'string' || a[2]!.kind === 'number')
      ? undefined
      : 'expected: Set NAME = "value"',
  linuxboot: (a) =>
    a.length >= 1 && a.length <= 3 && a.every((t) => t.kind === 'string')
      ? a[0]!.kind === 'string' && a[0]!.value === ''
        ? 'the kernel file name is empty'
        : undefined
      : 'expected: LinuxBoot "kernel" ["command line" ["ramdisk"]]',
  log: (a) => (a.length === 1 && a[0]!.kind === 'string' ? undefined : 'expected: Log "text"'),
  goto: (a) => (a.length === 1 && a[0]!.kind === 'word' ? undefined : 'expected: goto LABEL'),
  hdboot: () => undefined,
  floppyboot: () => undefined,
  reboot: (a) => (a.length === 0 ? undefined : 'Reboot takes no arguments'),
  exit: () => undefined,
  delay: (a) => (a.length === 1 && a[0]!.kind === 'number' ? undefined : 'expected: Delay SECONDS'),
};

/** Parse a bpbatch script into statements; every problem is reported with its line. */
export function parseBpbatch(script: string): { statements: BpbStatement[]; issues: LintIssue[] } {
  const statements: BpbStatement[] = [];
  const issues: LintIssue[] = [];
  script.split(/\r?\n/).forEach((raw, k) => {
    const line = k + 1;
    const text = raw.trim();
    if (!text || text.startsWith('#')) return;
    if (text.startsWith(':')) {
      if (!/^:[A-Za-z0-9_-]+$/.test(text)) issues.push({ line, message: `bad label '${text}'` });
      return;
    }
    let tokens: BpbToken[];
    try {
      tokens = tokenizeBpbatch(text);
    } catch (e) {
      issues.push({ line, message: (e as Error).message });
      return;
    }
    const [cmd, ...args] = tokens;
    if (cmd?.kind !== 'word') {
      issues.push({ line, message: 'a statement starts with a command name' });
      return;
    }
    const check = BPB_COMMANDS[cmd.value.toLowerCase()];
    if (!check) {
      issues.push({ line, message: `unknown command '${cmd.value}' (this checker knows: ${Object.keys(BPB_COMMANDS).join(', ')})` });
      return;
    }
    const problem = check(args);
    if (problem) issues.push({ line, message: `${cmd.value}: ${problem}` });
    statements.push({ line, command: cmd.value, args });
  });
  return { statements, issues };
}

function lintBpbatch(body: string): LintIssue[] {
  const { statements, issues } = parseBpbatch(body);
  for (const s of statements) {
    if (s.command.toLowerCase() === 'linuxboot' && s.args[1]?.kind === 'string') issues.push(...cmdlineIssues(s.args[1].value, s.line));
  }
  return issues;
}

function cmdlineIssues(cmdline: string, line: number): LintIssue[] {
  const issues: LintIssue[] = [];
  const bytes = Buffer.byteLength(cmdline);
  if (bytes >= KERNEL_CMDLINE_MAX) issues.push({ line, message: `the kernel command line is ${bytes} bytes; Linux on x86 keeps ${KERNEL_CMDLINE_MAX - 1}` });
  if ((cmdline.match(/"/g)?.length ?? 0) % 2) issues.push({ line, message: 'the kernel command line has an unbalanced double quote' });
  return issues;
}

const PXELINUX_KEYWORDS = new Set(
  (
    'default label kernel linux initrd append localboot prompt timeout totaltimeout ontimeout onerror ipappend sysappend menu say serial console ' +
    'ui noescape nocomplete implicit allowoptions font kbdmap display f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12 include config path fdt fdtdir ' +
    'com32 boot bss pxe fdimage comboot text endtext'
  ).split(' '),
);

function lintPxelinux(body: string): LintIssue[] {
  const issues: LintIssue[] = [];
  let inText = false;
  body.split(/\r?\n/).forEach((raw, k) => {
    const line = k + 1;
    const text = raw.trim();
    if (inText) {
      if (/^endtext$/i.test(text)) inText = false;
      return;
    }
    if (!text || text.startsWith('#')) return;
    const word = text.split(/\s+/)[0]!.toLowerCase();
    if (!PXELINUX_KEYWORDS.has(word)) issues.push({ line, message: `unknown PXELINUX keyword '${text.split(/\s+/)[0]}'` });
    if (word === 'text') inText = true;
    if (word === 'append') issues.push(...cmdlineIssues(text.slice(6).trim(), line));
  });
  return issues;
}

/** iPXE options that take a value as the next word (`--name kernel`, `-n kernel`, `--timeout 5000`). */
const IPXE_VALUE_OPTIONS = new Set(['--name', '-n', '--timeout', '-t']);

/** The kernel arguments of an iPXE image command (kernel/chain/imgexec URI ARGS..., imgargs NAME ARGS...), or undefined. */
function ipxeImageArgs(raw: string): string | undefined {
  const m = /^\s*(kernel|chain|imgexec|imgargs)\s+(.*)$/.exec(raw);
  if (!m) return undefined;
  // The command ends where iPXE's || or && begins (e.g. "|| goto retry").
  const words = m[2]!.split(/\s+(?:\|\||&&)\s+/)[0]!.trim().split(/\s+/);
  let i = 0;
  while (i < words.length && words[i]!.startsWith('-')) i += IPXE_VALUE_OPTIONS.has(words[i]!) ? 2 : 1;
  // Past the URI (or, for imgargs, the image name): the rest is the command line.
  return words.slice(i + 1).join(' ');
}

function lintIpxe(body: string): LintIssue[] {
  if (!/^#!ipxe\s*(\r?\n|$)/.test(body)) return [{ line: 1, message: 'an iPXE script must start with the line #!ipxe' }];
  const issues: LintIssue[] = [];
  body.split(/\r?\n/).forEach((raw, k) => {
    const args = ipxeImageArgs(raw);
    if (args) issues.push(...cmdlineIssues(args, k + 1));
  });
  return issues;
}

function lintGrub(body: string): LintIssue[] {
  const issues: LintIssue[] = [];
  let depth = 0;
  let quote: string | undefined;
  let quoteLine = 0;
  body.split(/\r?\n/).forEach((raw, k) => {
    const line = k + 1;
    for (let i = 0; i < raw.length; i++) {
      const c = raw[i]!;
      if (quote) {
        if (c === '\\' && quote === '"') i++;
        else if (c === quote) quote = undefined;
        continue;
      }
      if (c === '#' && (i === 0 || /\s/.test(raw[i - 1]!))) break;
      if (c === '\\') i++;
      else if (c === '"' || c === "'") (quote = c), (quoteLine = line);
      else if (c === '{') depth++;
      else if (c === '}' && --depth < 0) {
        issues.push({ line, message: "a '}' closes nothing" });
        depth = 0;
      }
    }
    const m = /^\s*linux\s+\S+\s*(.*)$/.exec(raw);
    if (m) issues.push(...cmdlineIssues(splitCmdline(m[1]!).join(' '), line));
  });
  if (quote) issues.push({ line: quoteLine, message: `unterminated ${quote} quote` });
  if (depth > 0) issues.push({ line: body.split(/\r?\n/).length, message: `${depth} '{' never closed` });
  return issues;
}

/** Syntax problems of a rendered config for a loader (empty: looks right). */
export function lintConfig(loader: Loader, body: string): LintIssue[] {
  switch (loader) {
    case 'bpbatch':
      return lintBpbatch(body);
    case 'pxelinux':
      return lintPxelinux(body);
    case 'ipxe':
      return lintIpxe(body);
    case 'grub':
      return lintGrub(body);
  }
}
