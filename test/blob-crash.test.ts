/**
 * A put killed midway (SIGKILL: no cleanup, no finally) must leave nothing visible under
 * a hash: only a temp file, which a later open sweeps, and the same put can then succeed.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../src/blobs/index.js';
import { hashStream, MiB, patternedStream } from './fixtures/blob-stream.js';
import { fixture, spawnTs } from './helpers/child.js';

/** Big enough that the writer (paced at ≥ 2 ms a MiB) is still busy when it is killed. */
const TOTAL = 512 * MiB;
/** Kill once this much has reached the temp file on disk. */
const KILL_AFTER = 24 * MiB;

let dir: string;
let root: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mobius-blob-crash-'));
  root = join(dir, 'blobs');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Files under the store root, relative to it. */
async function filesUnder(path: string): Promise<string[]> {
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(path, join(entry.parentPath, entry.name)))
    .sort();
}

/** Starts the writer and SIGKILLs it once it reports KILL_AFTER bytes on disk. */
async function killWriterMidway(): Promise<number> {
  const child = spawnTs(fixture('blob-crash-writer.ts'), [root, String(TOTAL)]);
  let stderr = '';
  child.stderr?.on('data', (data: Buffer) => (stderr += data.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  const written = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (data: Buffer) => {
      buffered += data.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const match = /^written (\d+)$/.exec(line);
        if (match !== null && Number(match[1]) >= KILL_AFTER) {
          child.kill('SIGKILL');
          resolve(Number(match[1]));
        } else if (line.startsWith('done')) {
          reject(new Error('the writer finished before it could be killed; raise TOTAL'));
        }
      }
    });
    void exited.then((how) =>
      reject(new Error(`the writer exited (${String(how)}) before being killed: ${stderr}`)),
    );
  });
  expect(await exited).toBe('SIGKILL');
  return written;
}

describe('filesystem blob store under SIGKILL', () => {
  it(
    'leaves nothing under a hash when a put is killed midway, and the put can be redone',
    { timeout: 120_000 },
    async () => {
      const written = await killWriterMidway();
      expect(written).toBeGreaterThanOrEqual(KILL_AFTER);
      const expected = await hashStream(patternedStream(TOTAL));

      // Only the partial temp file exists; no path under a hash, complete or not.
      const files = await filesUnder(root);
      expect(files.filter((path) => !path.startsWith('tmp/'))).toEqual([]);
      const temps = files.filter((path) => path.startsWith('tmp/'));
      expect(temps).toHaveLength(1);
      expect((await stat(join(root, temps[0]!))).size).toBeLessThan(TOTAL);

      // A fresh open does not mistake the fresh leftover for garbage yet…
      const store = await FsBlobStore.open(root);
      expect(await store.exists(expected.sha256)).toBe(false);
      await expect(store.get(expected.sha256)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await filesUnder(join(root, 'tmp'))).toHaveLength(1);

      // …and one an hour or more later sweeps it.
      const later = await FsBlobStore.open(root, { now: () => Date.now() + 2 * 60 * 60 * 1000 });
      expect(await filesUnder(join(root, 'tmp'))).toEqual([]);

      // The same content now stores normally and reads back whole.
      const put = await later.put(patternedStream(TOTAL));
      expect(put).toEqual({ ...expected, created: true });
      expect(await hashStream(await later.get(put.sha256))).toEqual(expected);
      expect(await filesUnder(root)).toEqual([relative(root, later.pathOf(expected.sha256))]);
    },
  );
});
