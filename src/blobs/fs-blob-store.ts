/**
 * Blobs on the local filesystem, laid out like git's and DVC's object stores:
 * `<root>/<sha[0:2]>/<sha[2:4]>/<sha>`, two fan-out levels so no directory grows huge.
 *
 * Crash safety: bytes are written to `<root>/tmp/<random>` while being hashed, fsynced,
 * then published under their hash with one atomic directory operation. A process killed
 * mid-put leaves only a temp file (swept by `open`), never a partial blob under a hash.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import {
  link,
  mkdir,
  open,
  readdir,
  rename,
  stat,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashingStream, MobiusError, isMobiusError } from '../core/index.js';
import { checkBlobKey, checkExpectedHash } from './blob-key.js';
import { toReadable } from './blob-source.js';
import type {
  BlobInfo,
  BlobSource,
  BlobStore,
  ByteRange,
  PutOptions,
  PutResult,
  StagedBlob,
} from './blob-store.js';
import { stageWith } from './blob-store.js';
import { checkRange, resolveRange } from './byte-range.js';

/** Temp files older than this are leftovers of killed puts; no live put takes an hour to start. */
const STALE_TEMP_MS = 60 * 60 * 1000;

/**
 * Blob files are read-only: a content-addressed file edited in place would silently stop
 * matching its name (DVC protects its cache the same way).
 */
const BLOB_FILE_MODE = 0o444;

/** Options of `FsBlobStore.open`. */
export interface FsBlobStoreOptions {
  /** Temp files older than this many ms are deleted on open (default one hour). */
  staleTempMs?: number;
  /** Clock for the stale-temp sweep; tests pass a fixed one. */
  now?: () => number;
}

/** A BlobStore on a local directory. */
export class FsBlobStore implements BlobStore {
  readonly kind = 'file' as const;
  readonly root: string;
  readonly #tmp: string;
  #closed = false;

  private constructor(root: string) {
    this.root = root;
    this.#tmp = join(root, 'tmp');
  }

  /** Opens (creating if needed) a store rooted at the absolute directory `root`, sweeping stale temp files. */
  static async open(root: string, options: FsBlobStoreOptions = {}): Promise<FsBlobStore> {
    const store = new FsBlobStore(root);
    await fsCall('open the blob directory', () => mkdir(store.#tmp, { recursive: true }));
    await store.#sweepTemp(options.staleTempMs ?? STALE_TEMP_MS, (options.now ?? Date.now)());
    return store;
  }

  /** Where the blob `sha256` lives (whether or not it is stored); the key must be valid. */
  pathOf(sha256: string): string {
    const key = checkBlobKey(sha256);
    return join(this.root, key.slice(0, 2), key.slice(2, 4), key);
  }

  /** Streams `source` to a temp file while hashing, fsyncs it, then publishes it under its hash. */
  async put(source: BlobSource, options: PutOptions = {}): Promise<PutResult> {
    const expected =
      options.expectedSha256 === undefined
        ? undefined
        : checkBlobKey(options.expectedSha256, 'expectedSha256');
    const staged = await this.stage(source);
    try {
      checkExpectedHash(expected, staged.sha256);
      return await staged.publish();
    } finally {
      // After publishing, the temp name is a second link or already renamed away; after a
      // failure it is all that was written. Either way it must go.
      await staged.discard();
    }
  }

  /** Streams `source` to a temp file while hashing and fsyncs it; see StagedBlob. */
  async stage(source: BlobSource): Promise<StagedBlob> {
    this.#checkOpen();
    const temp = join(this.#tmp, `${Date.now()}-${randomBytes(12).toString('hex')}`);
    const discard = () =>
      unlink(temp).then(
        () => undefined,
        () => undefined,
      );
    return stageWith(
      () => this.#writeTemp(source, temp),
      (info) => {
        this.#checkOpen();
        return this.#publish(temp, this.pathOf(info.sha256), info.size);
      },
      discard,
    );
  }

  /** Streams the blob, or bytes `range.start..range.end` of it. */
  async get(sha256: string, range?: ByteRange): Promise<Readable> {
    const path = this.pathOf(sha256);
    this.#checkOpen();
    checkRange(range);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (cause) {
      if (errno(cause) === 'ENOENT') throw notFound(sha256);
      throw fsFailure(`read blob ${sha256}`, cause);
    }
    // The open handle keeps the bytes readable even if the blob is deleted meanwhile.
    try {
      if (range === undefined) return handle.createReadStream();
      const { size } = await handle.stat();
      return handle.createReadStream(resolveRange(range, size, sha256));
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** The blob's size, or undefined if it is not stored. */
  async stat(sha256: string): Promise<BlobInfo | undefined> {
    const path = this.pathOf(sha256);
    this.#checkOpen();
    try {
      const info = await stat(path);
      return info.isFile() ? { sha256, size: info.size } : undefined;
    } catch (cause) {
      if (errno(cause) === 'ENOENT') return undefined;
      throw fsFailure(`stat blob ${sha256}`, cause);
    }
  }

  /** True if the blob is stored. */
  async exists(sha256: string): Promise<boolean> {
    return (await this.stat(sha256)) !== undefined;
  }

  /** The blob's own file, when stored: DuckDB reads Parquet copies in place instead of copying them. */
  async localPath(sha256: string): Promise<string | undefined> {
    return (await this.stat(sha256)) === undefined ? undefined : this.pathOf(sha256);
  }

  /** Removes the blob; true if it existed. Empty fan-out directories are kept (a concurrent put may be using them). */
  async delete(sha256: string): Promise<boolean> {
    const path = this.pathOf(sha256);
    this.#checkOpen();
    try {
      await unlink(path);
    } catch (cause) {
      if (errno(cause) === 'ENOENT') return false;
      throw fsFailure(`delete blob ${sha256}`, cause);
    }
    await syncDir(dirname(path));
    return true;
  }

  /** Nothing to release; later calls fail so a use-after-close bug shows up in tests. */
  async close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** Writes `source` to `temp` through a hasher and makes the bytes durable. */
  async #writeTemp(source: BlobSource, temp: string): Promise<BlobInfo> {
    const input = toReadable(source);
    const hasher = new HashingStream();
    // flush: fsync before close, so the bytes are on disk before the name is published.
    const sink = createWriteStream(temp, { flags: 'wx', mode: BLOB_FILE_MODE, flush: true });
    // pipeline re-raises the first error on every stream, so remember which one failed
    // first: the caller's source (rethrown as is) or the disk (a Mobius error).
    let firstFailure: 'source' | 'disk' | undefined;
    input.once('error', () => (firstFailure ??= 'source'));
    sink.once('error', () => (firstFailure ??= 'disk'));
    try {
      await pipeline(input, hasher, sink);
    } catch (error) {
      throw firstFailure === 'disk' ? fsFailure('write a blob', error) : error;
    }
    return { sha256: hasher.digest(), size: hasher.size };
  }

  /**
   * Publishes `temp` at `target`. `link` fails with EEXIST instead of replacing, so when
   * several puts of the same bytes race exactly one reports `created: true`; a rename
   * would silently replace and let every racer claim it. Filesystems without hard links
   * fall back to rename, which is still atomic.
   */
  async #publish(temp: string, target: string, size: number): Promise<boolean> {
    const dir = dirname(target);
    const madeDir = await fsCall('create a blob directory', () => mkdir(dir, { recursive: true }));
    if (madeDir !== undefined) {
      // New fan-out directories must themselves be durable entries of their parents.
      await syncDir(dirname(dir));
      await syncDir(this.root);
    }
    let created: boolean;
    try {
      await link(temp, target);
      created = true;
    } catch (cause) {
      switch (errno(cause)) {
        case 'EEXIST':
          created = await this.#repairIfDamaged(temp, target, size);
          break;
        case 'EPERM':
        case 'ENOTSUP':
        case 'EOPNOTSUPP':
        case 'ENOSYS':
          created = !(await this.#isIntact(target, size));
          if (created) await fsCall('publish a blob', () => rename(temp, target));
          break;
        default:
          throw fsFailure('publish a blob', cause);
      }
    }
    await syncDir(dir);
    return created;
  }

  /**
   * An existing blob of the wrong size was damaged outside Mobius (a put never publishes
   * a partial file); the fresh, verified bytes replace it.
   */
  async #repairIfDamaged(temp: string, target: string, size: number): Promise<boolean> {
    if (await this.#isIntact(target, size)) return false;
    await fsCall('repair a damaged blob', () => rename(temp, target));
    return true;
  }

  async #isIntact(target: string, size: number): Promise<boolean> {
    const info = await stat(target).catch(() => undefined);
    return info !== undefined && info.isFile() && info.size === size;
  }

  /** Deletes temp files older than `maxAgeMs`: leftovers of puts whose process was killed. */
  async #sweepTemp(maxAgeMs: number, now: number): Promise<void> {
    const names = await readdir(this.#tmp).catch(() => [] as string[]);
    for (const name of names) {
      const path = join(this.#tmp, name);
      const info = await stat(path).catch(() => undefined);
      if (info !== undefined && now - info.mtimeMs > maxAgeMs) {
        await unlink(path).catch(() => undefined);
      }
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new MobiusError('UNAVAILABLE', 'the blob store has been closed');
  }
}

function notFound(sha256: string): MobiusError {
  return new MobiusError('NOT_FOUND', `blob ${sha256} is not stored`);
}

/** fsyncs a directory so a rename/link/unlink in it survives a power cut. */
async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (cause) {
    // Some platforms (Windows) and filesystems cannot fsync a directory; the data file
    // itself is already synced, so this is best effort there.
    if (!['EISDIR', 'EINVAL', 'EPERM', 'EBADF', 'ENOTSUP'].includes(errno(cause) ?? '')) {
      throw fsFailure(`sync directory ${dir}`, cause);
    }
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

async function fsCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (cause) {
    throw fsFailure(what, cause);
  }
}

/** A filesystem error as a Mobius error: a full disk is RESOURCE_EXHAUSTED, the rest UNAVAILABLE. */
function fsFailure(what: string, cause: unknown): MobiusError {
  if (isMobiusError(cause)) return cause;
  const code = errno(cause);
  const reason = cause instanceof Error ? cause.message : String(cause);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new MobiusError(
      'RESOURCE_EXHAUSTED',
      `could not ${what}: the disk is full (${reason})`,
      {
        cause,
      },
    );
  }
  return new MobiusError('UNAVAILABLE', `could not ${what}: ${reason}`, { cause });
}

function errno(error: unknown): string | undefined {
  const code: unknown = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
