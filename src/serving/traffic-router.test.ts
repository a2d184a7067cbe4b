import { describe, expect, it } from 'vitest';
import { EvenSequence, pickWeighted, stickyPoint } from './traffic-router.js';

describe('traffic router', () => {
  it('gives a 10% route 10% of any long run of requests', () => {
    for (const n of [100, 1000, 5000]) {
      const seq = new EvenSequence();
      let hits = 0;
      for (let i = 0; i < n; i++) if (pickWeighted([90, 10], seq.next()) === 1) hits++;
      expect(Math.abs(hits / n - 0.1)).toBeLessThan(0.01);
    }
  });

  it('picks by cumulative share and never an empty route', () => {
    expect(pickWeighted([90, 10], 0)).toBe(0);
    expect(pickWeighted([90, 10], 0.8999)).toBe(0);
    expect(pickWeighted([90, 10], 0.9)).toBe(1);
    expect(pickWeighted([100, 0], 0.99999)).toBe(0);
    expect(pickWeighted([0, 100], 0)).toBe(1);
  });

  it('maps a sticky key to one point, different per deployment', () => {
    expect(stickyPoint('churn', 'user-1')).toBe(stickyPoint('churn', 'user-1'));
    expect(stickyPoint('churn', 'user-1')).not.toBe(stickyPoint('fraud', 'user-1'));
    const points = Array.from({ length: 2000 }, (_, i) => stickyPoint('d', `k${i}`));
    expect(points.every((p) => p >= 0 && p < 1)).toBe(true);
    const share = points.filter((p) => p < 0.1).length / points.length;
    expect(Math.abs(share - 0.1)).toBeLessThan(0.03);
  });
});
