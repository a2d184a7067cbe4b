/**
 * Run search: MLflow's runs/search (filter, order_by, max_results, page_token,
 * run_view_type) as one function over the store, returning run ids in order. Callers
 * load the runs they need; keeping this to ids keeps it one query.
 */
import { MobiusError, limits } from '../../core/index.js';
import type { Database, Kysely, StoreDialect } from '../../store/index.js';
import { applyOrderBy, compileFilter } from './compile.js';
import { parseFilter } from './filter-parser.js';
import { parseOrderBy } from './order-by.js';
import { decodePageToken, encodePageToken } from './page-token.js';

/** Which runs by lifecycle stage, as MLflow's ViewType. */
export type SearchViewType = 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';

/** What to search for; every field but experimentIds is optional, as in MLflow. */
export interface SearchRunsOptions {
  experimentIds: readonly string[];
  filter?: string | null | undefined;
  orderBy?: readonly string[] | null | undefined;
  /** Runs per page: default 1000, at most 50000. */
  maxResults?: number | null | undefined;
  pageToken?: string | null | undefined;
  /** Default ACTIVE_ONLY. */
  viewType?: SearchViewType | null | undefined;
}

/** One page of run ids, and the token for the next page when there is one. */
export interface SearchRunsPage {
  runIds: string[];
  nextPageToken?: string;
}

/**
 * Searches runs in `experimentIds`. Unknown experiment ids match nothing (no error, as
 * in MLflow). Every problem with the arguments is INVALID_ARGUMENT, raised before the
 * database is touched.
 *
 * @example
 * const page = await searchRuns(store.db, store.dialect, {
 *   experimentIds: ['1'],
 *   filter: "metrics.acc > 0.9 AND params.opt = 'adam'",
 *   orderBy: ['metrics.acc DESC'],
 *   maxResults: 50,
 * });
 */
export async function searchRuns(
  db: Kysely<Database>,
  dialect: StoreDialect,
  options: SearchRunsOptions,
): Promise<SearchRunsPage> {
  const maxResults = checkMaxResults(options.maxResults);
  const filter = parseFilter(options.filter);
  const orderBy = parseOrderBy(options.orderBy);
  const offset = decodePageToken(options.pageToken);
  const viewType = options.viewType ?? 'ACTIVE_ONLY';
  // `in ()` is not SQL; no experiments means no runs.
  if (options.experimentIds.length === 0) return { runIds: [] };

  let query = db
    .selectFrom('run')
    .select('run.id')
    .where('run.experiment_id', 'in', [...options.experimentIds]);
  if (viewType !== 'ALL') {
    query = query.where(
      'run.lifecycle_stage',
      '=',
      viewType === 'ACTIVE_ONLY' ? 'active' : 'deleted',
    );
  }
  if (filter !== undefined) query = query.where((eb) => compileFilter(eb, filter, dialect));
  // One row past the page tells whether another page exists, so the last page carries
  // no token (MLflow's SQL store hands out a token to an empty page when a page is full).
  const rows = await applyOrderBy(query, orderBy, dialect)
    .limit(maxResults + 1)
    .offset(offset)
    .execute();
  const runIds = rows.slice(0, maxResults).map((row) => row.id);
  return rows.length > maxResults
    ? { runIds, nextPageToken: encodePageToken(offset + maxResults) }
    : { runIds };
}

function checkMaxResults(value: number | null | undefined): number {
  if (value === null || value === undefined) return limits.SEARCH_MAX_RESULTS_DEFAULT;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `max_results must be a positive whole number, not ${String(value)}`,
    );
  }
  if (value > limits.SEARCH_MAX_RESULTS_CAP) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      // MLflow's wording, which its clients and tests match, then the limit.
      `Invalid value ${value} for parameter 'max_results' supplied: the most one page can hold is ${limits.SEARCH_MAX_RESULTS_CAP}`,
    );
  }
  return value;
}
