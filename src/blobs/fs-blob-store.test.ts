import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsBlobStore } from './fs-blob-store.js';

const sha256 = (data: string | Uint8Array): string =>
  createHash('sha256').update(data).digest('hex');

let dir: string;
let root: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mobius-fs-blobs-'));
  root = join(dir, 'blobs');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FsBlobStore', () => {
  it('lays blobs out as <root>/<sha[0:2]>/<sha[2:4]>/<sha>', async () => {
    const store = await FsBlobStore.open(root);
    const { sha256: key } = await store.put(Buffer.from('layout'));
    const path = join(root, key.slice(0, 2), key.slice(2, 4), key);
    expect(store.pathOf(key)).toBe(path);
    expect(await readFile(path, 'utf8')).toBe('layout');
  });

  it('makes blob files read-only so they cannot be edited in place', async () => {
    const store = await FsBlobStore.open(root);
    const { sha256: key } = await store.put(Buffer.from('read only'));
    expect((await stat(store.pathOf(key))).mode & 0o777).toBe(0o444);
  });

  it('keeps one file on disk for content put twice', async () => {
    const store = await FsBlobStore.open(root);
    await store.put(Buffer.from('twice'));
    await store.put(Buffer.from('twice'));
    const files = (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) =>
      e.isFile(),
    );
    expect(files.map((e) => e.name)).toEqual([sha256('twice')]);
  });

  it('sweeps temp files older than an hour on open, and keeps newer ones', async () => {
    await FsBlobStore.open(root);
    const old = join(root, 'tmp', 'old-partial');
    const fresh = join(root, 'tmp', 'fresh-partial');
    await writeFile(old, 'partial');
    await writeFile(fresh, 'partial');
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(old, twoHoursAgo, twoHoursAgo);
    await FsBlobStore.open(root);
    expect(await readdir(join(root, 'tmp'))).toEqual(['fresh-partial']);
  });

  it('replaces a stored blob damaged outside Mobius when the same content is put again', async () => {
    const store = await FsBlobStore.open(root);
    const data = Buffer.from('original content');
    const { sha256: key } = await store.put(data);
    const path = store.pathOf(key);
    await chmod(path, 0o644);
    await writeFile(path, 'trunc');
    const again = await store.put(data);
    expect(again.created).toBe(true);
    expect(await readFile(path)).toEqual(data);
  });

  it('rejects a bad key in pathOf before building any path', async () => {
    const store = await FsBlobStore.open(root);
    expect(() => store.pathOf('../../etc/passwd')).toThrow(/sha256/);
  });
});
