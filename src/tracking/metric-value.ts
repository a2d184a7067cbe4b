/**
 * Metric values in the store. SQLite turns NaN into NULL, so NaN is kept as a flag with
 * a NULL value on both backends; ±Infinity are real doubles on both.
 */

/** The (value, is_nan) pair a metric value is stored as. */
export function toStored(value: number): { value: number | null; is_nan: 0 | 1 } {
  return Number.isNaN(value) ? { value: null, is_nan: 1 } : { value, is_nan: 0 };
}

/** The number a stored (value, is_nan) pair stands for. */
export function fromStored(row: { value: number | null; is_nan: number }): number {
  return row.is_nan === 1 || row.value === null ? NaN : row.value;
}

/**
 * Orders two points the way MLflow picks a run's latest metric: higher step wins, then
 * newer timestamp, then larger value (NaN lowest).
 */
export function isNewer(
  a: { step: number; timestamp: number; value: number },
  b: { step: number; timestamp: number; value: number },
): boolean {
  if (a.step !== b.step) return a.step > b.step;
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp;
  const av = Number.isNaN(a.value) ? -Infinity : a.value;
  const bv = Number.isNaN(b.value) ? -Infinity : b.value;
  return av > bv;
}
