/** Opens the blob store a location string names: `file:<absolute path>` or `s3://bucket/prefix`. */
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MobiusError, type MobiusConfig } from '../core/index.js';
import type { BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import type { S3BlobStore, S3BlobStoreOptions } from './s3-blob-store.js';

/** Options of `openBlobStore` beyond the location and S3 settings. */
export interface OpenBlobStoreOptions {
  /** Create the S3 bucket if it is missing (tests, first-time setup). Off by default, so a typo in a bucket name fails loudly. */
  createBucket?: boolean;
}

/** Where a location string says the blobs live. */
export type BlobLocation =
  { kind: 'file'; root: string } | { kind: 's3'; bucket: string; prefix: string };

/** S3 bucket names: 3–63 lower-case letters, digits, dots and hyphens (the S3 naming rules). */
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Opens the blob store at `location` (as `MobiusConfig['blobs']` holds it).
 *
 * @example
 * const blobs = await openBlobStore(config.blobs, config.s3);
 */
export async function openBlobStore(
  location: string,
  s3: MobiusConfig['s3'],
  options: OpenBlobStoreOptions = {},
): Promise<BlobStore> {
  const parsed = parseBlobLocation(location);
  switch (parsed.kind) {
    case 'file':
      return FsBlobStore.open(parsed.root);
    case 's3':
      return openS3BlobStore({
        bucket: parsed.bucket,
        prefix: parsed.prefix,
        s3,
        ...(options.createBucket === undefined ? {} : { createBucket: options.createBucket }),
      });
  }
}

/**
 * Opens an S3 blob store. The AWS SDK is loaded here, on first use, so the embedded
 * default does not pay its start-up time (~100 ms) and memory (~20 MB).
 */
export async function openS3BlobStore(options: S3BlobStoreOptions): Promise<S3BlobStore> {
  const { S3BlobStore } = await import('./s3-blob-store.js');
  return S3BlobStore.open(options);
}

/** Parses a blob location string; INVALID_ARGUMENT if it is neither form. */
export function parseBlobLocation(location: string): BlobLocation {
  if (location.startsWith('file:')) {
    // `file:///abs` (a URL) and `file:/abs` (what the config loader writes) both work.
    const root = location.startsWith('file://') ? fileURLToPath(location) : location.slice(5);
    if (!isAbsolute(root)) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `blob location '${location}' needs an absolute path (the config loader resolves relative ones)`,
      );
    }
    return { kind: 'file', root };
  }
  if (location.startsWith('s3://')) {
    const rest = location.slice(5);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix = slash === -1 ? '' : rest.slice(slash + 1);
    if (!BUCKET_PATTERN.test(bucket)) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `'${bucket}' in '${location}' is not a valid S3 bucket name`,
      );
    }
    // The prefix is operator configuration, but '..' or '.' segments would make keys that
    // some S3-compatible services normalise into a different place.
    if (prefix.split('/').some((segment) => segment === '.' || segment === '..')) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `the S3 prefix in '${location}' must not contain '.' or '..' segments`,
      );
    }
    return { kind: 's3', bucket, prefix };
  }
  throw new MobiusError(
    'INVALID_ARGUMENT',
    `blob location '${location}' is not understood: use file:<absolute path> or s3://bucket/prefix`,
  );
}
