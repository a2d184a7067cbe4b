/**
 * How the CLI speaks: tables and sentences for people, JSON for scripts (`--json`),
 * and errors as one line saying what went wrong plus one saying what to do.
 */
import { isMobiusError, toMobiusError, type ErrorCode } from '../core/index.js';

/** Exit codes by error kind, so scripts can tell a typo from an outage. */
const EXIT_CODES: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 2,
  PAYLOAD_TOO_LARGE: 2,
  UNSUPPORTED_MEDIA_TYPE: 2,
  NOT_FOUND: 3,
  ALREADY_EXISTS: 4,
  CONFLICT: 4,
  UNAUTHENTICATED: 5,
  PERMISSION_DENIED: 5,
  UNAVAILABLE: 6,
  RESOURCE_EXHAUSTED: 6,
  INTERNAL: 1,
};

const HINTS: Record<ErrorCode, string> = {
  INVALID_ARGUMENT:
    "check the value named above; 'mobius <command> --help' lists what each option takes",
  PAYLOAD_TOO_LARGE: 'send less at once',
  UNSUPPORTED_MEDIA_TYPE: 'send JSON',
  NOT_FOUND: "check the name or id; the 'ls' commands list what exists",
  ALREADY_EXISTS: 'pick another name, or use the existing one',
  CONFLICT: 'read the current state and try again',
  UNAUTHENTICATED: 'set MOBIUS_TOKEN to a valid token',
  PERMISSION_DENIED: 'use a token with the role named above',
  UNAVAILABLE:
    'check that the store (and S3 endpoint, if any) is running and reachable, then retry',
  RESOURCE_EXHAUSTED: 'wait and retry, or raise the limit',
  INTERNAL:
    'this is a bug in Mobius; rerun with MOBIUS_LOG_LEVEL=debug and report it with the output',
};

/** Writes a result: `json` as JSON on stdout, else the human text. */
export function emit(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

/**
 * Thrown by a command that has printed its result and must still exit non-zero (a quality
 * gate that failed): not an error to report, just the code.
 */
export class ExitCode extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'ExitCode';
  }
}

/** Prints an error the user can act on and returns the process exit code. */
export function reportError(error: unknown, json: boolean): number {
  if (error instanceof ExitCode) return error.exitCode;
  const e = isMobiusError(error) ? error : toMobiusError(error);
  // Commander's own usage errors have already been printed by commander.
  if (json) {
    process.stdout.write(`${JSON.stringify({ error: e.toBody() })}\n`);
  } else {
    const detail = e.code === 'INTERNAL' && error instanceof Error ? `: ${error.message}` : '';
    process.stderr.write(`mobius: ${e.message}${detail}\n  hint: ${HINTS[e.code]}\n`);
  }
  return EXIT_CODES[e.code];
}

/** Renders rows as an aligned plain-text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
