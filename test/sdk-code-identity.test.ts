/** Code identity from a real git checkout in a temp dir: clean, dirty, no git, git hanging. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { captureCodeIdentity, LOCKFILES } from '../src/sdk/index.js';

const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

describe('captureCodeIdentity', () => {
  let dir: string;
  const git = (...args: string[]) =>
    execFileSync(
      'git',
      [
        '-c',
        'user.email=t@example.com',
        '-c',
        'user.name=t',
        '-c',
        'commit.gpgsign=false',
        ...args,
      ],
      { cwd: dir, encoding: 'utf8' },
    );

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mobius-sdk-git-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('outside a checkout: environment tags only, no git tags', async () => {
    const tags = await captureCodeIdentity({ cwd: dir, entryPoint: join(dir, 'train.ts') });
    expect(tags['mobius.env.node']).toBe(process.version);
    expect(tags['mobius.env.platform']).toBe(process.platform);
    expect(tags['mobius.env.arch']).toBe(process.arch);
    expect(tags['mlflow.source.type']).toBe('LOCAL');
    expect(tags['mlflow.source.name']).toBe('train.ts');
    expect(tags['mlflow.source.git.commit']).toBeUndefined();
    expect(tags['mobius.source.git.dirty_hash']).toBeUndefined();
    expect(tags['mobius.source.lockfile_hash']).toBeUndefined();
    expect(Object.values(tags).join(' ')).not.toContain(hostname());
  });

  it('a clean checkout: commit, branch, lockfile hash, entry point relative to the root; no dirty hash', async () => {
    const lock = '{"lockfileVersion":3}\n';
    writeFileSync(join(dir, 'package-lock.json'), lock);
    writeFileSync(join(dir, 'requirements.txt'), 'numpy==2.0\n');
    writeFileSync(join(dir, 'train.ts'), 'console.log(1)\n');
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('commit', '-q', '-m', 'first');
    const head = git('rev-parse', 'HEAD').trim();
    const tags = await captureCodeIdentity({ cwd: dir, entryPoint: join(dir, 'train.ts') });
    expect(tags['mlflow.source.git.commit']).toBe(head);
    expect(tags['mlflow.source.git.branch']).toBe('main');
    expect(tags['mlflow.source.name']).toBe('train.ts');
    expect(tags['mobius.source.git.dirty_hash']).toBeUndefined();
    // package-lock.json comes before requirements.txt in the order looked for.
    expect(LOCKFILES.indexOf('package-lock.json')).toBeLessThan(
      LOCKFILES.indexOf('requirements.txt'),
    );
    expect(tags['mobius.source.lockfile']).toBe('package-lock.json');
    expect(tags['mobius.source.lockfile_hash']).toBe(sha256(lock));
  });

  it('a dirty checkout: the dirty hash is sha256 of `git diff HEAD`, and changes with the diff', async () => {
    writeFileSync(join(dir, 'train.ts'), 'console.log(1)\n');
    writeFileSync(join(dir, 'uv.lock'), 'version = 1\n');
    git('init', '-q');
    git('add', '.');
    git('commit', '-q', '-m', 'first');
    writeFileSync(join(dir, 'train.ts'), 'console.log(2)\n');
    const diff = git('diff', 'HEAD', '--no-color', '--no-ext-diff');
    expect(diff).not.toBe('');
    const tags = await captureCodeIdentity({ cwd: dir });
    expect(tags['mobius.source.git.dirty_hash']).toBe(sha256(diff));
    expect(tags['mobius.source.lockfile']).toBe('uv.lock');
    writeFileSync(join(dir, 'train.ts'), 'console.log(3)\n');
    const again = await captureCodeIdentity({ cwd: dir });
    expect(again['mobius.source.git.dirty_hash']).not.toBe(tags['mobius.source.git.dirty_hash']);
    // Staged changes count too (diff against HEAD, not the index).
    git('add', 'train.ts');
    expect((await captureCodeIdentity({ cwd: dir }))['mobius.source.git.dirty_hash']).toBe(
      again['mobius.source.git.dirty_hash'],
    );
  });

  it('a repository without commits: no commit tag, no failure', async () => {
    git('init', '-q');
    const tags = await captureCodeIdentity({ cwd: dir });
    expect(tags['mlflow.source.git.commit']).toBeUndefined();
    expect(tags['mobius.env.node']).toBe(process.version);
  });

  it('git missing or hanging: the tags that could be read, within the timeout', async () => {
    git('init', '-q');
    writeFileSync(join(dir, 'f'), 'x');
    git('add', '.');
    git('commit', '-q', '-m', 'first');
    const missing = await captureCodeIdentity({ cwd: dir, gitBinary: join(dir, 'no-such-git') });
    expect(missing['mlflow.source.git.commit']).toBeUndefined();
    expect(missing['mobius.env.node']).toBe(process.version);

    const slow = join(dir, 'slow-git');
    writeFileSync(slow, '#!/bin/sh\nsleep 10\n');
    chmodSync(slow, 0o755);
    const started = Date.now();
    const hung = await captureCodeIdentity({ cwd: dir, gitBinary: slow, timeoutMs: 200 });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(hung['mlflow.source.git.commit']).toBeUndefined();
  });
});
