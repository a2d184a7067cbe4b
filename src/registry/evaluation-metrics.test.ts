import { describe, expect, it } from 'vitest';
import { classificationMetrics, regressionMetrics, rocAuc } from './evaluation-metrics.js';

/** Binary data from P(class 1) per row. */
function binary(labels: number[], p1: number[]) {
  return {
    labels: Int32Array.from(labels),
    probabilities: Float64Array.from(p1.flatMap((p) => [1 - p, p])),
    k: 2,
  };
}

describe('rocAuc', () => {
  it('counts a tie between a positive and a negative as half a win', () => {
    // Pairs (pos, neg): (0.8,0.1) win, (0.8,0.5) win, (0.5,0.1) win, (0.5,0.5) tie → 3.5/4.
    expect(rocAuc(Float64Array.of(0.1, 0.5, 0.5, 0.8), Uint8Array.of(0, 0, 1, 1))).toBe(0.875);
  });
  it('is 0.5 when every score ties and null with one class only', () => {
    expect(rocAuc(Float64Array.of(0.3, 0.3, 0.3), Uint8Array.of(0, 1, 1))).toBe(0.5);
    expect(rocAuc(Float64Array.of(0.3, 0.7), Uint8Array.of(1, 1))).toBeNull();
  });
});

describe('classificationMetrics', () => {
  it('computes binary metrics by hand', () => {
    // predictions (p ≥ .5 wins only above .5: argmax takes the first on a tie): 1, 0, 1, 0
    const set = classificationMetrics(binary([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.2]));
    // tp=1 (row0), fn=1 (row1), fp=1 (row2), tn=1
    expect(set.metrics.accuracy).toBe(0.5);
    expect(set.metrics.precision).toBe(0.5);
    expect(set.metrics.recall).toBe(0.5);
    expect(set.metrics.f1).toBe(0.5);
    // positives 0.9, 0.4 vs negatives 0.6, 0.2: 0.9 beats both, 0.4 beats 0.2 → 3/4.
    expect(set.metrics.auc).toBe(0.75);
    const loss = -(Math.log(0.9) + Math.log(0.4) + Math.log(0.4) + Math.log(0.8)) / 4;
    expect(set.metrics.log_loss).toBeCloseTo(loss, 15);
    // confidences 0.9 (bin 9, right), 0.6 (bin 5, wrong), 0.6 (bin 5, wrong), 0.8 (bin 7, right)
    // ECE = 1/4·|1−0.9| + 2/4·|0−0.6| + 1/4·|1−0.8| = 0.025 + 0.3 + 0.05
    expect(set.metrics.ece).toBeCloseTo(0.375, 15);
  });

  it('gives a null AUC with its reason when the labels hold one class', () => {
    const set = classificationMetrics(binary([1, 1], [0.7, 0.2]));
    expect(set.metrics.auc).toBeNull();
    expect(set.notes.auc).toMatch(/only one class/);
    expect(set.metrics.accuracy).toBe(0.5);
  });

  it('clips a zero probability for the true class instead of giving Infinity', () => {
    const set = classificationMetrics(binary([1, 0], [0, 0]));
    expect(set.metrics.log_loss).toBeCloseTo(-Math.log(Number.EPSILON) / 2, 10);
  });

  it('macro-averages over three classes and restricts to a slice', () => {
    const data = {
      labels: Int32Array.of(0, 1, 2, 2),
      probabilities: Float64Array.of(0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.2, 0.2, 0.6, 0.5, 0.3, 0.2),
      k: 3,
    };
    const set = classificationMetrics(data);
    // predicted 0, 2, 2, 0 → class 0: tp1 fp1 → p .5 r 1; class 1: p 0 r 0; class 2: tp1 fp1 fn1 → p .5 r .5
    expect(set.metrics.accuracy).toBe(0.5);
    expect(set.metrics.precision).toBeCloseTo((0.5 + 0 + 0.5) / 3, 15);
    expect(set.metrics.recall).toBeCloseTo((1 + 0 + 0.5) / 3, 15);
    const slice = classificationMetrics(data, Int32Array.of(2, 3));
    expect(slice.rows).toBe(2);
    expect(slice.metrics.accuracy).toBe(0.5);
    expect(slice.metrics.auc).toBeNull();
    expect(slice.notes.auc).toMatch(/only one class/);
  });
});

describe('regressionMetrics', () => {
  it('computes RMSE, MAE and R² by hand', () => {
    const set = regressionMetrics(Float64Array.of(1, 2, 3), Float64Array.of(1.5, 2, 2));
    expect(set.metrics.rmse).toBeCloseTo(Math.sqrt(1.25 / 3), 15);
    expect(set.metrics.mae).toBeCloseTo(0.5, 15);
    expect(set.metrics.r2).toBeCloseTo(1 - 1.25 / 2, 15);
  });
  it('gives R² null with a reason on constant labels', () => {
    const set = regressionMetrics(Float64Array.of(2, 2), Float64Array.of(1, 3));
    expect(set.metrics.r2).toBeNull();
    expect(set.notes.r2).toMatch(/constant/);
  });
});
