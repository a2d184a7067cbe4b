/** The structured logger: pino, JSON lines to stderr, shared with Fastify. */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Log levels accepted in config. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A logger writing JSON lines to stderr (stdout stays free for `--json` output). */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: { app: 'mobius' } }, pino.destination(2));
}
