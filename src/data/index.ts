/**
 * data: immutable dataset versions (manifest, schema, profile, Parquet copy) on DuckDB,
 * and their checks (`checks/`: expectation suites, quality gates, history anomalies,
 * suggestions), which read versions through DataService and Parquet copies through the engine.
 */
export { DataService } from './data-service.js';
export type { AddInput, AddResult } from './data-service.js';
export type {
  ChangedRow,
  DatasetDiff,
  DiffOptions,
  DiffSide,
  RowDiff,
  StatChange,
} from './diff.js';
export { parseRef, parseVersionRef } from './refs.js';
export type { DatasetRef, VersionRef } from './refs.js';
export { kindOf } from './profile.js';
export { CSV_ENCODINGS, DATA_FORMATS } from './types.js';
export type {
  ColumnProfile,
  ColumnSchema,
  CsvEncoding,
  DataFormat,
  Dataset,
  DatasetVersion,
  DatasetVersionSummary,
  HistogramBin,
  Manifest,
  ManifestFile,
  Profile,
  ProfileValue,
  TopValue,
} from './types.js';
export { CheckService, gateStatus } from './checks/check-service.js';
export type { GateOptions } from './checks/check-service.js';
export { EXPECTATION_KINDS, parseSuite, suiteHash } from './checks/suite.js';
export type {
  Expectation,
  ExpectationInput,
  ExpectationKind,
  Suite,
  SuiteInput,
} from './checks/suite.js';
export type {
  Anomaly,
  CheckRun,
  CheckRunSummary,
  CheckStatistics,
  DecidedBy,
  ExpectationOutcome,
  ExpectationResult,
  GateStatus,
} from './checks/results.js';
export { withParquetFiles } from './parquet-files.js';
