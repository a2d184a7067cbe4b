/** SHA-256 helpers: the content address of every blob and version in Mobius. */
import { createHash, timingSafeEqual, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** The pattern of a lower-case hex sha256 digest. */
export const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/** Hex sha256 of bytes or a string (UTF-8). */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Constant-time equality of two strings, safe for comparing secrets of any length. */
export function constantTimeEqual(a: string, b: string): boolean {
  // Compare fixed-length digests so the comparison time does not reveal the length.
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}

/**
 * A pass-through stream that hashes and counts the bytes flowing through it.
 * Read `digest()` and `size` after the stream has ended.
 *
 * @example
 * const hasher = new HashingStream();
 * await pipeline(source, hasher, destination);
 * hasher.digest(); // 'e3b0c4…'
 */
export class HashingStream extends Transform {
  readonly #hash: Hash = createHash('sha256');
  #size = 0;
  #digest: string | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    done(null, chunk);
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.#size;
  }

  /** Hex sha256 of everything that passed; call once the stream has finished. */
  digest(): string {
    this.#digest ??= this.#hash.digest('hex');
    return this.#digest;
  }
}
