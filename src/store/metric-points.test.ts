import { describe, expect, it } from 'vitest';
import { segmentRow, unpackPoints } from './metric-points.js';

const points = [
  { step: 0, timestamp: 1_763_000_000_123, value: NaN },
  { step: 2 ** 53 - 1, timestamp: 0, value: Infinity },
  { step: -3, timestamp: 5, value: -Infinity },
  { step: 7, timestamp: 5, value: -0 },
  { step: 1, timestamp: 5, value: Number.MIN_VALUE },
];

describe('metric point packing', () => {
  it('round-trips steps, timestamps and values, NaN and ±Infinity included', () => {
    const row = segmentRow('r', 'k', points.length, (i) => points[i]!);
    const back = unpackPoints(row.points);
    expect([...back.steps]).toEqual(points.map((p) => p.step));
    expect([...back.timestamps]).toEqual(points.map((p) => p.timestamp));
    expect([...back.values]).toEqual(points.map((p) => p.value));
    expect(Object.is(back.values[3], -0)).toBe(true);
  });

  it('keeps what step-range reads and comparisons prune by, NaN left out of the values', () => {
    const row = segmentRow('r', 'k', points.length, (i) => points[i]!);
    expect(row).toMatchObject({ count: 5, min_step: -3, max_step: 2 ** 53 - 1 });
    expect(row.min_value).toBe(-Infinity);
    expect(row.max_value).toBe(Infinity);
    const nans = segmentRow('r', 'k', 2, () => ({ step: 1, timestamp: 1, value: NaN }));
    expect([nans.min_value, nans.max_value]).toEqual([null, null]);
  });

  it('reads bytes that a driver hands back at an unaligned offset', () => {
    const packed = segmentRow('r', 'k', points.length, (i) => points[i]!).points;
    const pool = Buffer.alloc(packed.length + 3);
    packed.copy(pool, 3);
    const back = unpackPoints(pool.subarray(3));
    expect([...back.steps]).toEqual(points.map((p) => p.step));
  });

  it('refuses bytes that are not whole points, saying so', () => {
    expect(() => unpackPoints(Buffer.alloc(25))).toThrow(/25 bytes are not whole points/);
  });
});
