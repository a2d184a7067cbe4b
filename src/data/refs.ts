/**
 * Version refs: `<name>@<ref>` where ref is a version number (`3` or `v3`), a content
 * hash or a prefix of one (at least MIN_HASH_PREFIX hex characters), or a tag (`latest`,
 * `prod`). A bare `<name>` means `<name>@latest`. Tags cannot be spelled like the other
 * two kinds (core/limits checkDatasetTag), so a ref always means one thing.
 */
import { MobiusError, checkDatasetName, limits } from '../core/index.js';

/** What a ref names, before looking it up. */
export type VersionRef =
  | { kind: 'number'; version: number }
  | { kind: 'hash'; prefix: string }
  | { kind: 'tag'; tag: string };

/** A parsed `<name>@<ref>`. */
export interface DatasetRef {
  name: string;
  ref: VersionRef;
  /** The ref as written, for messages. */
  text: string;
}

/** Parses a ref string (`<name>@<ref>`, or just the ref when `name` is given). */
export function parseRef(text: string): DatasetRef {
  const at = text.indexOf('@');
  const name = checkDatasetName(at < 0 ? text : text.slice(0, at));
  const ref = at < 0 ? limits.LATEST_TAG : text.slice(at + 1);
  return { name, ref: parseVersionRef(ref), text: `${name}@${ref}` };
}

/** Parses the part after '@'. */
export function parseVersionRef(ref: string): VersionRef {
  if (ref === '')
    throw new MobiusError(
      'INVALID_ARGUMENT',
      "empty version after '@': give a number (3), a content hash (8+ hex characters) or a tag (latest)",
    );
  const number = /^v?(\d+)$/i.exec(ref);
  if (number !== null) {
    const version = Number(number[1]);
    if (!Number.isSafeInteger(version) || version < 1)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `version '${ref}' is not a version number (1, 2, …)`,
      );
    return { kind: 'number', version };
  }
  if (new RegExp(`^[0-9a-f]{${limits.MIN_HASH_PREFIX},64}$`).test(ref))
    return { kind: 'hash', prefix: ref };
  if (/^[0-9a-fA-F]+$/.test(ref) && ref.length < limits.MIN_HASH_PREFIX && /[0-9]/.test(ref))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `'${ref}' is too short for a content hash; give at least ${limits.MIN_HASH_PREFIX} characters`,
    );
  if (!limits.DATASET_TAG_PATTERN.test(ref) || ref.length > limits.MAX_DATASET_TAG_LENGTH)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `'${ref.slice(0, 80)}' is not a version: give a number (3), a content hash (8+ hex characters) or a tag (latest)`,
    );
  return { kind: 'tag', tag: ref };
}
