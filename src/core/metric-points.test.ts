import { describe, expect, it } from 'vitest';
import { packColumns, packPoints, unpackPoints } from './metric-points.js';

const points = [
  { step: 0, timestamp: 1_763_000_000_123, value: NaN },
  { step: 2 ** 53 - 1, timestamp: 0, value: Infinity },
  { step: -3, timestamp: 5, value: -Infinity },
  { step: 7, timestamp: 5, value: -0 },
  { step: 1, timestamp: 5, value: Number.MIN_VALUE },
];

describe('metric point packing', () => {
  it('round-trips steps, timestamps and values, NaN and ±Infinity included', () => {
    const back = unpackPoints(packPoints(points.length, (i) => points[i]!));
    expect([...back.steps]).toEqual(points.map((p) => p.step));
    expect([...back.timestamps]).toEqual(points.map((p) => p.timestamp));
    expect([...back.values]).toEqual(points.map((p) => p.value));
    expect(Object.is(back.values[3], -0)).toBe(true);
  });

  it('packs columns to the same bytes as points', () => {
    const packed = packPoints(points.length, (i) => points[i]!);
    expect(packColumns(unpackPoints(packed)).equals(packed)).toBe(true);
  });

  it('reads bytes that a driver hands back at an unaligned offset', () => {
    const packed = packPoints(points.length, (i) => points[i]!);
    const pool = Buffer.alloc(packed.length + 3);
    packed.copy(pool, 3);
    const back = unpackPoints(pool.subarray(3));
    expect([...back.steps]).toEqual(points.map((p) => p.step));
  });

  it('refuses bytes that are not whole points, saying so', () => {
    expect(() => unpackPoints(Buffer.alloc(25))).toThrow(/25 bytes are not whole points/);
  });
});
