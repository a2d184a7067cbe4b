/**
 * The format of `metric_segment.points`: a run's points of one metric, packed column by
 * column as little-endian float64 — every step, then every timestamp, then every value —
 * in the order they were logged. Float64 holds NaN and ±Infinity as they are, and steps
 * and timestamps exactly up to 2^53 (the range a JavaScript number holds anyway).
 *
 * Why packed and not a row per point: a history of 100,000 points is then ~100 rows to
 * read instead of 100,000 (reading rows costs ~1 µs each through either driver, which
 * alone is twice the 50 ms budget for such a history), and a batch of 1,000 points of one
 * metric is one row to write.
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

/**
 * Points a segment grows to by merging small appends: a history is about N / 1,000 rows
 * however it was logged, and merging a one-point append rewrites at most 24 KiB.
 */
export const SEGMENT_POINTS = 1024;

const COLUMNS = 3;
const BYTES = Float64Array.BYTES_PER_ELEMENT;

/** Packs `count` points, read through `at(i)`, into the stored byte layout. */
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

/** A `metric_segment` row without its `seq`: the points and what queries prune by. */
export interface SegmentRow {
  run_id: string;
  key: string;
  count: number;
  min_step: number;
  max_step: number;
  /** The smallest and largest value that is not NaN; null when every value is NaN. */
  min_value: number | null;
  max_value: number | null;
  points: Buffer;
}

/** The row storing `count` points (count ≥ 1) of `key` in run `runId`, read through `at(i)`. */
export function segmentRow(
  runId: string,
  key: string,
  count: number,
  at: (i: number) => { step: number; timestamp: number; value: number },
): SegmentRow {
  let minStep = Infinity;
  let maxStep = -Infinity;
  let minValue = Infinity;
  let maxValue = -Infinity;
  let numbers = 0;
  for (let i = 0; i < count; i++) {
    const { step, value } = at(i);
    if (step < minStep) minStep = step;
    if (step > maxStep) maxStep = step;
    if (Number.isNaN(value)) continue;
    numbers++;
    if (value < minValue) minValue = value;
    if (value > maxValue) maxValue = value;
  }
  return {
    run_id: runId,
    key,
    count,
    min_step: minStep,
    max_step: maxStep,
    min_value: numbers === 0 ? null : minValue,
    max_value: numbers === 0 ? null : maxValue,
    points: packPoints(count, at),
  };
}

/**
 * The columns of a stored `points` value, as views when the bytes are 8-byte aligned
 * (drivers may hand back slices of a shared pool, which are copied first).
 */
export function unpackPoints(bytes: Uint8Array): PackedPoints {
  if (bytes.byteLength % (COLUMNS * BYTES) !== 0)
    throw new Error(`metric points of ${bytes.byteLength} bytes are not whole points`);
  const aligned = bytes.byteOffset % BYTES === 0 ? bytes : new Uint8Array(bytes); // copy: new buffer, offset 0
  const all = new Float64Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / BYTES);
  const count = all.length / COLUMNS;
  return {
    steps: all.subarray(0, count),
    timestamps: all.subarray(count, 2 * count),
    values: all.subarray(2 * count),
  };
}
