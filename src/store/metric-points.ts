/**
 * A `metric_segment` row: a run's points of one metric, packed (core/metric-points.ts).
 *
 * Why packed and not a row per point: a history of 100,000 points is then ~100 rows to
 * read instead of 100,000 (reading rows costs ~1 µs each through either driver, which
 * alone is twice the 50 ms budget for such a history), and a batch of 1,000 points of one
 * metric is one row to write.
 */
import { packPoints } from '../core/index.js';

/**
 * Points a segment grows to by merging small appends: a history is about N / 1,000 rows
 * however it was logged, and merging a one-point append rewrites at most 24 KiB.
 */
export const SEGMENT_POINTS = 1024;

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
