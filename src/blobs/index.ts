/** blobs: content-addressed bytes (sha256) on the local filesystem or any S3-compatible store. */
export type {
  BlobInfo,
  BlobSource,
  BlobStore,
  ByteRange,
  PutOptions,
  PutResult,
  StagedBlob,
} from './blob-store.js';
export { checkBlobKey } from './blob-key.js';
export { FsBlobStore } from './fs-blob-store.js';
export type { FsBlobStoreOptions } from './fs-blob-store.js';
export type { S3BlobStore, S3BlobStoreOptions } from './s3-blob-store.js';
export { openBlobStore, openS3BlobStore, parseBlobLocation } from './open-blobs.js';
export type { BlobLocation, OpenBlobStoreOptions } from './open-blobs.js';
