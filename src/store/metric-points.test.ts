import { describe, expect, it } from 'vitest';
import { segmentRow } from './metric-points.js';

describe('metric segment rows', () => {
  it('keep what step-range reads and comparisons prune by, NaN left out of the values', () => {
    const points = [
      { step: 4, timestamp: 1, value: NaN },
      { step: -3, timestamp: 5, value: -Infinity },
      { step: 2 ** 53 - 1, timestamp: 0, value: Infinity },
      { step: 7, timestamp: 5, value: 0.5 },
    ];
    const row = segmentRow('r', 'k', points.length, (i) => points[i]!);
    expect(row).toMatchObject({
      run_id: 'r',
      key: 'k',
      count: 4,
      min_step: -3,
      max_step: 2 ** 53 - 1,
    });
    expect([row.min_value, row.max_value]).toEqual([-Infinity, Infinity]);
    const nans = segmentRow('r', 'k', 2, () => ({ step: 1, timestamp: 1, value: NaN }));
    expect([nans.min_value, nans.max_value]).toEqual([null, null]);
  });
});
