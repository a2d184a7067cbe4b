/**
 * A log file that keeps the first `limit` bytes written to it and counts the rest, so a
 * step printing gigabytes costs neither memory nor disk beyond the limit.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { Writable } from 'node:stream';

/** A writable that streams to `path` up to `limit` bytes and drops (but counts) the rest. */
export class BoundedLog extends Writable {
  readonly #file: WriteStream;
  readonly #limit: number;
  #kept = 0;
  #dropped = 0;

  constructor(path: string, limit: number) {
    super();
    this.#file = createWriteStream(path);
    this.#limit = limit;
  }

  /** Bytes written to the file. */
  get kept(): number {
    return this.#kept;
  }
  /** Bytes received past the limit and not kept. */
  get dropped(): number {
    return this.#dropped;
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    done: (e?: Error | null) => void,
  ): void {
    const room = this.#limit - this.#kept;
    if (room <= 0) {
      this.#dropped += chunk.length;
      done();
      return;
    }
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.#kept += part.length;
    this.#dropped += chunk.length - part.length;
    // Respect the file's backpressure: the child's pipe is paused until the disk catches up.
    if (this.#file.write(part)) done();
    else this.#file.once('drain', () => done());
  }

  override _final(done: (e?: Error | null) => void): void {
    const note =
      this.#dropped > 0
        ? `\n[mobius: ${this.#dropped} more bytes not kept (limit ${this.#limit})]\n`
        : '';
    this.#file.end(note, () => done());
  }
}
