// IPMI through the Debian tools operators already trust: the command line
// for an operation (ipmitool, or FreeIPMI's ipmipower and
// ipmi-chassis-config) and the reading of what the tool said. Pure: no
// process is started here (ipmi-driver.ts runs them). The password never
// goes on a command line (`ps` shows those): ipmitool reads it from
// IPMI_PASSWORD (-E), FreeIPMI from a private config file (--config-file;
// FreeIPMI opens it by name, and a child's stdin from Node is a socket,
// which /dev/stdin cannot open).
import type { EffectiveBmc } from './bmc.js';
import type { IpmiTool } from './config.js';
import { BmcError, type BmcErrorKind, type BootDevice, type PowerAction, type PowerState } from './types.js';

export type IpmiOp = { kind: 'status' } | { kind: 'power'; action: PowerAction } | { kind: 'bootdev'; device: BootDevice; persistent: boolean };

export interface IpmiCommand {
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  /** The command as events and messages show it: no password, no host (said beside it). */
  shown: string;
}

export interface IpmiRunOptions {
  timeoutMs: number;
  retries: number;
}

const PRIV = { user: 'USER', operator: 'OPERATOR', administrator: 'ADMINISTRATOR' } as const;

/** How a driver using this tool is named in events: "ipmitool lanplus -C 3". */
export function ipmiVia(tool: IpmiTool, b: EffectiveBmc): string {
  const name = tool === 'ipmitool' ? 'ipmitool' : 'freeipmi';
  return `${name} ${b.ipmi.interface}${b.ipmi.interface === 'lanplus' ? ` -C ${b.ipmi.cipherSuite}` : ''}`;
}

export function ipmitoolCommand(b: EffectiveBmc, password: string, op: IpmiOp, o: IpmiRunOptions): IpmiCommand {
  // -N: seconds per try; the tool gives up on a silent BMC by itself before the run's timeout kills it.
  const perTry = Math.max(1, Math.min(3, Math.floor(o.timeoutMs / 1000 / (o.retries + 1))));
  const args = ['-v', '-I', b.ipmi.interface, '-H', b.address, '-p', String(b.port), '-U', b.username, '-E', '-L', PRIV[b.ipmi.privilege], '-N', String(perTry), '-R', String(o.retries)];
  if (b.ipmi.interface === 'lanplus') args.push('-C', String(b.ipmi.cipherSuite));
  const sub =
    op.kind === 'status'
      ? ['chassis', 'power', 'status']
      : op.kind === 'power'
        ? ['chassis', 'power', op.action]
        : ['chassis', 'bootdev', op.device, ...(op.persistent ? ['options=persistent'] : [])];
  return { cmd: 'ipmitool', args: [...args, ...sub], env: { IPMI_PASSWORD: password }, shown: `ipmitool -I ${b.ipmi.interface} ${sub.join(' ')}` };
}

const FREEIPMI_POWER: Record<PowerAction, string> = { on: '--on', off: '--off', cycle: '--cycle', reset: '--reset', soft: '--soft' };

/** The FreeIPMI config file holding the password (written mode 0600 by the driver, removed after the run). */
export function freeipmiConfig(password: string): string {
  if (/[\s#"\\]/.test(password)) {
    throw new BmcError('tool', 'FreeIPMI reads the password from its config file, where it cannot hold whitespace, #, quotes or backslashes: use power.ipmi.tool ipmitool', 'freeipmi');
  }
  return `password ${password}\n`;
}

const freeipmiHost = (b: EffectiveBmc) => (b.address.includes(':') ? `[${b.address}]:${b.port}` : `${b.address}:${b.port}`);

/** `configFile`: the file freeipmiConfig's text was written to. */
export function freeipmiCommand(b: EffectiveBmc, configFile: string, op: IpmiOp, o: IpmiRunOptions): IpmiCommand {
  return freeipmiHostsCommand([b], configFile, op, o);
}

/**
 * One FreeIPMI run for several BMCs that share credentials and session
 * options (the first one's are used): ipmipower takes a comma-separated
 * host list and drives the sessions in parallel from one process.
 */
export function freeipmiHostsCommand(bmcs: readonly EffectiveBmc[], configFile: string, op: IpmiOp, o: IpmiRunOptions): IpmiCommand {
  const b = bmcs[0]!;
  const args = [
    `--config-file=${configFile}`,
    '-D',
    b.ipmi.interface === 'lanplus' ? 'LAN_2_0' : 'LAN',
    '-h',
    bmcs.map(freeipmiHost).join(','),
    '-u',
    b.username,
    '-l',
    PRIV[b.ipmi.privilege],
    // The tool's own deadline a little before the run's timeout, so its own words say what failed.
    `--session-timeout=${Math.max(1000, o.timeoutMs - 1000)}`,
  ];
  if (b.ipmi.interface === 'lanplus') args.push('-I', String(b.ipmi.cipherSuite));
  if (b.ipmi.workaroundFlags) args.push('-W', b.ipmi.workaroundFlags);
  if (op.kind === 'bootdev') {
    const dev = op.device === 'pxe' ? 'PXE' : 'HARD-DRIVE';
    const sub = ['--commit', '-e', `Chassis_Boot_Flags:Boot_Device=${dev}`, '-e', `Chassis_Boot_Flags:Boot_Flags_Persistent=${op.persistent ? 'Yes' : 'No'}`];
    return { cmd: 'ipmi-chassis-config', args: [...args, ...sub], shown: `ipmi-chassis-config ${sub.join(' ')}` };
  }
  const flag = op.kind === 'status' ? '--stat' : FREEIPMI_POWER[op.action];
  return { cmd: 'ipmipower', args: [...args, flag], shown: `ipmipower ${flag}` };
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut?: boolean;
}

// ipmitool -v says why a session failed; FreeIPMI prints "host: reason".
const AUTH = /RAKP 2 HMAC is invalid|unauthorized name|password invalid|username invalid|k_g invalid|Activate Session command failed|invalid (user ?name|password)|authentication type unavailable|cipher suite id unavailable/i;
const TIMEOUT = /Get Auth(entication)? Capabilities|connection timeout|session timeout|No response|timed out/i;
const UNREACHABLE = /No route to host|Network is unreachable|Name or service not known|hostname invalid|Unknown host|Connection refused|Address not available/i;
// ipmitool -v also prints lines that are not the problem.
const NOISE = /^(Loading IANA PEN Registry|Get HPM\.x Capabilities|Running Get PICMG|Discovered IPMB|Running Get VSO|Invalid completion code received: Invalid command)/;

/** The tool's words about the failure, noise dropped, one line. */
function reason(r: ToolResult): string {
  const lines = `${r.stderr}\n${r.stdout}`
    .split('\n')
    .map((l) => l.replace(/^>\s*/, '').trim())
    .filter((l) => l && !NOISE.test(l));
  return lines.slice(-3).join(' | ').slice(0, 300) || `exit ${r.code}`;
}

function classify(text: string): BmcErrorKind {
  if (AUTH.test(text)) return 'auth';
  if (UNREACHABLE.test(text)) return 'unreachable';
  if (TIMEOUT.test(text)) return 'timeout';
  return 'refused';
}

/** A failed run as a BmcError: what kind, in words an operator can act on. */
export function ipmiFailure(r: ToolResult, c: IpmiCommand, b: EffectiveBmc, timeoutMs: number): BmcError {
  if (r.timedOut) return new BmcError('timeout', `did not answer within ${timeoutMs / 1000} s`, c.shown);
  if (r.code === 127 && /ENOENT|not found/.test(r.stderr)) return new BmcError('tool', `the command '${c.cmd}' is not installed (Debian: ${c.cmd === 'ipmitool' ? 'ipmitool' : 'freeipmi-tools'})`, c.shown);
  const why = reason(r);
  const kind = classify(why);
  const message =
    kind === 'auth'
      ? `refused the credentials of user '${b.username}' (${why})`
      : kind === 'timeout'
        ? `did not answer (${why})`
        : kind === 'unreachable'
          ? `cannot be reached (${why})`
          : `answered with an error: ${why}`;
  return new BmcError(kind, message, c.shown);
}

/** ipmipower's "host: word" lines, by host as it prints it (the address, without the port). */
export function ipmipowerLines(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const at = line.indexOf(': ');
    if (at > 0) out.set(line.slice(0, at).trim(), line.slice(at + 2).trim());
  }
  return out;
}

/** One BMC's word from an ipmipower run that printed host lines: its state, nothing for "ok", or the BmcError it means. */
export function ipmipowerAnswer(op: IpmiOp, said: string | undefined, r: ToolResult, c: IpmiCommand, b: EffectiveBmc, timeoutMs: number): PowerState | undefined {
  // No line of its own in a run that answered for others.
  if (said === undefined) throw new BmcError('refused', 'got no answer line in the output of ipmipower', c.shown);
  if (op.kind === 'status' ? said === 'on' || said === 'off' : said === 'ok') return op.kind === 'status' ? (said as PowerState) : undefined;
  throw ipmiFailure({ ...r, code: r.code || 1, stdout: '', stderr: said || r.stderr }, c, b, timeoutMs);
}

/** What a successful run says: the power state for a status, nothing otherwise. Throws BmcError when the output is not understood. */
export function parseIpmi(tool: IpmiTool, op: IpmiOp, r: ToolResult, c: IpmiCommand, b: EffectiveBmc, timeoutMs: number): PowerState | undefined {
  if (r.code !== 0 || r.timedOut) throw ipmiFailure(r, c, b, timeoutMs);
  if (tool === 'freeipmi' && c.cmd === 'ipmipower') {
    // "10.0.2.11: on" / "10.0.2.11: ok"; a failure is "10.0.2.11: password invalid" (exit 1, handled above, but be sure).
    const said = [...ipmipowerLines(r.stdout).values()][0];
    return ipmipowerAnswer(op, said ?? '', r, c, b, timeoutMs);
  }
  if (op.kind !== 'status') return undefined;
  const m = /Chassis Power is (on|off)/i.exec(r.stdout);
  if (!m) throw new BmcError('refused', `answered a power status that is not understood: ${reason(r)}`, c.shown);
  return m[1]!.toLowerCase() as PowerState;
}
