/**
 * data: immutable dataset versions (manifest, schema, profile, Parquet copy) on DuckDB;
 * PII scans and masking (pii.ts, mask.ts); and checks (`checks/`: expectation suites,
 * quality gates, history anomalies, suggestions). All read versions through DataService
 * and their Parquet copies through the engine (parquet-files.ts).
 */
export { DataService } from './data-service.js';
export type { AddInput, AddResult, MaskResult } from './data-service.js';
export { MASK_ACTIONS, REDACTED } from './mask.js';
export type { MaskAction, MaskOptions } from './mask.js';
export { DEFAULT_PII_THRESHOLD, PII_KINDS } from './pii.js';
export type { PiiColumn, PiiKind, PiiKindResult, PiiOptions, PiiReport } from './pii.js';
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
