/**
 * Code identity and environment of a run (ARCHITECTURE §4): which commit, whether the
 * work tree differed from it (and how, as a hash), which dependency lockfile, which
 * runtime. Captured as run tags, with MLflow's names where MLflow has one.
 *
 * Git runs through execFile with a timeout and is optional: outside a checkout, without
 * git, or when git hangs, the run starts anyway with the tags that could be read.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { arch, platform, userInfo } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';

/** MLflow's own tag names (mlflow/utils/mlflow_tags.py). */
export const SOURCE_TAGS = {
  commit: 'mlflow.source.git.commit',
  branch: 'mlflow.source.git.branch',
  name: 'mlflow.source.name',
  type: 'mlflow.source.type',
  user: 'mlflow.user',
} as const;

/** Mobius' tags for what MLflow does not record. */
export const MOBIUS_TAGS = {
  /** sha256 of `git diff HEAD`; absent when the tracked files match the commit. */
  dirtyHash: 'mobius.source.git.dirty_hash',
  /** sha256 of the lockfile's bytes, and which lockfile it was. */
  lockfileHash: 'mobius.source.lockfile_hash',
  lockfile: 'mobius.source.lockfile',
  node: 'mobius.env.node',
  platform: 'mobius.env.platform',
  arch: 'mobius.env.arch',
} as const;

/** Lockfiles looked for at the repository root, first found wins (JS first: this is a JS SDK). */
export const LOCKFILES = [
  'package-lock.json',
  'pnpm-lock.yaml',
  'yarn.lock',
  'poetry.lock',
  'uv.lock',
  'requirements.txt',
] as const;

export interface CodeIdentityOptions {
  /** Where to look for the checkout; default `process.cwd()`. */
  cwd?: string;
  /** The entry script, for `mlflow.source.name`; default `process.argv[1]`. */
  entryPoint?: string | undefined;
  /** Per git command; default 5000 ms. */
  timeoutMs?: number;
  /** The git executable; default `git` from PATH. */
  gitBinary?: string;
}

/**
 * The code-identity and environment tags for a run started from `cwd`.
 *
 * @example
 * const tags = await captureCodeIdentity({ cwd: process.cwd() });
 * tags['mlflow.source.git.commit']; // 'a1b2…' inside a git checkout
 */
export async function captureCodeIdentity(
  options: CodeIdentityOptions = {},
): Promise<Record<string, string>> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const timeout = options.timeoutMs ?? 5000;
  const git = (args: string[], maxBuffer = 1024 * 1024) =>
    run(options.gitBinary ?? 'git', args, cwd, timeout, maxBuffer);

  const tags: Record<string, string> = {
    [SOURCE_TAGS.type]: 'LOCAL',
    [MOBIUS_TAGS.node]: process.version,
    [MOBIUS_TAGS.platform]: platform(),
    [MOBIUS_TAGS.arch]: arch(),
  };
  const user = username();
  if (user !== undefined) tags[SOURCE_TAGS.user] = user;

  const top = (await git(['rev-parse', '--show-toplevel']))?.trim();
  const root = top === undefined || top === '' ? undefined : top;
  if (root !== undefined) {
    const commit = (await git(['rev-parse', '--verify', '--quiet', 'HEAD']))?.trim();
    if (commit !== undefined && /^[0-9a-f]{40,64}$/.test(commit)) {
      tags[SOURCE_TAGS.commit] = commit;
      // Tracked changes only: untracked files are not part of `git diff HEAD`. Binary
      // changes show as "Binary files differ" lines, which still change the hash.
      const diff = await git(['diff', 'HEAD', '--no-color', '--no-ext-diff'], 256 * 1024 * 1024);
      if (diff !== undefined && diff !== '') tags[MOBIUS_TAGS.dirtyHash] = sha256(diff);
    }
    const branch = (await git(['rev-parse', '--abbrev-ref', 'HEAD']))?.trim();
    if (branch !== undefined && branch !== '' && branch !== 'HEAD')
      tags[SOURCE_TAGS.branch] = branch;
  }

  const entry = options.entryPoint ?? process.argv[1];
  if (entry !== undefined && entry !== '') {
    const abs = resolve(cwd, entry);
    const rel = root === undefined ? undefined : relative(root, abs);
    // Inside the checkout: the path from its root (stable across machines); else the file name.
    tags[SOURCE_TAGS.name] =
      rel !== undefined && !rel.startsWith('..') && rel !== '' ? rel : basename(abs);
  }

  for (const name of LOCKFILES) {
    const bytes = await readFile(join(root ?? cwd, name)).catch(() => undefined);
    if (bytes !== undefined) {
      tags[MOBIUS_TAGS.lockfileHash] = sha256(bytes);
      tags[MOBIUS_TAGS.lockfile] = name;
      break;
    }
  }
  return tags;
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function username(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined; // no passwd entry (some containers)
  }
}

/** stdout of a command, or undefined if it is missing, fails or times out. */
function run(
  file: string,
  args: string[],
  cwd: string,
  timeout: number,
  maxBuffer: number,
): Promise<string | undefined> {
  return new Promise((done) => {
    execFile(
      file,
      args,
      { cwd, timeout, maxBuffer, encoding: 'utf8', windowsHide: true },
      (error, stdout) => done(error === null ? stdout : undefined),
    );
  });
}
