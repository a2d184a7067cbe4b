/**
 * Every limit and name rule in Mobius, in one place, each with the reason for it.
 * Validation elsewhere calls these; nothing else hard-codes a size or a pattern.
 */
import { MobiusError } from './errors.js';

/** Largest JSON request body. MLflow caps log-batch at 1 MB; we allow 1 MiB + headroom for envelopes. */
export const MAX_JSON_BODY_BYTES = 2 * 1024 * 1024;

/** Deepest JSON nesting accepted: deep bodies are a parser DoS, and no Mobius body nests past 32. */
export const MAX_JSON_DEPTH = 64;

/** Longest name (experiment, dataset, model): MLflow allows 500 chars for experiment names. */
export const MAX_NAME_LENGTH = 500;

/** Longest param/metric/tag key: MLflow's limit (validation.py MAX_ENTITY_KEY_LENGTH). */
export const MAX_KEY_LENGTH = 250;

/** Longest param value: MLflow's MAX_PARAM_VAL_LENGTH. */
export const MAX_PARAM_VALUE_LENGTH = 6000;

/** Longest tag value: MLflow's MAX_TAG_VAL_LENGTH. */
export const MAX_TAG_VALUE_LENGTH = 5000;

/** Entities per log-batch request: MLflow's limits, which its clients already chunk to. */
export const MAX_BATCH_METRICS = 1000;
export const MAX_BATCH_PARAMS = 100;
export const MAX_BATCH_TAGS = 100;
export const MAX_BATCH_ENTITIES = 1000;

/** Rows per INSERT statement: keeps under SQLite's 32766 bound parameters at ≤ 32 columns. */
export const MAX_ROWS_PER_INSERT = 1000;

/**
 * Names of user objects: letters, digits, `_ . - /` and space, as MLflow accepts
 * (`^[/\w.\- ]*$`), not starting with a space or '/', and unchanged by path
 * normalisation — so a name can be a path segment without becoming a traversal.
 */
export const NAME_PATTERN = /^[\p{L}\p{N}_][\p{L}\p{N}_.\- /]*$/u;

/**
 * Checks a user-given name and returns it in Unicode NFC, so look-alike NFD spellings
 * cannot create a second object with the "same" name.
 */
export function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new MobiusError('INVALID_ARGUMENT', `${kind} name must be a non-empty string`);
  }
  const normalised = name.normalize('NFC');
  if (normalised.length > MAX_NAME_LENGTH) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${kind} name is ${normalised.length} characters; the limit is ${MAX_NAME_LENGTH}`,
    );
  }
  if (!NAME_PATTERN.test(normalised) || hasPathTricks(normalised)) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${kind} name '${normalised}' is not allowed: use letters, digits, '_', '.', '-', '/' and spaces, starting with a letter, digit or '_', with no '..' or '//' segments`,
    );
  }
  return normalised;
}

/**
 * Checks a free-form display name (experiment and run names): MLflow accepts nearly any
 * text here ("/Users/me/churn", "my run #3"), so only emptiness, length and control
 * characters (NUL, newlines, zero-width and bidi controls) are refused. Returned in NFC.
 */
export function checkDisplayName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || name.trim().length === 0) {
    throw new MobiusError('INVALID_ARGUMENT', `${kind} name must be a non-empty string`);
  }
  const normalised = name.normalize('NFC');
  if (normalised.length > MAX_NAME_LENGTH) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${kind} name is ${normalised.length} characters; the limit is ${MAX_NAME_LENGTH}`,
    );
  }
  if (/[\p{Cc}\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]/u.test(normalised)) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${kind} name contains control or invisible characters; remove them`,
    );
  }
  return normalised;
}

/**
 * Checks a param/metric/tag key the way MLflow does: non-empty, at most MAX_KEY_LENGTH,
 * letters, digits, `_ - . / space`, and no path tricks (keys become file names in
 * MLflow's file store and in artifact-like views).
 */
export function checkKey(kind: string, key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new MobiusError('INVALID_ARGUMENT', `${kind} key must be a non-empty string`);
  }
  if (key.length > MAX_KEY_LENGTH) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${kind} key '${key.slice(0, 40)}…' is ${key.length} characters; the limit is ${MAX_KEY_LENGTH}`,
    );
  }
  if (!/^[\p{L}\p{N}_\-. /:]+$/u.test(key) || hasPathTricks(key)) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${kind} key '${key}' is not allowed: use letters, digits, '_', '-', '.', ' ', ':' and '/', with no '..' or '//' segments`,
    );
  }
  return key;
}

/** Checks a string value against `max` characters. */
export function checkValueLength(kind: string, key: string, value: string, max: number): string {
  if (value.length > max) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${kind} '${key}' has a value of ${value.length} characters; the limit is ${max}`,
    );
  }
  return value;
}

function hasPathTricks(name: string): boolean {
  return name.split('/').some((segment) => segment === '.' || segment === '..' || segment === '');
}

// Run search (src/tracking/search).

/** Runs per page when max_results is not given: MLflow's SEARCH_MAX_RESULTS_DEFAULT. */
export const SEARCH_MAX_RESULTS_DEFAULT = 1000;

/** Most runs per page: MLflow's SEARCH_MAX_RESULTS_THRESHOLD; more is INVALID_ARGUMENT. */
export const SEARCH_MAX_RESULTS_CAP = 50_000;

/**
 * Deepest nesting of parentheses in a filter. The parser recurses once per level, and
 * SQLite refuses expression trees deeper than 1000 (SQLITE_MAX_EXPR_DEPTH), so an
 * unbounded depth would turn a hostile filter into a stack overflow or an INTERNAL error.
 */
export const MAX_FILTER_DEPTH = 32;

/**
 * Most comparisons in one filter. Each becomes a correlated subquery, and a long
 * `a OR b OR …` chain is a left-deep tree in SQLite's parser, so this also keeps us far
 * from SQLITE_MAX_EXPR_DEPTH. MLflow's own UI sends a handful.
 */
export const MAX_FILTER_COMPARISONS = 100;

/**
 * Most values across all IN lists of one filter. Every value is a bound parameter, and
 * SQLite allows 32766 per statement; this leaves room for experiment ids and keys.
 */
export const MAX_FILTER_LIST_VALUES = 10_000;

/** Dataset inputs per log-inputs request: MLflow's MAX_DATASETS_PER_BATCH. */
export const MAX_DATASETS_PER_BATCH = 1000;
/** Dataset name: MLflow's MAX_DATASET_NAME_SIZE (its column width). */
export const MAX_DATASET_NAME_LENGTH = 500;
/** Dataset digest: MLflow's MAX_DATASET_DIGEST_SIZE — digests are short hashes. */
export const MAX_DATASET_DIGEST_LENGTH = 36;
/** Dataset source (a JSON description of where it came from): MLflow's MAX_DATASET_SOURCE_SIZE. */
export const MAX_DATASET_SOURCE_LENGTH = 65_535;
/** Dataset schema JSON: MLflow's MAX_DATASET_SCHEMA_SIZE. */
export const MAX_DATASET_SCHEMA_LENGTH = 1_048_575;
/** Dataset profile JSON: MLflow's MAX_DATASET_PROFILE_SIZE. */
export const MAX_DATASET_PROFILE_LENGTH = 16_777_215;
/** Experiments per SearchDatasets request: MLflow's MAX_EXPERIMENT_IDS_PER_REQUEST for it. */
export const MAX_SEARCH_DATASETS_EXPERIMENTS = 20;
/** Dataset summaries per SearchDatasets answer: MLflow's MAX_DATASET_SUMMARIES_RESULTS. */
export const MAX_SEARCH_DATASETS = 1000;
/** Input tag key and value: MLflow's MAX_INPUT_TAG_KEY_SIZE / MAX_INPUT_TAG_VALUE_SIZE. */
export const MAX_INPUT_TAG_KEY_LENGTH = 255;
export const MAX_INPUT_TAG_VALUE_LENGTH = 500;

// Experiment search (src/tracking/experiment-search.ts).

/** Experiments per page when max_results is not given: MLflow's SEARCH_MAX_RESULTS_DEFAULT. */
export const SEARCH_EXPERIMENTS_DEFAULT = 1000;

/** Most experiments per page: MLflow's SEARCH_MAX_RESULTS_THRESHOLD for experiments. */
export const SEARCH_EXPERIMENTS_MAX = 50_000;

// Model registry (src/registry).

/** Registered models per page when max_results is not given: MLflow's default for search_registered_models. */
export const SEARCH_MODELS_DEFAULT = 100;

/** Most registered models per page: MLflow's SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD. */
export const SEARCH_MODELS_MAX = 1000;

/** Model versions per page when max_results is not given: MLflow's default for search_model_versions. */
export const SEARCH_VERSIONS_DEFAULT = 10_000;

/** Most model versions per page: MLflow's SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD. */
export const SEARCH_VERSIONS_MAX = 200_000;

/** Longest alias: MLflow's limit (validation.py), so an alias valid here is valid there. */
export const MAX_ALIAS_LENGTH = 255;

/** Alias characters: letters, digits, `_` and `-` only, because aliases appear in `models:/name@alias` URIs. */
export const ALIAS_PATTERN = /^[\w-]*$/;

/** Reserved aliases, in any case: `latest` and `v<digits>` already name versions in `models:/` URIs. */
export const RESERVED_ALIASES: readonly RegExp[] = [/^latest$/i, /^v\d+$/i];

// Metric history downsampling (src/tracking/metric-history.ts).

/** Points per run when the caller does not say: what MLflow's UI asks for per chart. */
export const DEFAULT_HISTORY_POINTS = 320;

/**
 * Most points per run: MLflow's MAX_RESULTS_PER_RUN, the most its UI may ask for; it
 * bounds the response.
 */
export const MAX_HISTORY_POINTS = 2500;

/** Most runs per request (MLflow's MAX_RUNS_GET_METRIC_HISTORY_BULK): one query per chart. */
export const MAX_HISTORY_RUNS = 100;

// Multipart artifact uploads (src/tracking/artifacts.ts).

/**
 * Most parts in one multipart upload: S3's limit, which MLflow's client already respects
 * (it asks for ceil(size / MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE) parts). Each part is one
 * entry in memory until the upload completes.
 */
export const MAX_MULTIPART_PARTS = 10_000;

/**
 * Most multipart uploads open at once in one server process. Their state lives in memory
 * (parts are blobs), so an unbounded number would let a client exhaust the heap.
 */
export const MAX_OPEN_MULTIPART_UPLOADS = 1000;

/**
 * How long an unfinished multipart upload is kept: a client that dies between create and
 * complete never aborts, and its parts would otherwise stay in the blob store for ever.
 */
export const MULTIPART_UPLOAD_TTL_MS = 24 * 60 * 60 * 1000;

/** Largest JSON body of mpu/create, complete and abort: 10,000 parts of ~200 bytes each, with room. */
export const MAX_MULTIPART_REQUEST_BYTES = 4 * 1024 * 1024;

// Evaluation datasets (MLflow 3 GenAI; src/tracking/evaluation-datasets.ts).

/** Evaluation dataset name: MLflow's column width (evaluation_datasets.name is VARCHAR(255)). */
export const MAX_EVAL_DATASET_NAME_LENGTH = 255;

/** Evaluation dataset tag key and value: MLflow's column widths (VARCHAR(255) / VARCHAR(5000)). */
export const MAX_EVAL_DATASET_TAG_KEY_LENGTH = 255;
export const MAX_EVAL_DATASET_TAG_VALUE_LENGTH = 5000;

/**
 * Tags in one create or set-tags request. MLflow sets no number; this is log-batch's tag
 * limit, so a request stays one small transaction.
 */
export const MAX_EVAL_DATASET_TAGS_PER_REQUEST = 100;

/**
 * Experiments named in one create, add-experiments or remove-experiments request. MLflow
 * sets no number; every id is a bound parameter and an association row, and a dataset
 * shared by more experiments than this is added to them in several calls.
 */
export const MAX_EVAL_DATASET_EXPERIMENTS_PER_REQUEST = 1000;

/**
 * Records in one upsert (and record ids in one delete-records) request. MLflow sets no
 * number, and its client sends every record of one merge_records call at once; the body
 * limit bounds the bytes, this bounds the rows one write transaction holds the store for.
 */
export const MAX_EVAL_DATASET_RECORDS_PER_REQUEST = 10_000;

/**
 * Largest record (its inputs, outputs, expectations, tags and source as JSON). Records
 * are read back whole, a page at a time; one record should never be a page's worth.
 */
export const MAX_EVAL_DATASET_RECORD_BYTES = 1024 * 1024;

/**
 * Deepest nesting inside the `records` and `tags` JSON strings: they are JSON inside the
 * JSON body, so the body parser's depth check (MAX_JSON_DEPTH) never sees into them.
 */
export const MAX_EVAL_DATASET_JSON_DEPTH = MAX_JSON_DEPTH;

/** Records per page when max_results is not given: MLflow's LOAD_DATASET_RECORDS_MAX_RESULTS. */
export const EVAL_DATASET_RECORDS_PAGE_DEFAULT = 1000;

/** Most records per page: MLflow's SEARCH_MAX_RESULTS_THRESHOLD. */
export const EVAL_DATASET_RECORDS_PAGE_MAX = 50_000;

/**
 * Most record bytes in one page: a page stops early (with a next_page_token) once its
 * records pass this, so max_results × MAX_EVAL_DATASET_RECORD_BYTES never lands in memory.
 */
export const EVAL_DATASET_RECORDS_PAGE_BYTES = 8 * 1024 * 1024;

/** Datasets per search page when max_results is not given: MLflow's default. */
export const SEARCH_EVAL_DATASETS_DEFAULT = 1000;

/** Most datasets per search page: MLflow's SEARCH_MAX_RESULTS_THRESHOLD. */
export const SEARCH_EVAL_DATASETS_MAX = 50_000;
/**
 * Largest OTLP/HTTP trace export body (`POST /v1/traces`), after decompression too.
 * Span payloads hold LLM inputs and outputs, so they are larger than JSON API bodies;
 * OpenTelemetry's exporters batch 512 spans per request by default, and 16 MiB leaves
 * room for that with large prompts while keeping one request's decode bounded.
 */
export const MAX_OTLP_BODY_BYTES = 16 * 1024 * 1024;

/** Spans in one OTLP export request: bounds one transaction's size (the SDK sends ≤ 512). */
export const MAX_SPANS_PER_EXPORT = 10_000;

/** Longest span name kept; OpenTelemetry sets no limit, so this is the row-size guard. */
export const MAX_SPAN_NAME_LENGTH = 1000;

/** Longest trace tag key and value: MLflow's MAX_TRACE_TAG_KEY_LENGTH / _VAL_LENGTH. */
export const MAX_TRACE_TAG_KEY_LENGTH = 250;
export const MAX_TRACE_TAG_VALUE_LENGTH = 8000;

/** Longest trace metadata key (MLflow's MAX_CHARS_IN_TRACE_INFO_METADATA) and value. */
export const MAX_TRACE_METADATA_KEY_LENGTH = 250;
export const MAX_TRACE_METADATA_VALUE_LENGTH = 8000;

/** Request/response previews kept on a trace: MLflow's OSS preview length. */
export const TRACE_PREVIEW_LENGTH = 1000;

/** Traces per search page: MLflow's default and its server's cap (handlers.py). */
export const SEARCH_TRACES_DEFAULT = 100;
export const SEARCH_TRACES_MAX = 500;

/** Trace ids per delete-traces request, and per link-traces-to-run (MLflow's limit). */
export const MAX_DELETE_TRACE_IDS = 1000;
export const MAX_LINK_TRACES = 100;

// Dataset versions (src/data) and the tabular engine (src/engine).

/**
 * Dataset names: letters, digits, `_ . -`, starting with a letter, digit or `_`. Stricter
 * than NAME_PATTERN on purpose: a dataset name is written as `<name>@<ref>` on the command
 * line and in URLs, and may become a directory name in `data get`, so '/', '\', '@', spaces
 * and '..' are refused outright rather than normalised.
 */
export const DATASET_NAME_PATTERN = /^[\p{L}\p{N}_][\p{L}\p{N}_.-]*$/u;

/** Longest dataset name: one path segment on every common filesystem (255 bytes) with room. */
export const MAX_DATASET_NAME_LENGTH_CHARS = 200;

/**
 * Dataset tags: a letter first, then letters, digits, `_ . -`. A tag must not read as
 * another kind of ref: `v<digits>` and bare numbers are version numbers, and 8+ hex
 * characters are a content-hash prefix, so those spellings are refused as tags.
 */
export const DATASET_TAG_PATTERN = /^[A-Za-z][\w.-]*$/;

/** Longest dataset tag: the registry's alias limit, so a tag can be an alias one day. */
export const MAX_DATASET_TAG_LENGTH = 255;

/** The tag `data add` moves to each new version; users cannot set or delete it. */
export const LATEST_TAG = 'latest';

/** Shortest content-hash prefix accepted as a ref: git's default short hash length is 7; 8 keeps collisions rarer. */
export const MIN_HASH_PREFIX = 8;

/**
 * Most files in one dataset version. Each file is a manifest entry, a blob and a row in
 * dataset_file, all written in one transaction; directories with more files are usually
 * partitioned tables better added as several datasets or compacted first.
 */
export const MAX_DATASET_FILES = 10_000;

/**
 * Most columns in one dataset version. Profiles are computed in bundles of columns
 * (PROFILE_COLUMNS_PER_SCAN) so width costs scans, not memory; the cap bounds the
 * profile JSON stored with the version (~1 KB per column) and the scans one add runs.
 */
export const MAX_DATASET_COLUMNS = 10_000;

/**
 * Malformed CSV rows collected before an add is refused (DuckDB's rejects_limit per
 * file). The add fails on the first one anyway; collecting more lets the error list
 * several line numbers at once, and the cap keeps a binary file from filling memory.
 */
export const MAX_REJECTED_ROWS = 100;

/**
 * Bytes read from the start of a CSV file to find its header row (names are checked in
 * JavaScript, see data/csv-header.ts): a 10,000-column header of 100-character names fits.
 */
export const MAX_CSV_HEADER_BYTES = 4 * 1024 * 1024;

/**
 * Extra DuckDB memory per CSV column, in KiB. DuckDB's CSV reader and sniffer allocate
 * 2,048-row vectors for every column (16 bytes a cell) in several buffers at once, so a
 * 5,000-column file needs ~600 MB whatever its row count. A session reading a CSV gets
 * max(ENGINE_MEMORY_LIMIT_MB, columns × this) and one thread when that is above the base.
 */
export const ENGINE_MEMORY_PER_CSV_COLUMN_KB = 192;

/** Malformed rows quoted in an error message; the rest are counted. */
export const REJECTED_ROWS_SHOWN = 10;

/**
 * Columns profiled per SQL statement. Bundling aggregates into one scan is what makes
 * profiling fast (Soda bundles up to 50 per SELECT); 32 columns × ~12 aggregates keeps a
 * statement's plan small enough for DuckDB to build quickly even for very wide files.
 */
export const PROFILE_COLUMNS_PER_SCAN = 32;

/**
 * String columns scanned per SQL statement by a PII scan. One statement computes, per
 * column, a few regular expressions and their checks (Luhn, mod-97) for each of six kinds;
 * 32 columns keep the plan as small as a profile bundle while a 300-column table still
 * takes ten scans, each reading only its columns of the Parquet copy.
 */
export const PII_COLUMNS_PER_SCAN = 32;

/** Masked example values a PII scan reports per column and kind: enough to judge a match. */
export const PII_EXAMPLES = 3;

/**
 * Longest salt `data mask` takes, in characters. A salt is a secret of a few dozen
 * random characters; the cap keeps it a key, not a payload repeated into every hash input.
 */
export const MAX_MASK_SALT_LENGTH = 1024;

/**
 * Distinct values counted exactly per column, before sampling takes over. DuckDB's
 * approx_count_distinct (HyperLogLog with few registers) is off by 10–25% at many sizes,
 * too coarse for "is this column unique?". So a profile counts distinct values exactly
 * when the column looks like it has few, and otherwise counts exactly the distinct values
 * whose hash falls in 1/M of the hash space (M a power of two chosen so about this many
 * are counted) and multiplies by M: memory stays bounded and the relative error is about
 * 1/√PROFILE_EXACT_DISTINCT_MAX (~0.3%).
 */
export const PROFILE_EXACT_DISTINCT_MAX = 131_072;

/** Equal-width histogram bins per numeric column: Sturges' rule gives ~20 at 10⁶ rows. */
export const PROFILE_HISTOGRAM_BINS = 20;

/** Most frequent values kept per column (candidates from DuckDB's approx_top_k, exact counts). */
export const PROFILE_TOP_VALUES = 10;

/**
 * A column with at most this many distinct values has all of them in its profile's top
 * values (exact counts), so `in_set`, `unique` and bitmap keys of compound uniqueness are
 * decided from the profile: country codes, statuses, flags.
 */
export const PROFILE_ALL_VALUES = 32;

/** Longest top value kept in a profile (characters); longer strings are cut with '…'. */
export const PROFILE_MAX_VALUE_LENGTH = 200;

/**
 * Rows read from the start of the data to guess each column's cardinality, which picks
 * how its distinct and top values are counted (exact GROUP BY, or sketches).
 */
export const PROFILE_CARDINALITY_PREFIX_ROWS = 200_000;

/**
 * Quantiles in a profile, from DuckDB's approx_quantile (a t-digest: bounded memory at
 * any row count). Not reservoir_quantile: given a sample size, DuckDB 1.5.6 answered
 * 32,767 (and 1.5.5, 499) for the median of the ids 0…2,839,999 on the data benchmark.
 */
export const PROFILE_QUANTILES: readonly number[] = [0.05, 0.25, 0.5, 0.75, 0.95];

/** Sample rows of each kind (added, removed, changed) a row-level diff returns. */
export const DIFF_SAMPLE_ROWS = 10;

/** Most key columns in a row-level diff: keys are compared column by column in SQL. */
export const MAX_DIFF_KEY_COLUMNS = 16;

/**
 * DuckDB's memory limit per engine session, in MiB. `data add` of a 2 GB CSV must stay
 * under 600 MB peak RSS (issue 4): Node's own ~100 MB, DuckDB's buffer pool at this limit,
 * and allocations DuckDB does not count (~100 MB of readers and writers); past the limit
 * DuckDB spills sorts, joins and aggregates to the engine's temp directory.
 */
export const ENGINE_MEMORY_LIMIT_MB = 320;

/**
 * DuckDB's memory limit while `data add` reads files into a version (the COPY and the
 * profile), in MiB: below the engine's default because that session shares the process
 * with the files streaming into blob staging. Measured on the 2 GB CSV: a COPY alone peaks
 * at 365–457 MB RSS at 200–320 MiB, no slower at the lower limits; at 320 MiB `data add`
 * peaked at 505–667 MB across runs, over the 600 MB target in some.
 */
export const INGEST_MEMORY_LIMIT_MB = 224;

/**
 * Engine sessions running at once in one process: each may use ENGINE_MEMORY_LIMIT_MB and
 * every core, so more would only contend; the others wait their turn.
 */
export const MAX_ENGINE_SESSIONS = 2;

/**
 * Largest file one HTTP upload may add (POST /api/v1/datasets/:name/versions). The body
 * is streamed to disk under MOBIUS_HOME/tmp, never held in memory; this bounds the disk
 * one request can fill. Bigger data is added with the CLI next to the files.
 */
export const MAX_DATASET_UPLOAD_BYTES = 16 * 1024 * 1024 * 1024;

/** Checks a dataset name and returns it in NFC; see DATASET_NAME_PATTERN for the rules. */
export function checkDatasetName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new MobiusError('INVALID_ARGUMENT', 'dataset name must be a non-empty string');
  }
  const normalised = name.normalize('NFC');
  if (normalised.length > MAX_DATASET_NAME_LENGTH_CHARS) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `dataset name is ${normalised.length} characters; the limit is ${MAX_DATASET_NAME_LENGTH_CHARS}`,
    );
  }
  if (!DATASET_NAME_PATTERN.test(normalised) || normalised.includes('..')) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `dataset name '${normalised.slice(0, 80)}' is not allowed: use letters, digits, '_', '.' and '-', starting with a letter, digit or '_', with no '/', '\\', '@', spaces or '..'`,
    );
  }
  return normalised;
}

/** Checks a user tag of a dataset version; see DATASET_TAG_PATTERN for the rules. */
export function checkDatasetTag(tag: unknown): string {
  if (typeof tag !== 'string' || tag.length === 0) {
    throw new MobiusError('INVALID_ARGUMENT', 'tag must be a non-empty string');
  }
  if (tag.length > MAX_DATASET_TAG_LENGTH) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `tag is ${tag.length} characters; the limit is ${MAX_DATASET_TAG_LENGTH}`,
    );
  }
  if (!DATASET_TAG_PATTERN.test(tag)) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `tag '${tag.slice(0, 80)}' is not allowed: start with a letter, then letters, digits, '_', '.' or '-'`,
    );
  }
  if (/^v\d+$/i.test(tag) || new RegExp(`^[0-9a-f]{${MIN_HASH_PREFIX},}$`).test(tag)) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `tag '${tag}' would read as a version number or a content hash; pick another name`,
    );
  }
  if (tag.toLowerCase() === LATEST_TAG) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `'${LATEST_TAG}' is moved by 'data add' to each new version and cannot be set by hand`,
    );
  }
  return tag;
}
/**
 * Bytes of a pipeline step's stdout and of its stderr kept in the run's logs. A step may
 * print without bound ("huge stdout"); the log is streamed to disk and cut here, with the
 * number of dropped bytes noted, so neither memory nor the blob store grows with it.
 */
export const MAX_STEP_LOG_BYTES = 8 * 1024 * 1024;

/** Steps of one pipeline run at once when the caller does not say: the machine's cores. */
export const DEFAULT_STEP_CONCURRENCY = 4;

/** Most steps in one pipeline: bounds one run's bookkeeping (the benchmark is 1,000). */
export const MAX_PIPELINE_STEPS = 10_000;

/**
 * After a step's timeout, SIGTERM goes to its process group; what is still alive this many
 * ms later gets SIGKILL. Long enough to flush a log, short enough that a hung step frees
 * its slot quickly.
 */
export const STEP_KILL_GRACE_MS = 2_000;

/**
 * How often a command step's /proc entry is sampled for CPU time and peak RSS. Linux has
 * no per-child rusage in Node, so the last sample before exit is what is recorded.
 */
export const STEP_SAMPLE_INTERVAL_MS = 100;

/** Expectations in one suite: each is a few aggregates of one scan; this bounds the SQL. */
export const MAX_CHECK_EXPECTATIONS = 500;

/** Values listed in one `in_set` or `partitions_not_empty`: they are inlined into the SQL. */
export const MAX_CHECK_SET_VALUES = 10_000;

/** Failing values (GE's partial_unexpected_list) and failing rows kept per expectation. */
export const CHECK_UNEXPECTED_VALUES = 20;
export const CHECK_SAMPLE_ROWS = 5;
/** Columns shown in a sample row of a wide table: the checked columns first, then others. */
export const CHECK_SAMPLE_COLUMNS = 20;

/**
 * `unique` and `compound_unique` whose key the profile bounds to at most this many values
 * (integers, flags, dates, listed text, timestamps in units; see checks/compile.ts) count
 * distinct keys with a bitmap (`bitstring_agg`: one bit per value, 16 MiB at this size)
 * instead of a hash table: no hashing, and memory known before the scan.
 */
export const CHECK_BITMAP_MAX_RANGE = 2 ** 27;

/** Categories compared by a chi-square distribution check; rarer ones are pooled into one. */
export const CHECK_CHI2_MAX_CATEGORIES = 1000;

/**
 * History anomalies: a metric (row count, a column's null rate or mean) is compared with
 * its values on up to CHECK_HISTORY_VERSIONS earlier checked versions, once there are at
 * least CHECK_HISTORY_MIN_VERSIONS, and flagged outside mean ± CHECK_ANOMALY_SIGMAS × σ.
 * Fewer than 5 points make σ itself too uncertain to alarm on.
 */
export const CHECK_HISTORY_VERSIONS = 30;
export const CHECK_HISTORY_MIN_VERSIONS = 5;
export const CHECK_ANOMALY_SIGMAS = 3;
/** Columns whose null rate and mean are kept per check run (the first ones of wide tables). */
export const CHECK_METRIC_COLUMNS = 200;

/**
 * How long one OpenLineage HTTP POST may take. Lineage is an observer: a slow or dead
 * collector must not hold a pipeline run for long, so each event gets this much and is
 * then logged as undelivered. Configurable up to MAX_OPENLINEAGE_TIMEOUT_MS.
 */
export const OPENLINEAGE_TIMEOUT_MS = 5_000;
export const MAX_OPENLINEAGE_TIMEOUT_MS = 60_000;

/**
 * OpenLineage events waiting to be sent at once. Events are sent one after another (so a
 * run's START reaches the collector before its COMPLETE); past this many waiting — a
 * collector far slower than the pipelines — new events are dropped and counted in the log
 * rather than held in memory without bound.
 */
export const MAX_OPENLINEAGE_QUEUED_EVENTS = 10_000;

/**
 * After this many OpenLineage events in a row fail, events are dropped (counted and
 * logged) for OPENLINEAGE_PAUSE_MS before the collector is tried again. A collector that
 * is down would otherwise cost every queued event its full timeout: a 1,000-step run
 * against a collector that swallows requests would wait hours at its end.
 */
export const OPENLINEAGE_PAUSE_AFTER_FAILURES = 3;
export const OPENLINEAGE_PAUSE_MS = 30_000;

/** Cron schedules on one pipeline: each is a row the scheduler reads every tick. */
export const MAX_PIPELINE_SCHEDULES = 20;

/** Datasets one trigger waits on: each is a lookup per scheduler tick. */
export const MAX_TRIGGER_DATASETS = 50;

/**
 * Fires one schedule makes for boundaries missed while the scheduler was down, with
 * `catchup: 'all'` (a minutely cron down for a week would otherwise start 10,080 runs);
 * the newest are kept, the rest are logged as skipped.
 */
export const MAX_SCHEDULE_CATCHUP_FIRES = 100;

/** How often `mobius server` ticks the scheduler: cron's resolution is one minute. */
export const SCHEDULER_TICK_MS = 15_000;

/**
 * A fire claimed for launching but not marked launched after this long is launched again:
 * the process that claimed it died between claiming and starting the run. Starting a run
 * takes well under a second; a redo costs one extra run, never a lost one.
 */
export const FIRE_LAUNCH_LEASE_MS = 5 * 60_000;

/**
 * Deployment names: one URL path segment (`/v2/models/{name}/infer`), so no '/', space
 * or '%'; KServe's own rule (DNS-label-like) plus '_' and '.', which MLflow model names use.
 */
export const DEPLOYMENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Largest model file served in-process (ONNX or Mobius JSON): the bytes and the loaded
 * session live in the API process's memory; bigger models belong in a separate runtime.
 */
export const MAX_INPROCESS_MODEL_BYTES = 512 * 1024 * 1024;

/** Lineage walks: edges followed from the start node (a guard against cycles and runaway graphs). */
export const LINEAGE_MAX_DEPTH = 64;

/** Lineage walks: nodes returned, nearest first; a graph this size is a report, not a view. */
export const LINEAGE_MAX_NODES = 10_000;
/**
 * How long an out-of-process Python runtime may take from spawn to `/v2/health/ready`:
 * importing mlflow alone takes 2–4 s on a small machine, and a model's own imports
 * (torch, tensorflow) can take tens of seconds more. Past it the process is killed and
 * deploy fails with the last lines of its stderr.
 */
export const PYTHON_RUNTIME_STARTUP_MS = 120_000;

/**
 * Longest one inference may take in the Python runtime before the request fails with
 * UNAVAILABLE; the process is left running (a slow model is not a dead one).
 */
export const PYTHON_RUNTIME_INFER_TIMEOUT_MS = 60_000;

/** After SIGTERM, how long a Python runtime's process group has before SIGKILL. */
export const PYTHON_RUNTIME_STOP_GRACE_MS = 3_000;

/** Lines of a Python runtime's stderr kept for error messages (start-up failures, crashes). */
export const PYTHON_RUNTIME_STDERR_LINES = 20;

/**
 * Rows fed to a model per call during `mobius models evaluate`: large enough that the
 * per-call overhead (one DuckDB range read, one inference) is amortised, small enough
 * that a batch of wide rows stays a few MB as JavaScript values.
 */
export const EVALUATION_BATCH_ROWS = 8192;

/**
 * Most distinct values a slice column may have. Each slice gets its own metrics (and
 * AUC sorts its rows), so a high-cardinality column (an id) would multiply the work and
 * bury the fairness gap in noise from tiny slices.
 */
export const MAX_EVALUATION_SLICES = 100;

/**
 * A sticky key names a request header, OIP parameter, input or record field: a header
 * name's characters (RFC 9110 tokens, without the rarely used punctuation), bounded.
 */
export const STICKY_KEY_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

/** Longest `--reason` kept in a deployment's history: a sentence or a link, not a report. */
export const MAX_DEPLOYMENT_REASON_LENGTH = 2000;

/**
 * Weighted routes of one deployment (A plus up to nine B arms): each is a loaded model (an
 * MLflow one is a Python process of its own), and splitting traffic further leaves each
 * arm too few requests to compare.
 */
export const MAX_DEPLOYMENT_ROUTES = 10;

/**
 * Latencies each live route keeps for canary analysis (its p95): the newest requests of a
 * busy route, 80 KB of numbers per route; the oldest half is dropped when it fills.
 */
export const ROUTE_LATENCY_WINDOW = 10_000;

/**
 * How often `mobius server` checks the store for deployments changed by another process
 * (a CLI writing to the store): a change is served within this, and the check is one
 * indexed read of a handful of rows.
 */
export const DEPLOYMENT_SYNC_MS = 2_000;

/** Events `deployments show` lists by default (newest first); the history itself is kept whole. */
export const DEPLOYMENT_EVENTS_SHOWN = 20;

/**
 * Prediction records held in memory waiting for the store. Inference never waits on the
 * store, so when the store falls behind records are dropped (and counted) instead of
 * growing the heap without bound: 10,000 records of a few KB is tens of MB at worst.
 */
export const PREDICTION_LOG_BUFFER = 10_000;

/**
 * Bytes of serialised prediction records held in memory: a bound on the buffer's size
 * whatever the requests weigh (a 10 MB body would otherwise let 10,000 records take
 * 100 GB). Past it records are dropped and counted, as past PREDICTION_LOG_BUFFER.
 */
export const PREDICTION_LOG_BUFFER_BYTES = 64 * 1024 * 1024;

/**
 * Prediction records written per INSERT: one transaction per batch amortises the commit
 * (an fsync on SQLite) over many requests, and 200 rows × 12 columns stays far below
 * SQLite's and PostgreSQL's bound-parameter limits.
 */
export const PREDICTION_LOG_BATCH = 200;

/** Bytes after which a batch is written even if it has fewer than PREDICTION_LOG_BATCH records. */
export const PREDICTION_LOG_BATCH_BYTES = 1024 * 1024;

/**
 * Longest a prediction record waits in the buffer before it is written when traffic is
 * too light to fill a batch: the log is near-live for monitoring and feedback.
 */
export const PREDICTION_LOG_FLUSH_MS = 500;

/**
 * With `serving.predictionRetentionDays` set, how often `mobius server` deletes older
 * records, and how many rows one DELETE takes: short statements, so neither the writer
 * nor concurrent feedback waits long on the table.
 */
export const PREDICTION_LOG_PRUNE_MS = 60 * 60 * 1000;
export const PREDICTION_LOG_PRUNE_CHUNK = 5_000;

/** Longest request id accepted (OIP `id` or `x-request-id`): it is stored and indexed. */
export const MAX_REQUEST_ID_LENGTH = 256;

/**
 * Adaptive batching: most rows in one model run. Requests that queue while a run is in
 * flight go together up to this; large enough to amortise a run's fixed cost on small
 * tabular models, small enough that one batch's JSON stays a few hundred KB.
 */
export const SERVING_MAX_BATCH_ROWS = 128;

/**
 * Model runs in flight per loaded model. One: onnxruntime already uses every core inside a
 * run, so a second concurrent run only competes for them, while queued requests batch.
 */
export const SERVING_RUNS_IN_FLIGHT = 1;
