/**
 * Artifacts: files addressed by a path below the artifact root, the way MLflow's
 * artifact proxy addresses them ("<experiment>/<run>/artifacts/model/MLmodel"). Bytes
 * live in the content-addressed blob store; the store keeps path → sha256, so equal
 * files are stored once and a path can never reach outside the root.
 */
import type { Readable } from 'node:stream';
import { MobiusError, safeRelativePath, type Clock } from '../core/index.js';
import type { BlobSource, BlobStore } from '../blobs/index.js';
import { sql, type Store } from '../store/index.js';

/** A file or directory directly inside a listed directory. */
export interface ArtifactEntry {
  /** The entry's path relative to the listed directory (its name). */
  name: string;
  isDir: boolean;
  /** Bytes, for files. */
  size?: number;
}

/** `<experiment>/<32-hex run id>/artifacts/…`: where a run's own files live. */
const RUN_PATH = /^[^/]+\/([0-9a-f]{32})\/artifacts(?:\/|$)/;

/** Media types by extension, for serving; anything active (HTML, SVG, JS) is served as text. */
const MEDIA_TYPES: Record<string, string> = {
  json: 'application/json',
  txt: 'text/plain',
  log: 'text/plain',
  csv: 'text/csv',
  yaml: 'text/plain',
  yml: 'text/plain',
  md: 'text/plain',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  parquet: 'application/octet-stream',
};

/** Stores, reads, lists and deletes artifact files. */
export class ArtifactService {
  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    private readonly clock: Clock,
  ) {}

  /** Writes (or overwrites) the file at `path` from a stream. */
  async put(
    rawPath: string,
    source: BlobSource,
  ): Promise<{ path: string; size: number; sha256: string }> {
    const path = safeRelativePath(rawPath);
    const { sha256, size } = await this.blobs.put(source);
    const runId = RUN_PATH.exec(path)?.[1];
    const now = this.clock.now();
    await this.store.write(async (trx) => {
      // A file cannot sit where a directory is, nor a directory where a file is.
      const clash = await trx
        .selectFrom('artifact')
        .select('path')
        .where((eb) => {
          const dirs = ancestors(path);
          // PostgreSQL rejects an empty IN list, so a top-level file checks only below itself.
          const below = eb('path', 'like', likePrefix(path));
          return dirs.length === 0 ? below : eb.or([eb('path', 'in', dirs), below]);
        })
        .limit(1)
        .executeTakeFirst();
      if (clash !== undefined) {
        throw new MobiusError(
          'CONFLICT',
          `cannot write '${path}': '${clash.path}' already exists and one would have to be a directory`,
        );
      }
      const run =
        runId === undefined
          ? undefined
          : await trx.selectFrom('run').select('id').where('id', '=', runId).executeTakeFirst();
      const row = {
        path,
        run_id: run?.id ?? null,
        sha256,
        size,
        media_type: mediaTypeOf(path),
        created_at: now,
      };
      await trx
        .insertInto('artifact')
        .values(row)
        .onConflict((oc) => oc.column('path').doUpdateSet({ sha256, size, created_at: now }))
        .execute();
    });
    return { path, size, sha256 };
  }

  /** Opens the file at `path` for reading; NOT_FOUND when there is no such file. */
  async open(rawPath: string): Promise<{ stream: Readable; size: number; mediaType: string }> {
    const path = safeRelativePath(rawPath);
    const row = await this.store.db
      .selectFrom('artifact')
      .selectAll()
      .where('path', '=', path)
      .executeTakeFirst();
    if (row === undefined) throw new MobiusError('NOT_FOUND', `no artifact file at '${path}'`);
    return {
      stream: await this.blobs.get(row.sha256),
      size: row.size,
      mediaType: row.media_type ?? 'application/octet-stream',
    };
  }

  /** The files and directories directly inside `dir` ('' for the root), sorted by name. */
  async list(rawDir: string): Promise<ArtifactEntry[]> {
    const dir = safeRelativePath(rawDir, { allowRoot: true });
    let query = this.store.db.selectFrom('artifact').select(['path', 'size']);
    if (dir !== '') query = query.where('path', 'like', likePrefix(dir));
    const rows = await query.execute();
    const entries = new Map<string, ArtifactEntry>();
    const skip = dir === '' ? 0 : dir.length + 1;
    for (const row of rows) {
      const rest = row.path.slice(skip);
      const slash = rest.indexOf('/');
      const name = slash === -1 ? rest : rest.slice(0, slash);
      if (slash === -1) entries.set(name, { name, isDir: false, size: row.size });
      else if (!entries.has(name)) entries.set(name, { name, isDir: true });
    }
    return [...entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Deletes the file at `path`, or everything below it when it is a directory; NOT_FOUND if neither. */
  async delete(rawPath: string): Promise<number> {
    const path = safeRelativePath(rawPath);
    // Bytes stay in the blob store: other paths may share them (garbage collection is separate).
    return this.store.write(async (trx) => {
      const result = await trx
        .deleteFrom('artifact')
        .where((eb) => eb.or([eb('path', '=', path), eb('path', 'like', likePrefix(path))]))
        .executeTakeFirst();
      const deleted = Number(result.numDeletedRows);
      if (deleted === 0)
        throw new MobiusError('NOT_FOUND', `no artifact file or directory at '${path}'`);
      return deleted;
    });
  }
}

/** The relative artifact root of a run, from its `mlflow-artifacts:/…` URI. */
export function runArtifactRoot(artifactUri: string): string {
  const match = /^mlflow-artifacts:\/*(.*)$/.exec(artifactUri);
  if (match === null)
    throw new MobiusError('INTERNAL', `artifact URI '${artifactUri}' is not served by this server`);
  return match[1]!.replace(/\/+$/, '');
}

/** `a/b/c` → ['a', 'a/b']: the directories a file at this path lives in. */
function ancestors(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** A LIKE pattern matching everything below `dir`, with LIKE's wildcards escaped. */
function likePrefix(dir: string) {
  const escaped = dir.replace(/[\\%_]/g, (c) => `\\${c}`);
  return sql<string>`${`${escaped}/%`} escape '\\'`;
}

function mediaTypeOf(path: string): string {
  const dot = path.lastIndexOf('.');
  const ext = dot === -1 ? '' : path.slice(dot + 1).toLowerCase();
  return MEDIA_TYPES[ext] ?? 'application/octet-stream';
}
