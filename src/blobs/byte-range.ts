/** Byte ranges: validated once, with the same meaning (HTTP Range semantics) on every backend. */
import { MobiusError } from '../core/index.js';
import type { ByteRange } from './blob-store.js';

/** A range with both ends known and inside the blob. */
export interface ResolvedRange {
  start: number;
  end: number;
}

/** Checks a range's own shape (whole non-negative numbers, end ≥ start) before any I/O. */
export function checkRange(range: ByteRange | undefined): void {
  if (range === undefined) return;
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `range start must be a whole number ≥ 0, not ${String(start)}`,
    );
  }
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `range end must be a whole number ≥ the start (${start}), not ${String(end)}`,
    );
  }
}

/**
 * Fits a checked range to a blob of `size` bytes. As in HTTP, an end past the blob is
 * clamped to the last byte, and a start at or past the end is unsatisfiable (416), so an
 * empty blob has no satisfiable range at all.
 */
export function resolveRange(range: ByteRange, size: number, sha256: string): ResolvedRange {
  if (range.start >= size) throw rangeNotSatisfiable(range, sha256, size);
  return { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) };
}

/** The INVALID_ARGUMENT error for a range that starts past the end of the blob. */
export function rangeNotSatisfiable(range: ByteRange, sha256: string, size?: number): MobiusError {
  const length = size === undefined ? '' : ` (${size} bytes)`;
  return new MobiusError(
    'INVALID_ARGUMENT',
    `range start ${range.start} is past the end of blob ${sha256}${length}`,
    { details: size === undefined ? { start: range.start } : { start: range.start, size } },
  );
}

/** The `Range` header value for a checked range. */
export function rangeHeader(range: ByteRange): string {
  return `bytes=${range.start}-${range.end ?? ''}`;
}
