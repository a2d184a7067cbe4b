/**
 * The content-addressed blob store: bytes are stored and found by their sha256, so the
 * same bytes are stored once and a stored blob can never change under its name.
 */
import type { Readable } from 'node:stream';

/** A stored blob: its content address and length in bytes. */
export interface BlobInfo {
  sha256: string;
  size: number;
}

/** What `put` stored; `created` is false when the bytes were already there (dedup). */
export interface PutResult extends BlobInfo {
  created: boolean;
}

/**
 * Bytes written to the store but not yet visible under their hash: `stage` hashes and
 * writes them (a temp file or object), and the caller decides later whether they become
 * a blob (`publish`) or vanish (`discard`). `data add` stages a version's files while it
 * checks them, so a file found bad leaves nothing behind and a good one is not read twice.
 */
export interface StagedBlob extends BlobInfo {
  /** Makes the bytes the blob `sha256` (once; later calls return the same result). */
  publish(): Promise<PutResult>;
  /** Removes the staged bytes (the published blob stays); safe to call more than once. */
  discard(): Promise<void>;
}

/**
 * The staging both stores share: write the bytes somewhere temporary (`write`), removing
 * them if that fails; then a StagedBlob whose `publish` runs once however often it is
 * called. `write`, `publish` and `discard` are each store's own.
 */
export async function stageWith(
  write: () => Promise<BlobInfo>,
  publish: (info: BlobInfo) => Promise<boolean>,
  discard: () => Promise<void>,
): Promise<StagedBlob> {
  let info: BlobInfo;
  try {
    info = await write();
  } catch (error) {
    await discard();
    throw error;
  }
  let published: Promise<PutResult> | undefined;
  return {
    ...info,
    publish: () => (published ??= publish(info).then((created) => ({ ...info, created }))),
    discard,
  };
}

/** Bytes `start..end` of a blob, both inclusive as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  /** Last byte wanted (inclusive); omitted or past the end means "to the end". */
  end?: number;
}

/** Everything `put` accepts as content. */
export type BlobSource = Readable | AsyncIterable<Uint8Array> | Uint8Array;

/** Options of `put`. */
export interface PutOptions {
  /** When given, the content must hash to this, or nothing is stored (INVALID_ARGUMENT). */
  expectedSha256?: string;
}

/**
 * A content-addressed blob store. Every method rejects a key that is not a lower-case
 * hex sha256 with INVALID_ARGUMENT before touching storage, so a key can never name
 * anything outside the store.
 */
export interface BlobStore {
  readonly kind: 'file' | 's3';
  /** Streams `source` in, hashing as it goes; the blob becomes visible only once complete. */
  put(source: BlobSource, options?: PutOptions): Promise<PutResult>;
  /** Streams `source` in, hashing as it goes, without publishing it yet; see StagedBlob. */
  stage(source: BlobSource): Promise<StagedBlob>;
  /** The blob's bytes (or a range of them); NOT_FOUND if absent, INVALID_ARGUMENT for a bad range. */
  get(sha256: string, range?: ByteRange): Promise<Readable>;
  /** Size of the blob, or undefined if it is not stored. */
  stat(sha256: string): Promise<BlobInfo | undefined>;
  /** True if the blob is stored. */
  exists(sha256: string): Promise<boolean>;
  /**
   * A path on this machine where the stored blob can be read in place (the file store),
   * or undefined when it must be streamed with `get` (S3, or not stored). Readers must not
   * write to it: blobs are immutable and shared by every version that holds their bytes.
   */
  localPath(sha256: string): Promise<string | undefined>;
  /** Removes the blob; true if it existed. */
  delete(sha256: string): Promise<boolean>;
  /** Releases connections and handles; the store must not be used afterwards. */
  close(): Promise<void>;
}
