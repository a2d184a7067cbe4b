/**
 * An evaluation policy: what a candidate model version must reach to pass its gate.
 * Written as YAML (or the same shape as an object):
 *
 * ```yaml
 * task: classification          # optional; otherwise inferred from the model's outputs
 * min: { auc: 0.8 }             # floors
 * max: { log_loss: 0.5 }        # ceilings
 * max_regression: { auc: 0.01 } # how much worse than the champion a metric may be
 * max_slice_gap: { accuracy: 0.05 } # largest allowed best-minus-worst slice difference
 * ```
 *
 * Every key is checked, and an error names the bad key and what would be accepted.
 */
import { parse as parseYaml } from 'yaml';
import { MobiusError } from '../core/index.js';
import {
  CLASSIFICATION_METRICS,
  REGRESSION_METRICS,
  higherIsBetter,
  type MetricSet,
  type MetricValue,
} from './evaluation-metrics.js';

/** Classification (class probabilities) or regression (a number per row). */
export type EvaluationTask = 'classification' | 'regression';

/** A validated policy. */
export interface EvaluationPolicy {
  task?: EvaluationTask;
  min: Record<string, number>;
  max: Record<string, number>;
  max_regression: Record<string, number>;
  max_slice_gap: Record<string, number>;
}

const THRESHOLD_KEYS = ['min', 'max', 'max_regression', 'max_slice_gap'] as const;
const KNOWN_METRICS: readonly string[] = [...CLASSIFICATION_METRICS, ...REGRESSION_METRICS];

function bad(message: string): MobiusError {
  return new MobiusError('INVALID_ARGUMENT', `invalid evaluation policy: ${message}`);
}

/** An empty policy: the evaluation is recorded and passes. */
export function emptyPolicy(): EvaluationPolicy {
  return { min: {}, max: {}, max_regression: {}, max_slice_gap: {} };
}

/**
 * Parses and validates a policy from YAML text or an object.
 *
 * @example
 * parsePolicy('min: {auc: 0.8}\nmax_regression: {auc: 0.01}');
 */
export function parsePolicy(input: unknown): EvaluationPolicy {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = parseYaml(input) as unknown;
    } catch (error) {
      throw bad(`not valid YAML: ${error instanceof Error ? error.message.split('\n')[0] : ''}`);
    }
  }
  if (value === null || value === undefined) return emptyPolicy();
  if (typeof value !== 'object' || Array.isArray(value))
    throw bad('the top level must be a mapping of task, min, max, max_regression, max_slice_gap');
  const policy = emptyPolicy();
  for (const [key, section] of Object.entries(value as Record<string, unknown>)) {
    if (key === 'task') {
      if (section !== 'classification' && section !== 'regression')
        throw bad(`task must be 'classification' or 'regression', not ${JSON.stringify(section)}`);
      policy.task = section;
      continue;
    }
    if (!(THRESHOLD_KEYS as readonly string[]).includes(key))
      throw bad(`unknown key '${key}'; use task, ${THRESHOLD_KEYS.join(', ')}`);
    if (section === null || typeof section !== 'object' || Array.isArray(section))
      throw bad(`'${key}' must map metric names to numbers, e.g. ${key}: {auc: 0.8}`);
    const thresholds = policy[key as (typeof THRESHOLD_KEYS)[number]];
    for (const [metric, threshold] of Object.entries(section as Record<string, unknown>)) {
      if (!KNOWN_METRICS.includes(metric))
        throw bad(`unknown metric '${key}.${metric}'; known metrics: ${KNOWN_METRICS.join(', ')}`);
      if (typeof threshold !== 'number' || !Number.isFinite(threshold))
        throw bad(`'${key}.${metric}' must be a finite number, not ${JSON.stringify(threshold)}`);
      if (key !== 'min' && key !== 'max' && threshold < 0)
        throw bad(`'${key}.${metric}' is a tolerance and cannot be negative (${threshold})`);
      thresholds[metric] = threshold;
    }
  }
  if (policy.task !== undefined) checkTask(policy, policy.task);
  return policy;
}

/** Throws when the policy names a metric the task does not compute. */
export function checkTask(policy: EvaluationPolicy, task: EvaluationTask): void {
  const allowed: readonly string[] =
    task === 'classification' ? CLASSIFICATION_METRICS : REGRESSION_METRICS;
  for (const key of THRESHOLD_KEYS)
    for (const metric of Object.keys(policy[key]))
      if (!allowed.includes(metric))
        throw bad(
          `'${key}.${metric}' is not a ${task} metric; ${task} computes ${allowed.join(', ')}`,
        );
}

/** The per-column spread of each metric across slices. */
export type SliceGaps = Record<string, Record<string, MetricValue>>;

/** What the policy is judged on. */
export interface PolicyInput {
  metrics: MetricSet;
  champion?: MetricSet | undefined;
  /** Gap per slice column, then per metric. */
  gaps: SliceGaps;
}

function show(value: number): string {
  return Number(value.toPrecision(6)).toString();
}

/**
 * The reasons `input` fails `policy`; an empty list is a pass. A metric the policy needs
 * but that is undefined on this data fails, with the metric's own reason.
 */
export function judge(policy: EvaluationPolicy, input: PolicyInput): string[] {
  const reasons: string[] = [];
  const value = (set: MetricSet, metric: string, what: string): number | undefined => {
    const v = set.metrics[metric];
    if (v === null || v === undefined) {
      reasons.push(`${what} ${metric} is undefined: ${set.notes[metric] ?? 'not computed'}`);
      return undefined;
    }
    return v;
  };
  for (const [metric, floor] of Object.entries(policy.min)) {
    const v = value(input.metrics, metric, 'candidate');
    if (v !== undefined && v < floor)
      reasons.push(`${metric} ${show(v)} is below the minimum ${floor}`);
  }
  for (const [metric, ceiling] of Object.entries(policy.max)) {
    const v = value(input.metrics, metric, 'candidate');
    if (v !== undefined && v > ceiling)
      reasons.push(`${metric} ${show(v)} is above the maximum ${ceiling}`);
  }
  const regressions = Object.entries(policy.max_regression);
  if (regressions.length > 0 && input.champion === undefined)
    reasons.push(
      `the policy limits regression against the champion (${regressions.map(([m]) => m).join(', ')}) but no champion was given: pass --against <alias>`,
    );
  else if (input.champion !== undefined)
    for (const [metric, tolerance] of regressions) {
      const v = value(input.metrics, metric, 'candidate');
      const c = value(input.champion, metric, 'champion');
      if (v === undefined || c === undefined) continue;
      const worse = higherIsBetter(metric) ? c - v : v - c;
      if (worse > tolerance)
        reasons.push(
          `${metric} ${show(v)} is ${show(worse)} worse than the champion's ${show(c)} (allowed: ${tolerance})`,
        );
    }
  for (const [metric, limit] of Object.entries(policy.max_slice_gap)) {
    const columns = Object.entries(input.gaps);
    if (columns.length === 0)
      reasons.push(`the policy limits the slice gap of ${metric} but no --slices were given`);
    for (const [column, gaps] of columns) {
      const gap = gaps[metric];
      if (gap === null || gap === undefined)
        reasons.push(
          `${metric} gap across '${column}' is undefined (fewer than two slices have it)`,
        );
      else if (gap > limit)
        reasons.push(
          `${metric} differs by ${show(gap)} across '${column}' slices (allowed: ${limit})`,
        );
    }
  }
  return reasons;
}
