/**
 * What a check run returns and stores: the shape Great Expectations users know (overall
 * success, statistics, and per expectation the observed value, unexpected count and
 * percent, and a sample of failing values and rows), in Mobius' camelCase, plus the
 * gate's status and the history anomalies.
 */
import type { Cell } from '../../engine/index.js';
import type { Expectation } from './suite.js';

/** Where an expectation's answer came from. */
export type DecidedBy =
  /** the version's stored profile, schema or row count: exact facts of immutable data, no scan */
  | 'profile'
  /** the suite's one bundled scan of the Parquet copy */
  | 'scan'
  /** its own query (joins with another version, distributions, exact duplicate counts) */
  | 'query';

/** GE's `result` object of one expectation. */
export interface ExpectationOutcome {
  /** The measured value the expectation judged (a fraction, a count, a statistic…). */
  observedValue: unknown;
  /** Rows the expectation looked at (column-map expectations). */
  elementCount?: number;
  /** Rows left out as missing: nulls in the checked column(s). */
  missingCount?: number;
  missingPercent?: number;
  /** Non-missing rows that broke the expectation. */
  unexpectedCount?: number;
  /** unexpectedCount / (elementCount − missingCount) × 100. */
  unexpectedPercent?: number;
  /** Up to CHECK_UNEXPECTED_VALUES failing values of the checked column(s). */
  partialUnexpectedList?: Cell[];
  /** Up to CHECK_SAMPLE_ROWS whole failing rows (up to CHECK_SAMPLE_COLUMNS columns). */
  sampleRows?: Record<string, Cell>[];
  /** Anything else the kind reports (schema differences, p-values, missing partitions…). */
  details?: Record<string, unknown>;
}

/** One expectation's verdict. */
export interface ExpectationResult {
  /** Position in the suite, from 1 (as errors name it). */
  index: number;
  expectation: Expectation;
  success: boolean;
  severity: 'error' | 'warn';
  decidedBy: DecidedBy;
  result: ExpectationOutcome;
}

/** A metric of the checked version whose value is compared with earlier versions'. */
export interface Anomaly {
  metric: string;
  value: number;
  mean: number;
  stddev: number;
  /** How many σ away (Infinity when the history was constant and this differs). */
  sigmas: number;
  message: string;
  history: { version: number; value: number }[];
}

/** Overall counts, as GE's `statistics`. */
export interface CheckStatistics {
  evaluatedExpectations: number;
  successfulExpectations: number;
  unsuccessfulExpectations: number;
  successPercent: number;
}

/**
 * A gate's answer: `fail` when an `error` expectation failed; `warn` when only `warn`
 * expectations failed or the history shows an anomaly; otherwise `pass`.
 */
export type GateStatus = 'pass' | 'warn' | 'fail';

/** A stored check run. */
export interface CheckRun {
  id: string;
  dataset: string;
  version: number;
  versionId: string;
  suite: { name: string; hash: string };
  status: GateStatus;
  success: boolean;
  statistics: CheckStatistics;
  results: ExpectationResult[];
  anomalies: Anomaly[];
  /** Table scans the run needed (0 when the profile decided everything). */
  scans: number;
  runId: string | null;
  createdAt: number;
  durationMs: number;
}

/** A check run without its per-expectation results (what listings return). */
export type CheckRunSummary = Omit<CheckRun, 'results' | 'anomalies'> & { anomalyCount: number };
