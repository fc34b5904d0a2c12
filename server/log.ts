import { pino, type Logger, type DestinationStream } from 'pino';
import { ConfigError, type ConfigIssue } from './config/errors.js';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** `auto`: pretty on a terminal, JSON otherwise (a service unit, a pipe, a redirect). */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };

/** A value in an extra field: bare when it reads as one word, JSON otherwise. */
function fieldValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

/**
 * One record as a line a person reads, as pino-pretty prints it on one
 * line: time, level word, the service, the message, then the other fields
 * as key=value; an error's stack on the lines below.
 */
export function prettyLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const { level, time, msg, svc, err, ...rest } = rec;
  const t = typeof time === 'string' ? time.slice(11, 23) : '';
  const extra = Object.entries(rest).map(([k, v]) => ` ${k}=${fieldValue(v)}`).join('');
  const e = err && typeof err === 'object' ? `\n  ${(err as { stack?: string; message?: string }).stack ?? (err as { message?: string }).message}` : '';
  const text = String(msg ?? '');
  // Most messages already begin with their service ("dhcp: serving eth1"): name it once.
  const who = svc && !text.startsWith(`${String(svc)}:`) ? `[${String(svc)}] ` : '';
  return `${t} ${LEVELS[level as number] ?? String(level)} ${who}${text}${extra}${e}\n`;
}

function prettyStream(out: NodeJS.WritableStream): DestinationStream {
  return { write: (line: string) => void out.write(prettyLine(line)) };
}

/** What the log section and the env make of the logger; env RACKBOOT_LOG and RACKBOOT_LOG_FORMAT override the file. */
export interface LogSettings {
  level: LogLevel;
  format: 'pretty' | 'json';
}

/** Problems with the env overrides, named as `config check` names keys (the file's values are checked by the schema). */
export function logEnvIssues(env: NodeJS.ProcessEnv = process.env): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const bad = (name: string, value: string, allowed: readonly string[]) =>
    issues.push({ path: `env ${name}`, message: `'${value}' is not one of ${allowed.join(', ')} (it overrides log.${name === 'RACKBOOT_LOG' ? 'level' : 'format'})` });
  const level = env.RACKBOOT_LOG;
  if (level !== undefined && level !== '' && !(LOG_LEVELS as readonly string[]).includes(level)) bad('RACKBOOT_LOG', level, LOG_LEVELS);
  const format = env.RACKBOOT_LOG_FORMAT;
  if (format !== undefined && format !== '' && !(LOG_FORMATS as readonly string[]).includes(format)) bad('RACKBOOT_LOG_FORMAT', format, LOG_FORMATS);
  return issues;
}

/** The level and format in effect; throws a ConfigError naming the env variable when an override is not a known value. */
export function logSettings(section: { level: LogLevel; format: LogFormat }, env: NodeJS.ProcessEnv = process.env, isTTY = !!process.stdout.isTTY): LogSettings {
  const issues = logEnvIssues(env);
  if (issues.length) throw new ConfigError('environment', issues);
  const level = (env.RACKBOOT_LOG || section.level) as LogLevel;
  const format = (env.RACKBOOT_LOG_FORMAT || section.format) as LogFormat;
  return { level, format: format === 'auto' ? (isTTY ? 'pretty' : 'json') : format };
}

/** Log records to `out` (stdout): one readable line each (pretty), or JSON lines with numeric levels (json). */
export function createLogger(s: LogSettings = logSettings({ level: 'info', format: 'auto' }), out: NodeJS.WritableStream = process.stdout): Logger {
  const opts = { level: s.level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  if (s.format === 'pretty') return pino(opts, prettyStream(out));
  return out === process.stdout ? pino(opts) : pino(opts, out as DestinationStream);
}

/** A logger that drops everything, for tests and CLI commands. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * A warning that may repeat without bound (a flood of bad packets, a socket
 * that keeps failing) written the first 10 times, then every 1000th, so the
 * log stays readable and the count still shows how many there were.
 */
export class LogThrottle {
  private seen = 0;

  /** Count `n` more; true when a line should be written (one of them is among the first 10 or a 1000th). */
  hit(n = 1): boolean {
    const before = this.seen;
    this.seen += n;
    return before < 10 || Math.floor(this.seen / 1000) > Math.floor(before / 1000);
  }

  /** How many so far (for the line: "... (N so far)"). */
  get count(): number {
    return this.seen;
  }

  reset(): void {
    this.seen = 0;
  }
}
