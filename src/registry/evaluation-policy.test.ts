import { describe, expect, it } from 'vitest';
import { judge, parsePolicy } from './evaluation-policy.js';

const set = (metrics: Record<string, number | null>) => ({ rows: 10, metrics, notes: {} });

describe('parsePolicy', () => {
  it('reads YAML and the same shape as an object', () => {
    const yaml = parsePolicy(
      'min: {auc: 0.8}\nmax_regression:\n  auc: 0.01\nmax_slice_gap: {accuracy: 0.05}\n',
    );
    expect(yaml).toEqual(
      parsePolicy({
        min: { auc: 0.8 },
        max_regression: { auc: 0.01 },
        max_slice_gap: { accuracy: 0.05 },
      }),
    );
    expect(yaml.min).toEqual({ auc: 0.8 });
  });
  it.each([
    ['minimum: {auc: 0.8}', /unknown key 'minimum'/],
    ['min: {aucc: 0.8}', /unknown metric 'min\.aucc'/],
    ['min: {auc: high}', /'min\.auc' must be a finite number/],
    ['max_regression: {auc: -0.1}', /'max_regression\.auc' is a tolerance/],
    ['task: clustering', /task must be 'classification' or 'regression'/],
    ['task: regression\nmin: {auc: 0.8}', /'min\.auc' is not a regression metric/],
    ['min: [auc]', /'min' must map metric names to numbers/],
    ['min: {auc: 0.8', /not valid YAML/],
  ])('refuses %j naming the bad key', (text, message) => {
    expect(() => parsePolicy(text)).toThrow(message);
  });
});

describe('judge', () => {
  const policy = parsePolicy({
    min: { auc: 0.8 },
    max_regression: { auc: 0.01, log_loss: 0.02 },
    max_slice_gap: { accuracy: 0.05 },
  });
  it('passes within every threshold', () => {
    expect(
      judge(policy, {
        metrics: set({ auc: 0.85, log_loss: 0.3 }),
        champion: set({ auc: 0.855, log_loss: 0.29 }),
        gaps: { region: { accuracy: 0.04 } },
      }),
    ).toEqual([]);
  });
  it('says which threshold failed, in which direction', () => {
    const reasons = judge(policy, {
      metrics: set({ auc: 0.79, log_loss: 0.35 }),
      champion: set({ auc: 0.81, log_loss: 0.3 }),
      gaps: { region: { accuracy: 0.2 } },
    });
    expect(reasons).toEqual([
      'auc 0.79 is below the minimum 0.8',
      "auc 0.79 is 0.02 worse than the champion's 0.81 (allowed: 0.01)",
      "log_loss 0.35 is 0.05 worse than the champion's 0.3 (allowed: 0.02)",
      "accuracy differs by 0.2 across 'region' slices (allowed: 0.05)",
    ]);
  });
  it('fails an undefined metric with its reason and a missing champion', () => {
    const reasons = judge(policy, {
      metrics: { rows: 3, metrics: { auc: null }, notes: { auc: 'only one class' } },
      gaps: {},
    });
    expect(reasons[0]).toBe('candidate auc is undefined: only one class');
    expect(reasons[1]).toMatch(/no champion was given: pass --against/);
    expect(reasons[2]).toMatch(/no --slices were given/);
  });
});
