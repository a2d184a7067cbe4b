/**
 * Turns a parsed filter and order_by into SQL over `run`, the same on SQLite and
 * PostgreSQL. Every user value is a bound parameter; keys and values never reach the SQL
 * text. Semantics follow MLflow's SQL store (sqlalchemy_store.py
 * `_get_sqlalchemy_filter_clauses`, `_get_orderby_clauses`) except where noted.
 */
import type { ExpressionBuilder, Expression, SelectQueryBuilder, SqlBool } from 'kysely';
import { sql, type Database, type StoreDialect } from '../../store/index.js';
import type {
  AttributeListComparison,
  Comparison,
  DatasetComparison,
  FilterNode,
  NumericAttributeComparison,
  StringAttributeComparison,
  StringComparator,
} from './filter-parser.js';
import type { OrderByClause } from './order-by.js';
import type { DatasetKey, RunAttribute } from './run-fields.js';

/** The expression builder a filter is compiled with: `run` is the outer table. */
export type RunExpressionBuilder = ExpressionBuilder<Database, 'run'>;

/** The column each attribute reads. run_name is the `name` column, kept equal to the mlflow.runName tag. */
const ATTRIBUTE_COLUMNS: Readonly<Record<RunAttribute, string>> = {
  run_id: 'run.id',
  run_name: 'run.name',
  status: 'run.status',
  user_id: 'run.user_id',
  artifact_uri: 'run.artifact_uri',
  lifecycle_stage: 'run.lifecycle_stage',
  start_time: 'run.start_time',
  end_time: 'run.end_time',
};

/**
 * The WHERE expression for a filter. Each metric/param/tag comparison is an EXISTS over
 * that run's row for the key, so a run without the key matches no comparison on it —
 * not even `!=` — as in MLflow (whose SQL store inner-joins, and whose file store returns
 * false for a missing key).
 *
 * @example
 * db.selectFrom('run').select('run.id').where((eb) => compileFilter(eb, ast, 'sqlite'));
 */
export function compileFilter(
  eb: RunExpressionBuilder,
  node: FilterNode,
  dialect: StoreDialect,
): Expression<SqlBool> {
  switch (node.kind) {
    case 'and':
      return eb.and(node.operands.map((operand) => compileFilter(eb, operand, dialect)));
    case 'or':
      return eb.or(node.operands.map((operand) => compileFilter(eb, operand, dialect)));
    case 'comparison':
      return compileComparison(eb, node, dialect);
  }
}

function compileComparison(
  eb: RunExpressionBuilder,
  c: Comparison,
  dialect: StoreDialect,
): Expression<SqlBool> {
  switch (c.entity) {
    case 'metric': {
      const value = sql.ref('latest_metric.value');
      // NaN is stored as value NULL with is_nan = 1, so SQL's NULL rules make it fail
      // every comparison; we add it back to `!=` only. That is IEEE 754 (NaN is unequal
      // to everything and ordered with nothing) and what MLflow's file store does.
      // MLflow's SQL store instead stores NaN as 0 and so lets `= 0`, `< 1` … match it,
      // an artefact we do not copy. ±Infinity are real doubles and compare as such
      // (`metrics.x > 1e308` finds +Infinity).
      const condition =
        c.comparator === '!='
          ? eb.or([eb(value, '!=', c.value), eb(sql.ref('latest_metric.is_nan'), '=', 1)])
          : eb(value, c.comparator, c.value);
      if (c.comparator === '=') {
        // Equality is selective and the (key, value) index answers it directly: see
        // runsHaving for why this is `run.id in (…)` rather than EXISTS.
        return runsHaving(
          eb,
          eb
            .selectFrom('latest_metric')
            .select('latest_metric.run_id')
            .where('latest_metric.key', '=', c.key)
            .where(condition),
        );
      }
      return eb.exists(
        eb
          .selectFrom('latest_metric')
          .select('latest_metric.run_id')
          .whereRef('latest_metric.run_id', '=', 'run.id')
          .where('latest_metric.key', '=', c.key)
          .where(condition),
      );
    }
    case 'param':
    case 'tag': {
      if (c.comparator === '=') {
        return runsHaving(
          eb,
          eb
            .selectFrom(`${c.entity} as kv` as 'param as kv')
            .select('kv.run_id')
            .where('kv.key', '=', c.key)
            .where('kv.value', '=', c.value),
        );
      }
      return eb.exists(
        keyValueRow(eb, c.entity, c.key).where(
          compareText(eb, sql.ref('kv.value'), c.comparator, c.value, dialect),
        ),
      );
    }
    case 'attribute':
      return compileAttribute(eb, c, dialect);
    case 'dataset':
      return compileDataset(eb, c, dialect);
  }
}

/** The column each dataset field reads: the dataset's own, or the input's context tag. */
const DATASET_COLUMNS: Readonly<Record<DatasetKey, string>> = {
  name: 'ds.name',
  digest: 'ds.digest',
  context: 'dsi.context',
};

/**
 * A run matches a dataset comparison when any dataset it logged as input does, as in
 * MLflow's SQL store (which joins inputs to datasets): `datasets.name != 'a'` finds runs
 * with some other dataset, and runs without inputs match no dataset comparison.
 */
function compileDataset(
  eb: RunExpressionBuilder,
  c: DatasetComparison,
  dialect: StoreDialect,
): Expression<SqlBool> {
  const column = sql.ref(DATASET_COLUMNS[c.key]);
  const condition =
    c.type === 'list'
      ? eb(column, c.comparator === 'IN' ? 'in' : 'not in', c.values)
      : compareText(eb, column, c.comparator, c.value, dialect);
  return eb.exists(
    eb
      .selectFrom('run_dataset_input as dsi')
      .innerJoin('run_dataset as ds', 'ds.id', 'dsi.dataset_id')
      .select('dsi.run_id')
      .whereRef('dsi.run_id', '=', 'run.id')
      .where(condition),
  );
}

function compileAttribute(
  eb: RunExpressionBuilder,
  c: NumericAttributeComparison | StringAttributeComparison | AttributeListComparison,
  dialect: StoreDialect,
): Expression<SqlBool> {
  const column = sql.ref(ATTRIBUTE_COLUMNS[c.key]);
  switch (c.type) {
    case 'number':
      return eb(column, c.comparator, c.value);
    case 'string':
      return compareText(eb, column, c.comparator, c.value, dialect);
    case 'list':
      return eb(column, c.comparator === 'IN' ? 'in' : 'not in', c.values);
  }
}

/**
 * `run.id in (subquery)` for an equality comparison: the same rows as the correlated
 * EXISTS (a run matches iff it has a row for the key with that value), but the database
 * can answer it from the `(key, value)` index once per query instead of probing each run
 * of the experiment. SQLite builds the id list (with a Bloom filter) up front, or drives
 * the search from it once ANALYZE statistics exist; PostgreSQL plans both as a
 * semi-join. On 10,000 runs (bench/tracking/search.ts) this took
 * `metrics.m0 > 0.5 and params.p0 = 'v3'` from ~35 ms to ~7 ms on SQLite. Range
 * comparisons stay EXISTS: they often match half the runs, and building that list costs
 * more than the probes (measured: ~18 ms vs ~7 ms for the same query).
 */
function runsHaving<DB, TB extends keyof DB>(
  eb: RunExpressionBuilder,
  ids: SelectQueryBuilder<DB, TB, { run_id: string }>,
): Expression<SqlBool> {
  return eb('run.id', 'in', ids);
}

/** The correlated `param` or `tag` row of the outer run for `key`, aliased `kv`. */
function keyValueRow(eb: RunExpressionBuilder, table: 'param' | 'tag', key: string) {
  // The two tables have the same columns; naming the alias through 'param' keeps one
  // typed code path for both without changing the SQL (the real table name is used).
  return eb
    .selectFrom(`${table} as kv` as 'param as kv')
    .select('kv.run_id')
    .whereRef('kv.run_id', '=', 'run.id')
    .where('kv.key', '=', key);
}

/**
 * A string comparison. LIKE is case-sensitive on both backends (the SQLite store turns on
 * case_sensitive_like to match PostgreSQL). ILIKE is PostgreSQL's own operator; SQLite
 * gets `lower(x) LIKE lower(y)`, whose lower() folds ASCII letters only. Both patterns
 * take `\` as the escape character, PostgreSQL's default, so `\%` and `\_` match a
 * literal `%` or `_` on SQLite too (MLflow leaves this backend-dependent).
 */
function compareText(
  eb: RunExpressionBuilder,
  column: Expression<unknown>,
  comparator: StringComparator,
  value: string,
  dialect: StoreDialect,
): Expression<SqlBool> {
  switch (comparator) {
    case '=':
    case '!=':
      return eb(column, comparator, value);
    case 'LIKE':
      return sql<SqlBool>`${column} like ${value} escape '\\'`;
    case 'ILIKE':
      return dialect === 'postgres'
        ? sql<SqlBool>`${column} ilike ${value} escape '\\'`
        : sql<SqlBool>`lower(${column}) like lower(${value}) escape '\\'`;
  }
}

/**
 * Adds order_by clauses, then MLflow's default order (start_time DESC, run id ASC) as the
 * final tiebreakers so every page boundary is deterministic.
 *
 * Runs missing the sort key come last in both directions, as in MLflow. For metrics,
 * NaN comes after every real value and before missing (MLflow's SQL store ranks
 * is_nan = 1 then missing = 2 the same way). Text sorts compare code points on both
 * backends: PostgreSQL is told `collate "C"`, matching SQLite's BINARY, so a database
 * created with a linguistic locale does not reorder pages.
 */
export function applyOrderBy<O>(
  query: SelectQueryBuilder<Database, 'run', O>,
  clauses: readonly OrderByClause[],
  dialect: StoreDialect,
): SelectQueryBuilder<Database, 'run', O> {
  const text = dialect === 'postgres' ? 'C' : undefined;
  let qb = query;
  for (const clause of clauses) {
    const direction = clause.ascending ? 'asc' : 'desc';
    switch (clause.entity) {
      case 'metric': {
        const latest = (eb: RunExpressionBuilder) =>
          eb
            .selectFrom('latest_metric')
            .whereRef('latest_metric.run_id', '=', 'run.id')
            .where('latest_metric.key', '=', clause.key);
        // Rank first, always ascending: 0 a real value, 1 NaN, 2 no such metric.
        qb = qb
          .orderBy((eb) =>
            eb.fn.coalesce(latest(eb).select('latest_metric.is_nan').$asScalar(), eb.lit(2)),
          )
          .orderBy((eb) => latest(eb).select('latest_metric.value').$asScalar(), direction);
        break;
      }
      case 'param':
      case 'tag': {
        const table = clause.entity;
        qb = qb.orderBy(
          (eb) => keyValueRow(eb, table, clause.key).clearSelect().select('kv.value').$asScalar(),
          (ob) => withCollation(clause.ascending ? ob.asc() : ob.desc(), text).nullsLast(),
        );
        break;
      }
      case 'attribute': {
        const numeric = clause.key === 'start_time' || clause.key === 'end_time';
        qb = qb.orderBy(sql.ref(ATTRIBUTE_COLUMNS[clause.key]), (ob) =>
          withCollation(
            clause.ascending ? ob.asc() : ob.desc(),
            numeric ? undefined : text,
          ).nullsLast(),
        );
        break;
      }
    }
  }
  return qb
    .orderBy('run.start_time', 'desc')
    .orderBy('run.id', (ob) => withCollation(ob.asc(), text));
}

interface Collatable<T> {
  collate(collation: string): T;
}

function withCollation<T extends Collatable<T>>(ob: T, collation: string | undefined): T {
  return collation === undefined ? ob : ob.collate(collation);
}
