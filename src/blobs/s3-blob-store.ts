/**
 * Blobs in any S3-compatible service (AWS S3, MinIO, SeaweedFS, R2, …), keyed
 * `<prefix><sha[0:2]>/<sha>`: a short fan-out prefix spreads keys across partitions
 * the way S3 recommends, without the deep tree a filesystem needs.
 *
 * Crash safety mirrors the filesystem store: bytes stream to `<prefix>tmp/<random>`
 * while being hashed, and only a finished, hashed upload is copied (server-side) to
 * its final key. A killed put leaves a temp object or an incomplete multipart upload,
 * never a partial object under a hash; `open` sweeps old ones, and a bucket lifecycle
 * rule on `<prefix>tmp/` (expire objects, abort incomplete uploads) covers the rest.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { HashingStream, MobiusError, isMobiusError, type MobiusConfig } from '../core/index.js';
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
import { checkRange, rangeHeader, rangeNotSatisfiable } from './byte-range.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * Upload part size: S3's minimum. A put holds roughly partSize × (queueSize + 2) live
 * (parts in flight, the part being filled, lib-storage's concatenation copy), plus the
 * garbage V8 lets build up before collecting it. Measured on a 1 GiB put: 5 MiB parts
 * peak at +63–70 MB RSS, 8 MiB parts at +91–97 MB (test/blobs-conformance.test.ts).
 * The price: 10,000 parts (S3's maximum) of 5 MiB cap one blob at ~48.8 GiB; raise
 * `partSize` for larger blobs.
 */
const DEFAULT_PART_SIZE = 5 * MiB;
/** Parts uploaded at once: two keeps the connection busy while the next part fills. */
const DEFAULT_QUEUE_SIZE = 2;
/** CopyObject copies at most 5 GiB in one request (S3 limit); larger blobs copy in parts. */
const SINGLE_COPY_LIMIT = 5 * GiB;
/** Part size of a multipart server-side copy: 10,000 × 512 MiB allows ~5 TiB, S3's object limit. */
const DEFAULT_COPY_PART_SIZE = 512 * MiB;
/** Parts copied at once in a multipart copy; each is server-side, so this is only requests in flight. */
const COPY_CONCURRENCY = 4;
/** Temp objects older than this are leftovers of killed puts. */
const STALE_TEMP_MS = 60 * 60 * 1000;

/** Options of `S3BlobStore.open`. */
export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix, e.g. `mobius/`; a missing trailing slash is added. */
  prefix?: string;
  /** Endpoint, region, path style and credentials, as the config loader resolves them. */
  s3: MobiusConfig['s3'];
  /** Create the bucket if it does not exist (tests, first-time setup); otherwise a missing bucket fails open. */
  createBucket?: boolean;
  /** Upload part size in bytes (≥ 5 MiB, S3's minimum). */
  partSize?: number;
  /** Parts uploaded at once. */
  queueSize?: number;
  /** Blobs larger than this are published with a multipart copy; tests lower it to exercise that path. */
  multipartCopyThreshold?: number;
  /** Part size of the multipart copy (≥ 5 MiB). */
  copyPartSize?: number;
  /** Temp objects older than this many ms are deleted on open (default one hour). */
  staleTempMs?: number;
}

/** A BlobStore on an S3 bucket. */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3' as const;
  readonly bucket: string;
  readonly prefix: string;
  readonly #client: S3Client;
  readonly #partSize: number;
  readonly #queueSize: number;
  readonly #copyThreshold: number;
  readonly #copyPartSize: number;
  /** Cleared if the service rejects conditional copies (`If-None-Match`) as unimplemented. */
  #conditionalWrites = true;
  #closed = false;

  private constructor(client: S3Client, options: S3BlobStoreOptions) {
    this.#client = client;
    this.bucket = options.bucket;
    this.prefix = normalisePrefix(options.prefix ?? '');
    this.#partSize = options.partSize ?? DEFAULT_PART_SIZE;
    this.#queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
    this.#copyThreshold = Math.min(
      options.multipartCopyThreshold ?? SINGLE_COPY_LIMIT,
      SINGLE_COPY_LIMIT,
    );
    this.#copyPartSize = options.copyPartSize ?? DEFAULT_COPY_PART_SIZE;
    if (this.#partSize < 5 * MiB || this.#copyPartSize < 5 * MiB) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        'S3 part sizes must be at least 5 MiB (the S3 minimum)',
      );
    }
  }

  /** Connects, checks (or creates) the bucket, and sweeps stale temp objects. */
  static async open(options: S3BlobStoreOptions): Promise<S3BlobStore> {
    const store = new S3BlobStore(createClient(options.s3), options);
    try {
      await store.#ensureBucket(options.createBucket ?? false);
      await store.#sweepTemp(options.staleTempMs ?? STALE_TEMP_MS);
    } catch (error) {
      store.#client.destroy();
      throw error;
    }
    return store;
  }

  /** The object key of blob `sha256`; the key must be valid. */
  keyOf(sha256: string): string {
    const key = checkBlobKey(sha256);
    return `${this.prefix}${key.slice(0, 2)}/${key}`;
  }

  /** Uploads `source` to a temp key while hashing, then copies it server-side to its hash key. */
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
      // Whether published or failed, the temp object has served its purpose.
      await staged.discard();
    }
  }

  /** Uploads `source` to a temp key while hashing; see StagedBlob. */
  async stage(source: BlobSource): Promise<StagedBlob> {
    this.#checkOpen();
    const tempKey = `${this.prefix}tmp/${Date.now()}-${randomBytes(12).toString('hex')}`;
    // A failure here only leaves garbage for the sweep, so it must not fail the caller.
    const discard = () =>
      this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: tempKey })).then(
        () => undefined,
        () => undefined,
      );
    return stageWith(
      () => this.#uploadTemp(source, tempKey),
      (info) => {
        this.#checkOpen();
        return this.#publish(tempKey, this.keyOf(info.sha256), info.size);
      },
      discard,
    );
  }

  /** Streams the blob, or bytes `range.start..range.end` of it. */
  async get(sha256: string, range?: ByteRange): Promise<Readable> {
    const key = this.keyOf(sha256);
    this.#checkOpen();
    checkRange(range);
    try {
      const response = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range === undefined ? {} : { Range: rangeHeader(range) }),
        }),
      );
      if (!(response.Body instanceof Readable)) {
        throw new MobiusError(
          'INTERNAL',
          'the S3 client returned a body that is not a Node stream',
        );
      }
      if (range !== undefined && response.ContentRange === undefined) {
        // A service that ignores Range answers 200 with the whole object; passing that
        // off as the range would silently hand the caller the wrong bytes.
        response.Body.destroy();
        throw new MobiusError(
          'UNAVAILABLE',
          'the S3 service ignored the Range header of a ranged read',
        );
      }
      return response.Body;
    } catch (cause) {
      if (isMissingObject(cause)) throw notFound(sha256);
      if (range !== undefined && statusOf(cause) === 416) throw rangeNotSatisfiable(range, sha256);
      throw s3Failure(`read blob ${sha256}`, cause);
    }
  }

  /** The blob's size, or undefined if it is not stored. */
  async stat(sha256: string): Promise<BlobInfo | undefined> {
    const key = this.keyOf(sha256);
    this.#checkOpen();
    const size = await this.#headSize(key, `stat blob ${sha256}`);
    return size === undefined ? undefined : { sha256, size };
  }

  /** True if the blob is stored. */
  async exists(sha256: string): Promise<boolean> {
    return (await this.stat(sha256)) !== undefined;
  }

  /** Never: S3 objects are streamed (`get`) into a scratch file before DuckDB reads them. */
  localPath(_sha256: string): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }

  /** Removes the blob; true if it existed (S3's DELETE does not say, so it is checked first). */
  async delete(sha256: string): Promise<boolean> {
    const key = this.keyOf(sha256);
    this.#checkOpen();
    if ((await this.#headSize(key, `stat blob ${sha256}`)) === undefined) return false;
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (cause) {
      throw s3Failure(`delete blob ${sha256}`, cause);
    }
    return true;
  }

  /** Closes the client's connection pool. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#client.destroy();
    }
    return Promise.resolve();
  }

  /**
   * Streams `source` through a hasher into a temp object with bounded memory
   * (lib-storage's Upload holds about queueSize + 2 parts; see DEFAULT_PART_SIZE).
   */
  async #uploadTemp(source: BlobSource, tempKey: string): Promise<BlobInfo> {
    const input = toReadable(source);
    const hasher = new HashingStream();
    // Upload guesses a body's length from `.size`, which on HashingStream means "bytes so
    // far" (0); a plain PassThrough gives it nothing to guess from, so it streams.
    const body = new PassThrough();
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.bucket, Key: tempKey, Body: body },
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      leavePartsOnError: false,
    });
    // Errors propagate to every stream, so remember which side failed first: the caller's
    // source (rethrown as is, it is their error) or the upload (S3 is unavailable).
    let firstFailure: 'source' | 'upload' | undefined;
    input.once('error', () => (firstFailure ??= 'source'));
    const sending = upload.done().catch((error: unknown) => {
      firstFailure ??= 'upload';
      // A failed upload stops reading; without this the source would stall forever.
      body.destroy(error instanceof Error ? error : new Error(String(error)));
      throw error;
    });
    const [fed, sent] = await Promise.allSettled([pipeline(input, hasher, body), sending]);
    if (fed.status === 'rejected' && firstFailure !== 'upload') throw fed.reason;
    if (sent.status === 'rejected') throw s3Failure('upload a blob', sent.reason);
    if (fed.status === 'rejected') throw s3Failure('upload a blob', fed.reason);
    return { sha256: hasher.digest(), size: hasher.size };
  }

  /**
   * Copies the temp object to its final key unless that key already exists. The copy is
   * conditional (`If-None-Match: *`), so of several puts racing with the same bytes only
   * one reports `created: true` on services that honour it (AWS, SeaweedFS); elsewhere
   * the racers copy identical bytes over each other, which is harmless.
   */
  async #publish(tempKey: string, finalKey: string, size: number, attempt = 1): Promise<boolean> {
    if ((await this.#headSize(finalKey, 'check for an existing blob')) !== undefined) return false;
    try {
      if (size > this.#copyThreshold) {
        await this.#multipartCopy(tempKey, finalKey, size);
      } else {
        await this.#client.send(
          new CopyObjectCommand({
            Bucket: this.bucket,
            Key: finalKey,
            CopySource: copySource(this.bucket, tempKey),
            ...(this.#conditionalWrites ? { IfNoneMatch: '*' } : {}),
          }),
        );
      }
      return true;
    } catch (cause) {
      const status = statusOf(cause);
      // 412: another put published the same bytes first.
      if (status === 412) return false;
      // 409: another put is publishing them right now; look again once it has finished.
      // 501: the service does not implement conditional writes; copy unconditionally.
      const retry = status === 409 || (status === 501 && this.#conditionalWrites);
      if (retry && attempt < 3) {
        if (status === 501) this.#conditionalWrites = false;
        else await delay(200 * attempt);
        return this.#publish(tempKey, finalKey, size, attempt + 1);
      }
      throw s3Failure('publish a blob', cause);
    }
  }

  /** Server-side copy in parts (UploadPartCopy), for blobs over CopyObject's 5 GiB limit. */
  async #multipartCopy(tempKey: string, finalKey: string, size: number): Promise<void> {
    const { UploadId } = await this.#client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: finalKey }),
    );
    if (UploadId === undefined) throw new MobiusError('UNAVAILABLE', 'S3 returned no upload id');
    try {
      const count = Math.ceil(size / this.#copyPartSize);
      const parts: CompletedPart[] = new Array<CompletedPart>(count);
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let index = next++; index < count; index = next++) {
          const start = index * this.#copyPartSize;
          const end = Math.min(start + this.#copyPartSize, size) - 1;
          const result = await this.#client.send(
            new UploadPartCopyCommand({
              Bucket: this.bucket,
              Key: finalKey,
              UploadId,
              PartNumber: index + 1,
              CopySource: copySource(this.bucket, tempKey),
              CopySourceRange: `bytes=${start}-${end}`,
            }),
          );
          parts[index] = { PartNumber: index + 1, ETag: result.CopyPartResult?.ETag };
        }
      };
      await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, count) }, worker));
      await this.#client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: finalKey,
          UploadId,
          MultipartUpload: { Parts: parts },
          ...(this.#conditionalWrites ? { IfNoneMatch: '*' } : {}),
        }),
      );
    } catch (error) {
      // A refused or failed completion leaves the upload open; abort it so its parts go.
      await this.#client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: finalKey, UploadId }))
        .catch(() => undefined);
      throw error;
    }
  }

  /** Size of an object, or undefined if it does not exist. */
  async #headSize(key: string, what: string): Promise<number | undefined> {
    try {
      const head = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: key }),
      );
      return head.ContentLength ?? 0;
    } catch (cause) {
      // HEAD has no body, so a missing bucket also looks like 404 here; open() checked it.
      if (isMissingObject(cause)) return undefined;
      throw s3Failure(what, cause);
    }
  }

  async #ensureBucket(create: boolean): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (cause) {
      if (statusOf(cause) !== 404) throw s3Failure(`open bucket '${this.bucket}'`, cause);
      if (!create) {
        throw new MobiusError(
          'UNAVAILABLE',
          `S3 bucket '${this.bucket}' does not exist; create it first (Mobius does not create buckets unless asked)`,
          { cause },
        );
      }
    }
    try {
      await this.#client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (cause) {
      // Another process may have created it between our HEAD and CREATE.
      const name = (cause as { name?: unknown }).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') {
        throw s3Failure(`create bucket '${this.bucket}'`, cause);
      }
    }
  }

  /**
   * Deletes temp objects and aborts multipart uploads under `<prefix>tmp/` older than
   * `maxAgeMs`: leftovers of puts whose process died. Best effort: a policy that forbids
   * listing must not stop the store from opening.
   */
  async #sweepTemp(maxAgeMs: number): Promise<void> {
    const tmpPrefix = `${this.prefix}tmp/`;
    const cutoff = Date.now() - maxAgeMs;
    try {
      let token: string | undefined;
      do {
        const page = await this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: tmpPrefix,
            ContinuationToken: token,
          }),
        );
        for (const object of page.Contents ?? []) {
          if (object.Key !== undefined && (object.LastModified?.getTime() ?? 0) < cutoff) {
            await this.#client.send(
              new DeleteObjectCommand({ Bucket: this.bucket, Key: object.Key }),
            );
          }
        }
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      const uploads = await this.#client.send(
        new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: tmpPrefix }),
      );
      for (const upload of uploads.Uploads ?? []) {
        if ((upload.Initiated?.getTime() ?? 0) < cutoff) {
          await this.#client.send(
            new AbortMultipartUploadCommand({
              Bucket: this.bucket,
              Key: upload.Key,
              UploadId: upload.UploadId,
            }),
          );
        }
      }
    } catch {
      // Best effort; see above.
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new MobiusError('UNAVAILABLE', 'the blob store has been closed');
  }
}

/** The S3 client for the configured endpoint, region, addressing style and credentials. */
function createClient(s3: MobiusConfig['s3']): S3Client {
  const { accessKeyId, secretAccessKey } = s3;
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      'S3 credentials need both an access key id and a secret access key, or neither',
    );
  }
  return new S3Client({
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    ...(s3.endpoint === undefined ? {} : { endpoint: s3.endpoint }),
    // Without explicit keys the SDK's default chain applies (instance roles, web identity,
    // ~/.aws), which is how S3 access is usually granted in production.
    ...(accessKeyId === undefined || secretAccessKey === undefined
      ? {}
      : { credentials: { accessKeyId, secretAccessKey } }),
    // Newer SDKs add CRC checksums to every upload by default, which several S3-compatible
    // services reject; integrity is ours anyway, since every blob is named by its sha256.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** `a/b` → `a/b/`; empty stays empty; leading slashes would make keys start with '/'. */
function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

/** The `x-amz-copy-source` value: bucket and key, each path segment URL-encoded as S3 requires. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

function notFound(sha256: string): MobiusError {
  return new MobiusError('NOT_FOUND', `blob ${sha256} is not stored`);
}

function statusOf(error: unknown): number | undefined {
  const status: unknown = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata
    ?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** A 404 for the object itself, not for its bucket (a missing bucket is a configuration fault). */
function isMissingObject(error: unknown): boolean {
  return statusOf(error) === 404 && (error as { name?: unknown }).name !== 'NoSuchBucket';
}

/** An S3 failure as UNAVAILABLE, keeping the cause and naming what S3 said. */
function s3Failure(what: string, cause: unknown): MobiusError {
  if (isMobiusError(cause)) return cause;
  const name = (cause as { name?: unknown } | null)?.name;
  const status = statusOf(cause);
  const said = [
    typeof name === 'string' && name !== 'Unknown' ? name : undefined,
    status === undefined ? undefined : `HTTP ${status}`,
    cause instanceof Error && cause.message !== '' && cause.message !== name
      ? cause.message
      : undefined,
  ]
    .filter((part) => part !== undefined)
    .join(', ');
  const hint =
    status === 403
      ? ' (check the S3 credentials and the bucket policy)'
      : status === undefined
        ? ' (is the S3 endpoint reachable?)'
        : '';
  return new MobiusError(
    'UNAVAILABLE',
    `could not ${what} in S3: ${said || String(cause)}${hint}`,
    {
      cause,
    },
  );
}
