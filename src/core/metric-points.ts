/**
 * Packed metric points: a series of points as little-endian float64 columns — every step,
 * then every timestamp, then every value — in the order they were logged. Float64 holds
 * NaN and ±Infinity as they are, and steps and timestamps exactly up to 2^53 (the range a
 * JavaScript number holds anyway). It is how the store keeps a metric's history
 * (`metric_segment.points`) and how `/api/v1` sends one to clients that ask for
 * `application/octet-stream`: no per-point encoding on either side.
 */
import { endianness } from 'node:os';

/** Points in column order; the three arrays have the same length. */
export interface PackedPoints {
  steps: Float64Array;
  timestamps: Float64Array;
  values: Float64Array;
}

// Float64Array uses the platform's byte order; every platform Node ships for is
// little-endian, and a big-endian one must not write a format others cannot read.
if (endianness() !== 'LE') throw new Error('metric point packing assumes a little-endian platform');

const COLUMNS = 3;
const BYTES = Float64Array.BYTES_PER_ELEMENT;

/** Packs `count` points, read through `at(i)`, into the byte layout. */
export function packPoints(
  count: number,
  at: (i: number) => { step: number; timestamp: number; value: number },
): Buffer {
  const columns = new Float64Array(count * COLUMNS);
  for (let i = 0; i < count; i++) {
    const p = at(i);
    columns[i] = p.step;
    columns[count + i] = p.timestamp;
    columns[2 * count + i] = p.value;
  }
  return Buffer.from(columns.buffer, columns.byteOffset, columns.byteLength);
}

/** The byte layout of points already in columns. */
export function packColumns({ steps, timestamps, values }: PackedPoints): Buffer {
  const n = steps.length;
  const columns = new Float64Array(n * COLUMNS);
  columns.set(steps, 0);
  columns.set(timestamps, n);
  columns.set(values, 2 * n);
  return Buffer.from(columns.buffer, columns.byteOffset, columns.byteLength);
}

/**
 * The columns of packed bytes, as views when the bytes are 8-byte aligned (drivers and
 * fetch may hand back slices of a shared pool, which are copied first).
 */
export function unpackPoints(bytes: Uint8Array): PackedPoints {
  if (bytes.byteLength % (COLUMNS * BYTES) !== 0)
    throw new Error(`metric points of ${bytes.byteLength} bytes are not whole points`);
  const aligned = bytes.byteOffset % BYTES === 0 ? bytes : new Uint8Array(bytes); // copy: offset 0
  const all = new Float64Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / BYTES);
  const count = all.length / COLUMNS;
  return {
    steps: all.subarray(0, count),
    timestamps: all.subarray(count, 2 * count),
    values: all.subarray(2 * count),
  };
}
