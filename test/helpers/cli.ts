/** Running the built CLI (`bin/mobius.js` over `dist/`) from tests: `npm run build` first. */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/mobius.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  /** Added to an environment of PATH alone, so the caller's MOBIUS_* never leak in. */
  env?: Record<string, string>;
}

const environment = (env: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? '',
  ...env,
});

/** `mobius …argv`, waiting for it to exit. */
export function runCli(argv: string[], options: CliOptions = {}): CliResult {
  const res = spawnSync(process.execPath, [BIN, ...argv], {
    cwd: options.cwd,
    env: environment(options.env),
    encoding: 'utf8',
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** `mobius …argv` without blocking this process (for a server that lives in it). */
export function runCliAsync(argv: string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], {
      cwd: options.cwd,
      env: environment(options.env),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A running `mobius --json serve …`: where it listens and how to stop it. */
export interface ServingCli {
  url: string;
  version: number;
  stop(): Promise<void>;
}

/**
 * Starts `mobius --json …argv serve …` and resolves once it prints its first line (the
 * address and the version served); rejects with its stderr if it exits first.
 */
export async function startServeCli(argv: string[], options: CliOptions = {}): Promise<ServingCli> {
  const child = spawn(process.execPath, [BIN, '--json', ...argv], {
    cwd: options.cwd,
    env: environment(options.env),
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((r) => child.once('close', r));
  };
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    const started = await new Promise<{ url: string; version: number }>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n'))
          resolve(JSON.parse(out.split('\n')[0]!) as { url: string; version: number });
      });
      child.on('exit', (code) => reject(new Error(`mobius serve exited ${code}: ${err}`)));
    });
    return { ...started, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
