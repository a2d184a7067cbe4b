/**
 * MLflow's trace search grammar (mlflow/utils/search_utils.py `SearchTraceUtils`):
 * comparisons joined by AND, over trace attributes, `tags.`, `metadata.` and `span.`:
 *
 *   attributes.timestamp_ms > 1700000000000 AND tags.env = 'prod'
 *   metadata.`mlflow.sourceRun` = '…' AND span.name LIKE 'retriev%'
 *   attributes.status = 'OK' AND attributes.run_id = '…'
 *
 * Compiled to SQL over `trace_info`, the same on SQLite and PostgreSQL; every value is a
 * bound parameter.
 */
import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import { MobiusError, limits } from '../../core/index.js';
import { sql, type Database, type StoreDialect } from '../../store/index.js';
import { SearchScanner, type RawComparator, type RawValue } from '../search/index.js';

type NumericField = 'request_time' | 'execution_duration';
type StringField = 'state' | 'client_request_id' | 'request_preview' | 'response_preview';

/** One comparison of a trace filter, checked and resolved to what it reads. */
export type TraceComparison =
  | { on: 'number'; field: NumericField; comparator: RawComparator; value: number }
  | { on: 'string'; field: StringField; comparator: RawComparator; value: string | string[] }
  | {
      on: 'tag' | 'metadata';
      key: string;
      comparator: RawComparator;
      value: string | string[];
    }
  | { on: 'span'; field: 'name' | 'span_type' | 'status'; comparator: RawComparator; value: string }
  | { on: 'run'; value: string };

const NUMERIC: Record<string, NumericField> = {
  timestamp_ms: 'request_time',
  timestamp: 'request_time',
  request_time: 'request_time',
  execution_time_ms: 'execution_duration',
  execution_time: 'execution_duration',
  execution_duration: 'execution_duration',
};
const STRING: Record<string, StringField> = {
  status: 'state',
  state: 'state',
  client_request_id: 'client_request_id',
  request_preview: 'request_preview',
  response_preview: 'response_preview',
};
const ATTRIBUTE_PREFIXES = new Set(['attributes', 'attribute', 'attr', 'trace']);
const TAG_PREFIXES = new Set(['tags', 'tag']);
const METADATA_PREFIXES = new Set(['metadata', 'request_metadata']);
const SPAN_FIELDS: Record<string, 'name' | 'span_type' | 'status'> = {
  name: 'name',
  type: 'span_type',
  span_type: 'span_type',
  status: 'status',
};
const NUMERIC_OPS: readonly RawComparator[] = ['=', '!=', '>', '>=', '<', '<='];
const STRING_OPS: readonly RawComparator[] = ['=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'];

/** The trace name is a tag (MLflow reads `name` / `trace.name` as `tags.mlflow.traceName`). */
export const TRACE_NAME_TAG = 'mlflow.traceName';

/**
 * Parses a trace filter; an empty list for none. INVALID_ARGUMENT names the clause and
 * what is allowed there.
 *
 * @example
 * parseTraceFilter("attributes.status = 'OK' AND tags.env = 'prod'");
 */
export function parseTraceFilter(filter: string | null | undefined): TraceComparison[] {
  if (filter === null || filter === undefined || filter.trim() === '') return [];
  const s = new SearchScanner(filter, 'filter');
  const out: TraceComparison[] = [];
  for (;;) {
    if (out.length >= limits.MAX_FILTER_COMPARISONS)
      throw s.error(`the filter has more than ${limits.MAX_FILTER_COMPARISONS} comparisons`);
    const id = s.readIdentifier("a comparison such as attributes.status = 'OK'");
    const comparator = s.readComparator(filter.slice(id.start, id.end));
    const raw = s.readValue(filter.slice(id.start, s.pos).trim());
    const source = filter.slice(id.start, s.pos).trim();
    out.push(resolve(id.prefix, id.key, comparator, raw, source));
    if (s.atEnd()) return out;
    if (s.peekWord() !== 'AND')
      throw s.error(
        'expected AND or the end of the filter (trace filters join comparisons with AND)',
      );
    s.takeWord();
  }
}

function resolve(
  prefix: string | undefined,
  key: string,
  comparator: RawComparator,
  raw: RawValue,
  source: string,
): TraceComparison {
  const fail = (problem: string) =>
    new MobiusError('INVALID_ARGUMENT', `Invalid trace filter '${source}': ${problem}`);
  const text = (ops: readonly RawComparator[]): string | string[] => {
    if (!ops.includes(comparator))
      throw fail(`'${comparator}' is not allowed here; use ${ops.join(', ')}`);
    const isList = comparator === 'IN' || comparator === 'NOT IN';
    if (isList !== (raw.type === 'list'))
      throw fail(
        isList ? `${comparator} takes a list such as ('a', 'b')` : 'expected a quoted string',
      );
    if (raw.type === 'list') return raw.values;
    if (raw.type !== 'string') throw fail('expected a quoted string');
    return raw.value;
  };
  if (prefix === undefined || ATTRIBUTE_PREFIXES.has(prefix)) {
    const numeric = NUMERIC[key];
    if (numeric !== undefined) {
      if (!NUMERIC_OPS.includes(comparator))
        throw fail(`'${comparator}' is not allowed on ${key}; use ${NUMERIC_OPS.join(', ')}`);
      if (raw.type !== 'number') throw fail(`${key} compares with a number`);
      return { on: 'number', field: numeric, comparator, value: raw.value };
    }
    const field = STRING[key];
    if (field !== undefined) return { on: 'string', field, comparator, value: text(STRING_OPS) };
    if (key === 'name' || key === 'trace_name')
      return { on: 'tag', key: TRACE_NAME_TAG, comparator, value: text(STRING_OPS) };
    if (key === 'run_id') {
      if (comparator !== '=') throw fail(`run_id takes only '='`);
      const value = text(['=']);
      return { on: 'run', value: value as string };
    }
    throw fail(
      `unknown trace attribute '${key}'; use timestamp_ms, execution_time_ms, status, name, run_id, client_request_id, request_preview or response_preview`,
    );
  }
  if (TAG_PREFIXES.has(prefix)) return { on: 'tag', key, comparator, value: text(STRING_OPS) };
  if (METADATA_PREFIXES.has(prefix))
    return { on: 'metadata', key, comparator, value: text(STRING_OPS) };
  if (prefix === 'span') {
    const field = SPAN_FIELDS[key];
    if (field === undefined) throw fail(`unknown span field '${key}'; use name, type or status`);
    const value = text(['=', '!=', 'LIKE', 'ILIKE']);
    return { on: 'span', field, comparator, value: value as string };
  }
  throw fail(`unknown entity '${prefix}'; use attributes., tags., metadata. or span.`);
}

type TraceEb = ExpressionBuilder<Database, 'trace_info'>;

/** The WHERE expression for parsed comparisons (all of them must hold). */
export function compileTraceFilter(
  eb: TraceEb,
  comparisons: readonly TraceComparison[],
  dialect: StoreDialect,
): Expression<SqlBool> {
  return eb.and(comparisons.map((c) => compileOne(eb, c, dialect)));
}

function compileOne(eb: TraceEb, c: TraceComparison, dialect: StoreDialect): Expression<SqlBool> {
  switch (c.on) {
    case 'number':
      return eb(`trace_info.${c.field}`, c.comparator as '=', c.value);
    case 'string':
      return compare(sql.ref(`trace_info.${c.field}`), c.comparator, c.value, dialect);
    case 'tag':
    case 'metadata': {
      const table = c.on === 'tag' ? 'trace_tag' : 'trace_metadata';
      return eb.exists(
        eb
          .selectFrom(table)
          .select(sql.lit(1).as('one'))
          .whereRef(`${table}.trace_id`, '=', 'trace_info.trace_id')
          .where(`${table}.key`, '=', c.key)
          .where(() => compare(sql.ref(`${table}.value`), c.comparator, c.value, dialect)),
      );
    }
    case 'span': {
      // MLflow's span.status compares the span's status code name (OK, ERROR, UNSET).
      return eb.exists(
        eb
          .selectFrom('trace_span')
          .select(sql.lit(1).as('one'))
          .whereRef('trace_span.trace_id', '=', 'trace_info.trace_id')
          .where(() => compare(sql.ref(`trace_span.${c.field}`), c.comparator, c.value, dialect)),
      );
    }
    case 'run':
      // A trace belongs to a run when it was linked to it or recorded inside it (the
      // mlflow.sourceRun metadata MLflow's tracer writes), as MLflow's SQL store reads it.
      return eb.or([
        eb.exists(
          eb
            .selectFrom('trace_run_link')
            .select(sql.lit(1).as('one'))
            .whereRef('trace_run_link.trace_id', '=', 'trace_info.trace_id')
            .where('trace_run_link.run_id', '=', c.value),
        ),
        eb.exists(
          eb
            .selectFrom('trace_metadata')
            .select(sql.lit(1).as('one'))
            .whereRef('trace_metadata.trace_id', '=', 'trace_info.trace_id')
            .where('trace_metadata.key', '=', 'mlflow.sourceRun')
            .where('trace_metadata.value', '=', c.value),
        ),
      ]);
  }
}

/**
 * A string comparison. LIKE is case-sensitive on both backends (the SQLite store turns on
 * case_sensitive_like); ILIKE is PostgreSQL's, and `lower(x) LIKE lower(y)` on SQLite.
 */
function compare(
  column: Expression<unknown>,
  comparator: RawComparator,
  value: string | string[],
  dialect: StoreDialect,
): Expression<SqlBool> {
  const list = Array.isArray(value) ? value : [value];
  switch (comparator) {
    case '=':
      return sql<SqlBool>`${column} = ${list[0]}`;
    case '!=':
      return sql<SqlBool>`${column} <> ${list[0]}`;
    case 'LIKE':
      return sql<SqlBool>`${column} like ${list[0]}`;
    case 'ILIKE':
      return dialect === 'postgres'
        ? sql<SqlBool>`${column} ilike ${list[0]}`
        : sql<SqlBool>`lower(${column}) like lower(${list[0]})`;
    case 'IN':
    case 'NOT IN': {
      // An empty list matches nothing (IN) or everything (NOT IN); PostgreSQL refuses `IN ()`.
      if (list.length === 0) return sql<SqlBool>`${sql.lit(comparator === 'NOT IN' ? 1 : 0)} = 1`;
      const items = sql.join(list.map((v) => sql`${v}`));
      return comparator === 'IN'
        ? sql<SqlBool>`${column} in (${items})`
        : sql<SqlBool>`${column} not in (${items})`;
    }
    default:
      throw new MobiusError('INVALID_ARGUMENT', `'${comparator}' is not allowed on strings`);
  }
}

/** A parsed order_by clause of a trace search. */
export interface TraceOrder {
  column: 'request_time' | 'execution_duration' | 'state' | 'trace_id';
  descending: boolean;
}

const ORDER_COLUMNS: Record<string, TraceOrder['column']> = {
  timestamp_ms: 'request_time',
  timestamp: 'request_time',
  request_time: 'request_time',
  execution_time_ms: 'execution_duration',
  execution_time: 'execution_duration',
  execution_duration: 'execution_duration',
  status: 'state',
  state: 'state',
  request_id: 'trace_id',
  trace_id: 'trace_id',
};

/**
 * Parses order_by clauses (`timestamp_ms DESC`, `attributes.execution_time_ms`); the
 * default and every tie-break is MLflow's: newest first, then trace id.
 */
export function parseTraceOrderBy(clauses: readonly string[]): TraceOrder[] {
  const out = clauses.map((clause): TraceOrder => {
    const m =
      /^\s*(?:(?:attributes|attribute|attr|trace)\.)?`?([a-z_]+)`?(?:\s+(ASC|DESC))?\s*$/i.exec(
        clause,
      );
    const column = m === null ? undefined : ORDER_COLUMNS[m[1]!];
    if (m === null || column === undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `Invalid order_by clause '${clause}': order traces by timestamp_ms, execution_time_ms, status or request_id, optionally followed by ASC or DESC`,
      );
    return { column, descending: (m[2] ?? 'ASC').toUpperCase() === 'DESC' };
  });
  if (out.length === 0) out.push({ column: 'request_time', descending: true });
  if (!out.some((o) => o.column === 'trace_id'))
    out.push({ column: 'trace_id', descending: false });
  return out;
}
