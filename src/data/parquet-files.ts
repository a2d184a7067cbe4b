/**
 * Versions' canonical Parquet copies, made readable by one DuckDB session. The file blob
 * store's own files are read in place (each path allowed on its own, read-only by use);
 * anything else (S3) is streamed into a scratch directory first and removed afterwards.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { MobiusError } from '../core/index.js';
import type { BlobStore } from '../blobs/index.js';
import type { Engine, EngineSession, SessionAccess } from '../engine/index.js';
import type { DatasetVersion } from './types.js';

/**
 * Runs `fn` in one engine session that may read the Parquet copy of each version, with
 * `paths[i]` the copy of `versions[i]`.
 *
 * @example
 * await withParquetFiles(blobs, engine, [v], ([p], s) => s.rows(`select count(*) from '${p}'`));
 */
export async function withParquetFiles<T>(
  blobs: BlobStore,
  engine: Engine,
  versions: readonly DatasetVersion[],
  fn: (paths: string[], session: EngineSession) => Promise<T>,
  access: Omit<SessionAccess, 'files' | 'directories'> = {},
): Promise<T> {
  for (const v of versions)
    if (v.parquet === null)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${v.dataset}@${v.version} has no Parquet copy; add it again with this version of Mobius`,
      );
  let scratch: string | undefined;
  try {
    const paths: string[] = [];
    const files: string[] = [];
    for (const [i, v] of versions.entries()) {
      const sha256 = v.parquet!.sha256;
      const local = await blobs.localPath(sha256);
      if (local !== undefined) {
        paths.push(local);
        files.push(local);
        continue;
      }
      if (scratch === undefined) {
        await mkdir(engine.tempDirectory, { recursive: true });
        scratch = await mkdtemp(join(engine.tempDirectory, 'parquet-'));
      }
      const path = join(scratch, `${i}.parquet`);
      await pipeline(await blobs.get(sha256), createWriteStream(path));
      paths.push(path);
    }
    return await engine.withSession(
      { ...access, files, directories: scratch === undefined ? [] : [scratch] },
      (session) => fn(paths, session),
    );
  } finally {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  }
}
