/**
 * A version's canonical Parquet copy, materialised from the blob store into a scratch
 * directory below the engine's temp directory, for jobs that scan it (diff, PII scan,
 * mask). The directory is the only place the job's engine session may read, and it is
 * removed when the job ends, whatever happens. (An S3 store could later be read in place.)
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { MobiusError } from '../core/index.js';
import type { BlobStore } from '../blobs/index.js';
import type { Engine } from '../engine/index.js';
import type { DatasetVersion } from './types.js';

/**
 * Writes the Parquet copies of `versions` into a fresh scratch directory (as 0.parquet,
 * 1.parquet…), runs `fn` with the directory and the paths, and removes the directory.
 * `purpose` names what needs the copy, for the error when a version has none.
 */
export async function withParquetCopies<T>(
  versions: readonly DatasetVersion[],
  purpose: string,
  engine: Engine,
  blobs: BlobStore,
  fn: (scratch: string, paths: string[]) => Promise<T>,
): Promise<T> {
  for (const v of versions)
    if (v.parquet === null)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${v.dataset}@${v.version} has no Parquet copy to ${purpose}`,
      );
  await mkdir(engine.tempDirectory, { recursive: true });
  const scratch = await mkdtemp(join(engine.tempDirectory, 'copy-'));
  try {
    const paths: string[] = [];
    for (const [i, v] of versions.entries()) {
      const path = join(scratch, `${i}.parquet`);
      await pipeline(await blobs.get(v.parquet!.sha256), createWriteStream(path));
      paths.push(path);
    }
    return await fn(scratch, paths);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
