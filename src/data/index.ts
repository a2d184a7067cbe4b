/**
 * data: immutable dataset versions (manifest, schema, profile, Parquet copy) on DuckDB.
 * Phase 2 (expectation suites, gates, PII) will sit beside this as `data/checks/`,
 * reading versions through DataService and their Parquet copies through the engine.
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
