/**
 * The manifest of a version and its content hash: sha256 of the manifest as canonical
 * JSON (fixed key order, files sorted by path, only options that were set), so the same
 * files read the same way always hash the same, whoever adds them and from where.
 */
import { sha256Hex } from '../core/index.js';
import type { ReadOptions } from './ingest.js';
import type { DataFormat, Manifest, ManifestFile } from './types.js';

/** Builds the manifest of `files` read as `format` with `options`. */
export function buildManifest(
  format: DataFormat,
  options: ReadOptions,
  files: readonly ManifestFile[],
): Manifest {
  const opts: Manifest['options'] & { sampleAll?: boolean } = {};
  if (options.encoding !== undefined) opts.encoding = options.encoding;
  if (options.sampleAll === true) opts.sampleAll = true;
  return {
    format,
    options: opts,
    files: [...files]
      .map((f) => ({ path: f.path, sha256: f.sha256, size: f.size }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  };
}

/** The content address of a manifest. */
export function contentHash(manifest: Manifest): string {
  const options = Object.fromEntries(
    Object.entries(manifest.options).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  return sha256Hex(JSON.stringify({ format: manifest.format, options, files: manifest.files }));
}
