/** The shapes of dataset versions, their manifests and profiles, as services return them. */

/** The file formats `data add` reads. */
export const DATA_FORMATS = ['csv', 'parquet', 'json'] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];

/** Text encodings DuckDB's CSV reader decodes without extensions. */
export const CSV_ENCODINGS = ['utf-8', 'utf-16', 'latin-1'] as const;
export type CsvEncoding = (typeof CSV_ENCODINGS)[number];

/** One file of a version: where it sits below the version's root, and its bytes' address. */
export interface ManifestFile {
  path: string;
  sha256: string;
  size: number;
}

/**
 * What a version's content hash is the sha256 of (as canonical JSON): the files and how
 * they are read. Two adds of the same bytes with the same options have the same hash.
 */
export interface Manifest {
  format: DataFormat;
  options: { encoding?: CsvEncoding };
  files: ManifestFile[];
}

/** A column as DuckDB reads it. */
export interface ColumnSchema {
  name: string;
  /** DuckDB's type name, e.g. BIGINT, DOUBLE, VARCHAR, DECIMAL(18,3), TIMESTAMP. */
  type: string;
}

/** A value as profiles hold it: numbers for numeric columns when exact, strings otherwise. */
export type ProfileValue = number | string | boolean | null;

/** One of the most frequent values of a column, with its exact count. */
export interface TopValue {
  value: string;
  count: number;
}

/** One equal-width histogram bin: [lo, hi), the last bin closed [lo, hi] (as numpy). */
export interface HistogramBin {
  lo: number;
  hi: number;
  count: number;
}

/**
 * Statistics of one column. Exact when `distinctExact` (few distinct values, or a small
 * table): everything. Otherwise approximate: `approxDistinct` (hash-sampled, ~0.3%),
 * `quantiles` (t-digest, ±0.01 in rank) and `topValues`' membership (approx_top_k
 * candidates, counted exactly). Counts, nulls, min/max/mean/stddev and histograms are
 * always exact. Numeric statistics of FLOAT/DOUBLE columns leave
 * NaN and ±Infinity out and count them in `nanCount` / `infiniteCount`.
 */
export interface ColumnProfile {
  name: string;
  type: string;
  kind: 'integer' | 'float' | 'decimal' | 'string' | 'boolean' | 'temporal' | 'other';
  count: number;
  nullCount: number;
  /** Distinct non-null values: exact when `distinctExact`, else estimated (~0.3% error). */
  approxDistinct: number | null;
  distinctExact: boolean;
  min: ProfileValue;
  max: ProfileValue;
  mean: number | null;
  stddev: number | null;
  /** Quantile (as a string, e.g. "0.5") → value. */
  quantiles: Record<string, number> | null;
  histogram: HistogramBin[] | null;
  /**
   * Most frequent values with exact counts; null for nested types and for columns whose
   * first PROFILE_CARDINALITY_PREFIX_ROWS values were all distinct (no heavy hitters).
   */
  topValues: TopValue[] | null;
  nanCount?: number;
  infiniteCount?: number;
  /** String columns: lengths in characters. */
  minLength?: number | null;
  maxLength?: number | null;
  meanLength?: number | null;
}

/** A version's profile: the row count it was computed on and one entry per column. */
export interface Profile {
  rowCount: number;
  columns: ColumnProfile[];
}

/** A dataset version without its profile (what `data log` lists). */
export interface DatasetVersionSummary {
  dataset: string;
  version: number;
  id: string;
  contentHash: string;
  format: DataFormat;
  rowCount: number;
  columnCount: number;
  fileCount: number;
  totalBytes: number;
  runId: string | null;
  sourceUri: string | null;
  createdAt: number;
  tags: string[];
}

/** A whole dataset version (what `data show` prints). */
export interface DatasetVersion extends DatasetVersionSummary {
  manifest: Manifest;
  schema: ColumnSchema[];
  parquet: { sha256: string; size: number } | null;
  engine: string | null;
  profile: Profile | null;
}

/** A dataset with its newest version number and its tags. */
export interface Dataset {
  name: string;
  description: string | null;
  createdAt: number;
  updatedAt: number | null;
  latestVersion: number;
  tags: Record<string, number>;
}
