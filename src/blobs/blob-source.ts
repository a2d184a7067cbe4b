/** Turns any accepted put source into one Readable of bytes. */
import { Readable } from 'node:stream';
import type { BlobSource } from './blob-store.js';

/** A byte Readable over `source`; a Uint8Array is sent as one chunk, not byte by byte. */
export function toReadable(source: BlobSource): Readable {
  if (source instanceof Readable) return source;
  if (source instanceof Uint8Array) {
    // Readable.from iterates a plain Uint8Array element by element; wrap it in an array so
    // it travels as a single chunk (and an empty one as no chunk at all).
    const bytes = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
    return Readable.from(bytes.length === 0 ? [] : [bytes], { objectMode: false });
  }
  return Readable.from(source, { objectMode: false });
}
