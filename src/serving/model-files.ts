/**
 * An MLflow model directory whose files live in the blob store (how a registry version's
 * artifacts are kept), copied back into a real directory for the Python runtime to load.
 * Paths come from users (artifact paths), so each is checked with safeRelativePath before
 * anything is written: a `../` entry must not write outside the scratch directory.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from '../blobs/index.js';
import { MobiusError, safeRelativePath } from '../core/index.js';

/** One file of a model directory: its path inside the directory and its blob's sha256. */
export interface ModelFile {
  path: string;
  blob: string;
}

/**
 * Writes `files` under `directory` (which must exist); refuses unsafe or duplicate paths
 * and a file set without an `MLmodel` at its root.
 *
 * @example
 * await materialiseFiles(blobs, [{ path: 'MLmodel', blob: sha }, …], scratchDir);
 */
export async function materialiseFiles(
  blobs: BlobStore,
  files: readonly ModelFile[],
  directory: string,
): Promise<void> {
  const paths = new Set<string>();
  for (const file of files) {
    const path = safeRelativePath(file.path);
    if (paths.has(path))
      throw new MobiusError('INVALID_ARGUMENT', `the model's files name '${path}' twice`);
    paths.add(path);
  }
  if (!paths.has('MLmodel'))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `the model's files have no MLmodel at their root (got ${[...paths].slice(0, 10).join(', ') || 'none'}); give the files of an MLflow model directory, with paths relative to it`,
    );
  for (const file of files) {
    const target = join(directory, safeRelativePath(file.path));
    const info = await blobs.stat(file.blob);
    if (info === undefined)
      throw new MobiusError(
        'NOT_FOUND',
        `no stored blob ${file.blob} for model file '${file.path}'`,
      );
    mkdirSync(dirname(target), { recursive: true });
    await pipeline(await blobs.get(file.blob), createWriteStream(target));
  }
}
