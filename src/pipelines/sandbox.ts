/**
 * The command-step sandbox (issue 5, "a step writing outside its output dir"): a command
 * runs under bubblewrap (`bwrap`) with the whole file system read-only and only its own
 * scratch writable — its output dir, its working dir, and a private temp dir — so a
 * write anywhere else fails in the step with EROFS, and nothing outside is changed.
 *
 * Not a security boundary against hostile code: the network, the process table and
 * every readable file stay visible; the point is that a step cannot change the project,
 * the store or another step's files by mistake, and that its outputs are only what it
 * declared. TypeScript steps run in the Mobius process and are not sandboxed.
 */
import { spawn } from 'node:child_process';
import { MobiusError } from '../core/index.js';

/** `pipelines.sandbox`: `auto` = on when bubblewrap works on this machine. */
export type SandboxMode = 'auto' | 'on' | 'off';

/** The sandbox modes, for validation. */
export const SANDBOX_MODES: readonly SandboxMode[] = ['auto', 'on', 'off'];

/** What one command may write, as absolute paths (each must exist). */
export interface SandboxPaths {
  /** Bound writable at the same path: the attempt's output dir, the working dir, the temp dir. */
  writable: readonly string[];
  /** The step's own temp dir (one of `writable`), given as TMPDIR. */
  tmpDir: string;
  /** The output dir named in the failure message when the step writes elsewhere. */
  outputDir: string;
}

/**
 * The bwrap argv that runs `argv` with only `paths` writable. `/dev` is a minimal one
 * with its own /dev/shm (Python's multiprocessing needs it writable); `/proc` this PID
 * namespace's. `--die-with-parent`: if bwrap
 * is killed the command goes too. No new session or PID namespace: the command stays in
 * the step's process group, which the runner kills as a whole.
 */
export function sandboxArgv(
  bwrap: string,
  paths: Pick<SandboxPaths, 'writable'>,
  argv: readonly string[],
): string[] {
  const out = [
    bwrap,
    '--die-with-parent',
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--tmpfs',
    '/dev/shm',
    '--proc',
    '/proc',
  ];
  // /tmp stays visible (read-only) rather than a private tmpfs: a project, its files or
  // the scratch dir often live below /tmp, and a step must read what it read before.
  // Temp files go to TMPDIR, in the step's scratch.
  for (const p of paths.writable) out.push('--bind', p, p);
  out.push('--', ...argv);
  return out;
}

/** Decides, once per process, whether command steps run sandboxed. */
export class CommandSandbox {
  readonly mode: SandboxMode;
  readonly bwrap: string;
  #probe: Promise<string | undefined> | undefined;

  constructor(mode: SandboxMode = 'auto', options: { bwrap?: string } = {}) {
    if (!SANDBOX_MODES.includes(mode))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `pipelines.sandbox must be one of ${SANDBOX_MODES.join(', ')}, not '${String(mode)}'`,
      );
    this.mode = mode;
    this.bwrap = options.bwrap ?? 'bwrap';
  }

  /**
   * Whether to sandbox command steps: false for `off`, the probe's answer for `auto`;
   * for `on`, true or UNAVAILABLE saying why bubblewrap cannot run and what to do.
   */
  async enabled(): Promise<boolean> {
    if (this.mode === 'off') return false;
    // Checked once: a run of 1,000 command steps starts bwrap 1,000 times, not 2,000.
    this.#probe ??= probe(this.bwrap);
    const problem = await this.#probe;
    if (problem === undefined) return true;
    if (this.mode === 'auto') return false;
    throw new MobiusError(
      'UNAVAILABLE',
      `pipelines.sandbox is 'on' but bubblewrap cannot run here: ${problem}; install it (Debian/Ubuntu: apt-get install bubblewrap), or set pipelines.sandbox to 'auto' (sandbox when available) or 'off'`,
    );
  }
}

/** Runs `bwrap … true` with the binds a step uses; undefined when it works, else why not. */
function probe(bwrap: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const argv = sandboxArgv(bwrap, { writable: [] }, ['true']);
    let stderr = '';
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 2000) stderr += chunk.toString();
    });
    child.once('error', (error) => resolve(`'${bwrap}' could not be started (${error.message})`));
    child.once('exit', (code, signal) =>
      resolve(
        code === 0
          ? undefined
          : `'${bwrap}' failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no message'}`,
      ),
    );
  });
}

/**
 * The failure message of a sandboxed step whose stderr shows a write refused by the
 * sandbox (EROFS): to one of its inputs (named in the error), or anywhere else.
 */
export function outsideWriteReason(
  outputDir: string,
  outputs: readonly string[],
  inputs: Readonly<Record<string, string>>,
  stderrTail: string,
): string | undefined {
  const refused = stderrTail.split('\n').filter((line) => /Read-only file system|EROFS/.test(line));
  if (refused.length === 0) return undefined;
  const input = Object.entries(inputs).find(([, path]) =>
    refused.some((line) => line.includes(path)),
  );
  if (input !== undefined)
    return `step tried to write its input '${input[0]}'; inputs are read-only copies: write results to an output instead`;
  const vars =
    outputs.length === 0
      ? 'declare an output and write it to $MOBIUS_OUTPUT_<NAME>'
      : `write outputs to ${outputs.map((o) => `$MOBIUS_OUTPUT_${o.toUpperCase()}`).join(', ')}`;
  return `the step wrote outside its output directory ${outputDir} (Read-only file system: in the sandbox a command may write only its outputs, its working dir and $TMPDIR); ${vars}, or set sandbox: false on the step if it must write elsewhere`;
}
