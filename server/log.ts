import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };

/** One readable line per record for a terminal; JSON lines stay the default for services and pipes. */
function prettyStream(out: NodeJS.WriteStream): DestinationStream {
  return {
    write(line: string) {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const { level, time, msg, svc, err, ...rest } = rec;
      const t = typeof time === 'string' ? time.slice(11, 19) : '';
      const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
      const e = err && typeof err === 'object' ? `\n  ${(err as { stack?: string; message?: string }).stack ?? (err as { message?: string }).message}` : '';
      out.write(`${t} ${LEVELS[level as number] ?? level} ${svc ? `[${String(svc)}] ` : ''}${String(msg ?? '')}${extra}${e}\n`);
    },
  };
}

/** Log records to stdout: readable on a terminal, JSON lines otherwise (or with RACKBOOT_LOG_FORMAT=json). */
export function createLogger(level = process.env.RACKBOOT_LOG ?? 'info'): Logger {
  const opts = { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  const pretty = process.stdout.isTTY && process.env.RACKBOOT_LOG_FORMAT !== 'json';
  return pretty ? pino(opts, prettyStream(process.stdout)) : pino(opts);
}

/** A logger that drops everything, for tests and CLI commands. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
