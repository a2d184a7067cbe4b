import { describe, expect, it } from 'vitest';
import { chiSquarePValue, ksPValue, logGamma } from './statistics.js';

// Reference values from scipy 1.x: stats.chi2.sf(x, df) and
// scipy.special.kolmogorov((√nₑ + 0.12 + 0.11/√nₑ)·D).
describe('distribution p-values', () => {
  it('chi-square survival matches scipy', () => {
    expect(chiSquarePValue(3.84, 1)).toBeCloseTo(0.05004352124870519, 10);
    expect(chiSquarePValue(10, 4)).toBeCloseTo(0.04042768199451279, 10);
    expect(chiSquarePValue(100, 80)).toBeCloseTo(0.064570368921133, 10);
    expect(chiSquarePValue(0.5, 3)).toBeCloseTo(0.9188914116546758, 10);
    expect(chiSquarePValue(0, 3)).toBe(1);
  });

  it('two-sample KS p-value matches scipy with Stephens’ correction', () => {
    expect(ksPValue(0.1, 100, 100)).toBeCloseTo(0.676620149700246, 8);
    expect(ksPValue(0.05, 1000, 2000)).toBeCloseTo(0.06908701736098673, 8);
    expect(ksPValue(0.3, 20, 30)).toBeCloseTo(0.1899287501801303, 8);
    expect(ksPValue(0, 10, 10)).toBe(1);
    expect(ksPValue(1, 10_000, 10_000)).toBe(0);
  });

  it('log-gamma of integers is the log of factorials', () => {
    expect(logGamma(1)).toBeCloseTo(0, 12);
    expect(logGamma(6)).toBeCloseTo(Math.log(120), 12);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
  });
});
