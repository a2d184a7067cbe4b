/**
 * Opaque identifiers. ULIDs sort by creation time, which keeps B-tree inserts
 * append-only and makes "newest first" listings cheap.
 */
import { monotonicFactory } from 'ulidx';

const nextUlid = monotonicFactory();

/** A new lower-case ULID (26 chars), monotonic within this process. */
export function newId(): string {
  return nextUlid().toLowerCase();
}

/** True when `value` has the shape of an id made by `newId`. */
export function isId(value: string): boolean {
  return /^[0-9a-hjkmnp-tv-z]{26}$/.test(value);
}
