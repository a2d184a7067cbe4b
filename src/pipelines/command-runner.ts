/**
 * Runs one command step as a child process in its own process group, so a timeout or a
 * step that dies leaving forked children ends the whole group: no orphans. Argv is passed
 * to exec directly (no shell), so params can hold any characters; a shell runs only for
 * steps declared with `{ shell }`.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { finished } from 'node:stream/promises';
import { limits } from '../core/index.js';
import { BoundedLog } from './bounded-log.js';

export interface CommandSpec {
  argv: readonly string[];
  cwd: string;
  env: Readonly<Record<string, string>>;
  timeoutMs?: number | undefined;
  stdoutPath: string;
  stderrPath: string;
  signal?: AbortSignal | undefined;
  /** Called with the leader's pid (= its process group id) right after it is spawned. */
  onSpawn?: (pid: number) => void;
  /**
   * The leader is a wrapper (bubblewrap, see sandbox.ts) that runs the command as its one
   * child: CPU and peak RSS are sampled from that child, and the wrapper's exit 128+N
   * (how it passes on a child killed by signal N) is reported as signal N.
   */
  wrapped?: boolean;
}

/** How a command ended and what it cost. */
export interface CommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Cancelled through the abort signal. */
  aborted: boolean;
  /** Could not start (e.g. ENOENT); the message says why. */
  spawnError: string | undefined;
  wallMs: number;
  /** CPU of the group leader and its waited-for children, from its last /proc sample; undefined off Linux. */
  cpuMs: number | undefined;
  /** VmHWM of the group leader from its last /proc sample; undefined off Linux. */
  peakRssBytes: number | undefined;
  stdoutDropped: number;
  stderrDropped: number;
}

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks (100 on every mainstream kernel). */
const CLOCK_TICKS_PER_SECOND = 100;

/** Runs `spec` to completion; never rejects for the command's own failure. */
export async function runCommand(spec: CommandSpec): Promise<CommandResult> {
  const started = performance.now();
  const [file, ...args] = spec.argv;
  const stdout = new BoundedLog(spec.stdoutPath, limits.MAX_STEP_LOG_BYTES);
  const stderr = new BoundedLog(spec.stderrPath, limits.MAX_STEP_LOG_BYTES);
  const child = spawn(file!, args, {
    cwd: spec.cwd,
    env: { ...spec.env },
    // Its own process group (pgid = pid): kill(-pid) reaches every process it forked.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(stdout);
  child.stderr.pipe(stderr);

  let timedOut = false;
  let aborted = false;
  let cpuMs: number | undefined;
  let peakRssBytes: number | undefined;
  const pid = child.pid;
  if (pid !== undefined) spec.onSpawn?.(pid);
  const killGroup = (signal: NodeJS.Signals): void => {
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  };
  let graceTimer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    killGroup('SIGTERM');
    graceTimer ??= setTimeout(() => killGroup('SIGKILL'), limits.STEP_KILL_GRACE_MS);
  };
  const timeoutTimer =
    spec.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          stop();
        }, spec.timeoutMs);
  const onAbort = (): void => {
    aborted = true;
    stop();
  };
  spec.signal?.addEventListener('abort', onAbort, { once: true });
  // Cancelled while the step was being prepared: an abort listener added now never fires.
  if (spec.signal?.aborted === true) onAbort();

  // The process measured: the leader, or the command a wrapper leader runs (found once).
  let measured = spec.wrapped === true ? undefined : pid;
  const sample = async (): Promise<void> => {
    if (pid === undefined || process.platform !== 'linux') return;
    try {
      if (measured === undefined) {
        // Linux ≥ 3.5 lists a task's children here; bwrap's only child is the command.
        const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
        const first = Number(children.trim().split(' ')[0]);
        if (!(first > 0)) return;
        measured = first;
      }
      const stat = await readFile(`/proc/${measured}/stat`, 'utf8');
      // Fields after the parenthesised command name: utime, stime (14, 15) and cutime,
      // cstime (16, 17) — the CPU of children the leader has waited for, so a `sh -c`
      // leader counts the program it ran once that has exited.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks =
        Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      if (Number.isFinite(ticks)) cpuMs = (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
      const status = await readFile(`/proc/${measured}/status`, 'utf8');
      const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
      if (hwm !== null) peakRssBytes = Math.max(peakRssBytes ?? 0, Number(hwm[1]) * 1024);
    } catch {
      // The process has exited (or is a zombie without these files): keep the last sample.
    }
  };
  const sampler = setInterval(() => void sample(), limits.STEP_SAMPLE_INTERVAL_MS);
  void sample();

  const outcome = await new Promise<{
    exitCode: number | null;
    signal: NodeJS.Signals | null;
    spawnError?: string;
  }>((resolve) => {
    child.once('error', (error) =>
      resolve({ exitCode: null, signal: null, spawnError: error.message }),
    );
    child.once('exit', (exitCode, signal) => resolve({ exitCode, signal }));
  });
  clearInterval(sampler);
  clearTimeout(timeoutTimer);
  clearTimeout(graceTimer);
  spec.signal?.removeEventListener('abort', onAbort);
  // The leader is gone; whatever it forked is still in its group. End it, so no step
  // leaves orphans behind (and so the pipes close).
  killGroup('SIGKILL');
  await Promise.all([finished(stdout), finished(stderr)]);
  const passedOn = spec.wrapped === true ? signalOfWrapperExit(outcome.exitCode) : undefined;
  return {
    exitCode: passedOn === undefined ? outcome.exitCode : null,
    signal: passedOn ?? outcome.signal,
    timedOut,
    aborted,
    spawnError: outcome.spawnError,
    wallMs: performance.now() - started,
    cpuMs,
    peakRssBytes,
    stdoutDropped: stdout.dropped,
    stderrDropped: stderr.dropped,
  };
}

/** bwrap exits 128+N when its command was killed by signal N (like a shell): that signal. */
function signalOfWrapperExit(exitCode: number | null): NodeJS.Signals | undefined {
  if (exitCode === null || exitCode <= 128) return undefined;
  const n = exitCode - 128;
  return (Object.keys(constants.signals) as NodeJS.Signals[]).find(
    (name) => constants.signals[name] === n,
  );
}
