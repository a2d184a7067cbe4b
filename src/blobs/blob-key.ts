/**
 * Blob keys. A key is only ever a lower-case hex sha256: checking that one pattern
 * before any path or object key is built is what keeps `../`, `%2f`, absolute paths,
 * backslashes and NUL bytes from ever reaching the filesystem or the bucket.
 */
import { MobiusError, SHA256_PATTERN } from '../core/index.js';

/** Longest piece of a rejected key quoted back in an error message. */
const QUOTE_LIMIT = 80;

/** Returns `key` if it is a lower-case hex sha256, else throws INVALID_ARGUMENT. */
export function checkBlobKey(key: unknown, what = 'blob key'): string {
  if (typeof key === 'string' && SHA256_PATTERN.test(key)) return key;
  throw new MobiusError(
    'INVALID_ARGUMENT',
    `${what} must be a sha256 written as 64 lower-case hex characters (0-9, a-f), not ${quote(key)}`,
  );
}

/** Throws INVALID_ARGUMENT when a put's content does not hash to what the caller expected. */
export function checkExpectedHash(expected: string | undefined, actual: string): void {
  if (expected !== undefined && expected !== actual) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `content hashes to ${actual}, not the expected ${expected}; nothing was stored`,
      { details: { expected, actual } },
    );
  }
}

/** Quotes a rejected value safely: JSON-escaped (no control characters) and truncated. */
function quote(value: unknown): string {
  if (typeof value !== 'string') return `a value of type ${value === null ? 'null' : typeof value}`;
  const shown = value.length > QUOTE_LIMIT ? `${value.slice(0, QUOTE_LIMIT)}…` : value;
  return `${JSON.stringify(shown)} (${value.length} characters)`;
}
