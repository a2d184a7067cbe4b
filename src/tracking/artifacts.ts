/**
 * Artifacts: files addressed by a path below the artifact root, the way MLflow's
 * artifact proxy addresses them ("<experiment>/<run>/artifacts/model/MLmodel"). Bytes
 * live in the content-addressed blob store; the store keeps path → sha256, so equal
 * files are stored once and a path can never reach outside the root.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { MobiusError, limits, safeRelativePath, type Clock } from '../core/index.js';
import type { BlobSource, BlobStore } from '../blobs/index.js';
import { sql, type Kysely, type Database, type Store } from '../store/index.js';
import type { InTransaction } from './runs.js';

/** A file or directory directly inside a listed directory. */
export interface ArtifactEntry {
  /** The entry's path relative to the listed directory (its name). */
  name: string;
  isDir: boolean;
  /** Bytes, for files. */
  size?: number;
}

/** A multipart upload in progress: where it will land and the parts received so far. */
interface MultipartUpload {
  id: string;
  /** The final artifact path (checked). */
  path: string;
  numParts: number;
  /** Who created it; only they may add parts, complete or abort it. */
  owner: string;
  createdAt: number;
  /** Part number → the blob holding its bytes. */
  parts: Map<number, { sha256: string; size: number }>;
  /** Blobs this upload stored that did not exist before: the only ones it may delete. */
  created: Set<string>;
}

/** A part listed in a complete request: its number and the ETag its upload answered with. */
export interface CompletedPart {
  partNumber: number;
  etag: string;
}

/** Upload ids: 128 random bits, so one cannot be guessed (the part URL is its capability). */
const UPLOAD_ID = /^[0-9a-f]{32}$/;

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

/**
 * Stores, reads, lists and deletes artifact files, and assembles multipart uploads.
 *
 * Multipart uploads follow MLflow's artifact proxy protocol (create → PUT each part →
 * complete, or abort): each part is stored as a blob as it arrives and the parts are
 * streamed, in order, into the final blob on complete. Upload state lives in this process's
 * memory, so an upload must complete on the server that created it and a restart forgets
 * open uploads (the client then fails and starts over); the limits are in core/limits.ts.
 */
export class ArtifactService {
  readonly #uploads = new Map<string, MultipartUpload>();

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
    const blob = await this.blobs.put(source);
    return this.record(path, blob);
  }

  /**
   * Makes the file at `path` the blob `blob`, already in the blob store (the pipeline
   * runner's step outputs: stored once, not read back and stored again). In `options.trx`
   * when given (the runner's step-end transaction), else in a transaction of its own.
   */
  async record(
    rawPath: string,
    blob: { sha256: string; size: number },
    options: InTransaction = {},
  ): Promise<{ path: string; size: number; sha256: string }> {
    const path = safeRelativePath(rawPath);
    const { sha256, size } = blob;
    const runId = RUN_PATH.exec(path)?.[1];
    const now = this.clock.now();
    const write = async (trx: Kysely<Database>): Promise<void> => {
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
    };
    if (options.trx === undefined) await this.store.write(write);
    else await write(options.trx);
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
  /**
   * Starts a multipart upload of `numParts` parts to `path` (already checked with
   * artifactFilePath); returns the upload id that names it in every later call.
   */
  createMultipartUpload(path: string, numParts: number, owner: string): string {
    if (!Number.isSafeInteger(numParts) || numParts < 1 || numParts > limits.MAX_MULTIPART_PARTS)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `num_parts must be between 1 and ${limits.MAX_MULTIPART_PARTS}, not ${numParts}`,
      );
    this.#expireUploads();
    if (this.#uploads.size >= limits.MAX_OPEN_MULTIPART_UPLOADS)
      throw new MobiusError(
        'RESOURCE_EXHAUSTED',
        `${this.#uploads.size} multipart uploads are already open on this server; complete or abort some, or retry later`,
      );
    const id = randomBytes(16).toString('hex');
    this.#uploads.set(id, {
      id,
      path: safeRelativePath(path),
      numParts,
      owner,
      createdAt: this.clock.now(),
      parts: new Map(),
      created: new Set(),
    });
    return id;
  }

  /**
   * Stores part `partNumber` of an upload from a stream; sending a part again replaces it.
   * Returns the part's sha256, which is its ETag.
   */
  async putMultipartPart(
    uploadId: string,
    partNumber: number,
    owner: string,
    source: BlobSource,
  ): Promise<{ sha256: string; size: number }> {
    const upload = this.#upload(uploadId, owner);
    if (!Number.isSafeInteger(partNumber) || partNumber < 1 || partNumber > upload.numParts)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `part number must be between 1 and ${upload.numParts} for this upload, not ${partNumber}`,
      );
    const { sha256, size, created } = await this.blobs.put(source);
    if (created) upload.created.add(sha256);
    if (this.#uploads.get(uploadId) !== upload) {
      // Completed or aborted while this part was arriving: its bytes belong to nothing.
      await this.#releaseBlobs(created ? [sha256] : []);
      throw new MobiusError('NOT_FOUND', `multipart upload '${uploadId}' is no longer open`);
    }
    upload.parts.set(partNumber, { sha256, size });
    return { sha256, size };
  }

  /**
   * Assembles the listed parts, in order, into the file at `path` and closes the upload.
   * Parts must be listed in ascending order, each uploaded, with the ETag its upload gave.
   */
  async completeMultipartUpload(
    uploadId: string,
    path: string,
    parts: readonly CompletedPart[],
    owner: string,
  ): Promise<{ path: string; size: number; sha256: string }> {
    const upload = this.#upload(uploadId, owner, path);
    if (parts.length === 0)
      throw new MobiusError('INVALID_ARGUMENT', 'a multipart upload needs at least one part');
    const blobs: string[] = [];
    let previous = 0;
    for (const part of parts) {
      if (part.partNumber <= previous)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `parts must be listed in ascending order of part_number without repeats; ${part.partNumber} follows ${previous}`,
        );
      previous = part.partNumber;
      const stored = upload.parts.get(part.partNumber);
      if (stored === undefined)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `part ${part.partNumber} of upload '${uploadId}' was never uploaded`,
        );
      if (part.etag.replace(/^(W\/)?"|"$/g, '') !== stored.sha256)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `part ${part.partNumber}: ETag '${part.etag}' does not match the uploaded part; upload it again`,
        );
      blobs.push(stored.sha256);
    }
    // Taken out of the open set before the (slow) assembly, so a concurrent complete or
    // abort cannot work on it too.
    this.#uploads.delete(uploadId);
    try {
      return await this.put(upload.path, this.#concat(blobs));
    } finally {
      await this.#releaseBlobs([...upload.created]);
    }
  }

  /** Abandons an upload and deletes the parts it stored. */
  async abortMultipartUpload(uploadId: string, path: string, owner: string): Promise<void> {
    const upload = this.#upload(uploadId, owner, path);
    this.#uploads.delete(uploadId);
    await this.#releaseBlobs([...upload.created]);
  }

  /** The open upload `id` of `owner` (to `path`, when given); NOT_FOUND otherwise. */
  #upload(id: string, owner: string, path?: string): MultipartUpload {
    this.#expireUploads();
    const upload = UPLOAD_ID.test(id) ? this.#uploads.get(id) : undefined;
    // Someone else's upload is reported exactly like a missing one: ids are not to be probed.
    if (upload === undefined || upload.owner !== owner)
      throw new MobiusError('NOT_FOUND', `no open multipart upload with id '${id.slice(0, 64)}'`);
    if (path !== undefined && safeRelativePath(path) !== upload.path)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `multipart upload '${id}' writes '${upload.path}', not '${path}'`,
      );
    return upload;
  }

  /** Forgets uploads older than MULTIPART_UPLOAD_TTL_MS and deletes their parts (in the background). */
  #expireUploads(): void {
    const cutoff = this.clock.now() - limits.MULTIPART_UPLOAD_TTL_MS;
    const expired = [...this.#uploads.values()].filter((u) => u.createdAt < cutoff);
    for (const upload of expired) this.#uploads.delete(upload.id);
    const blobs = expired.flatMap((u) => [...u.created]);
    if (blobs.length > 0) this.#releaseBlobs(blobs).catch(() => undefined);
  }

  /** The bytes of `blobs`, one after another. */
  async *#concat(blobs: readonly string[]): AsyncIterable<Uint8Array> {
    for (const sha256 of blobs) {
      const stream = await this.blobs.get(sha256);
      for await (const chunk of stream) yield chunk as Uint8Array;
    }
  }

  /**
   * Deletes part blobs no artifact and no open upload refers to. Blobs are content
   * addressed, so a part may hold the same bytes as a file stored meanwhile; those stay.
   */
  async #releaseBlobs(blobs: readonly string[]): Promise<void> {
    const candidates = [...new Set(blobs)].filter(
      (sha) =>
        ![...this.#uploads.values()].some((u) =>
          [...u.parts.values()].some((p) => p.sha256 === sha),
        ),
    );
    if (candidates.length === 0) return;
    const used = await this.store.db
      .selectFrom('artifact')
      .select('sha256')
      .where('sha256', 'in', candidates)
      .execute();
    const keep = new Set(used.map((r) => r.sha256));
    for (const sha of candidates) if (!keep.has(sha)) await this.blobs.delete(sha);
  }
}

/** Joins a directory and a file name sent by a client into a checked artifact path. */
export function artifactFilePath(rawDir: string, fileName: string): string {
  // MLflow's client sends its local path; like its S3 repository, keep only the base name
  // (splitting on '\\' too, for clients on Windows).
  const base = fileName.split(/[/\\]/).pop() ?? '';
  if (base === '' || base === '.' || base === '..')
    throw new MobiusError('INVALID_ARGUMENT', `'${fileName}' does not name a file`);
  const dir = safeRelativePath(rawDir, { allowRoot: true });
  return safeRelativePath(dir === '' ? base : `${dir}/${base}`);
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
