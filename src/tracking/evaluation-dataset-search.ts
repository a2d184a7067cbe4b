/**
 * MLflow's evaluation dataset search (SearchEvaluationDatasetsUtils in
 * mlflow/utils/search_utils.py and SqlAlchemyStore.search_datasets), with OR and
 * parentheses as Mobius' other searches have them:
 *
 *   filter     := or-expr (OR, AND and parentheses: see filter-grammar.ts)
 *   comparison := name IN ('a', 'b') | attribute comparator value | tags.<key> comparator value
 *
 * Attributes: `name`, `created_by`, `last_updated_by` (=, !=, LIKE, ILIKE; `name` also
 * IN), `created_time` and `last_update_time` (=, !=, <, <=, >, >= on integers). Tags take
 * =, !=, LIKE, ILIKE and match datasets that have the tag with a matching value, as
 * MLflow's join does.
 *
 * order_by: name, created_time, last_update_time, each ASC or DESC; the default is
 * `created_time DESC`, and dataset id DESC breaks remaining ties (both as MLflow does).
 */
import type { Expression, SqlBool } from 'kysely';
import { sql, type StoreDialect } from '../store/index.js';
import {
  comparatorOf,
  integerOperand,
  invalidFilter as invalid,
  parseBooleanFilter,
  stringOperand,
  stringSql,
  where,
  type BooleanFilter,
  type FilterCursor,
  type NumberOp,
  type StringOp,
} from './filter-grammar.js';

const STRING_COLUMNS = {
  name: 'name',
  created_by: 'created_by',
  last_updated_by: 'last_updated_by',
} as const;
const TIME_COLUMNS = { created_time: 'created_at', last_update_time: 'updated_at' } as const;

type StringColumn = (typeof STRING_COLUMNS)[keyof typeof STRING_COLUMNS];
type TimeColumn = (typeof TIME_COLUMNS)[keyof typeof TIME_COLUMNS];

/** One checked comparison of a dataset filter. */
export type DatasetComparison =
  | { kind: 'text'; column: StringColumn; op: StringOp; value: string }
  | { kind: 'names'; values: string[] }
  | { kind: 'time'; column: TimeColumn; op: NumberOp; value: number }
  | { kind: 'tag'; key: string; op: StringOp; value: string };

/** A parsed evaluation dataset filter. */
export type DatasetFilter = BooleanFilter<DatasetComparison>;

/** One order_by item. */
export interface DatasetOrder {
  column: 'name' | 'created_at' | 'updated_at' | 'id';
  direction: 'asc' | 'desc';
}

const VALID_ATTRIBUTES = [...Object.keys(STRING_COLUMNS), ...Object.keys(TIME_COLUMNS)];

/**
 * Parses a dataset filter; undefined when blank. INVALID_ARGUMENT names what is wrong.
 *
 * @example
 * parseDatasetFilter("name LIKE 'qa-%' AND tags.team = 'ml'");
 */
export function parseDatasetFilter(filter: string | undefined): DatasetFilter | undefined {
  return parseBooleanFilter(filter, parseComparison);
}

function parseComparison(cursor: FilterCursor): DatasetComparison {
  const id = cursor.next();
  if (id?.type !== 'ident') throw invalid(`expected a comparison such as name = 'x' ${where(id)}`);
  const field = resolveIdentifier(id.text);
  const c = cursor.next();
  const op = comparatorOf(c);
  if (op === undefined) throw invalid(`expected a comparator after '${id.text}' ${where(c)}`);

  if (op === 'IN') {
    if (field.kind !== 'text' || field.column !== 'name')
      throw invalid(`IN applies to name only, not '${id.text}'`);
    const values = cursor.list(['string'], "('a', 'b')", 'a quoted name');
    return { kind: 'names', values };
  }
  const v = cursor.next();
  if (field.kind === 'time')
    return { kind: 'time', column: field.column, ...integerOperand(id.text, op, v) };
  const operand = stringOperand(id.text, op, v);
  return field.kind === 'text'
    ? { kind: 'text', column: field.column, ...operand }
    : { kind: 'tag', key: field.key, ...operand };
}

type Field =
  | { kind: 'text'; column: StringColumn }
  | { kind: 'time'; column: TimeColumn }
  | { kind: 'tag'; key: string };

/** `name`, `created_time`, `tags.team`, ``tags.`a b` `` → what it compares. */
function resolveIdentifier(text: string): Field {
  const dot = text.indexOf('.');
  if (dot !== -1) {
    const prefix = text.slice(0, dot);
    if (prefix !== 'tags' && prefix !== 'tag')
      throw invalid(`invalid identifier '${text}': use an attribute or tags.<key>`);
    const key = text.slice(dot + 1).replace(/^`(.*)`$|^"(.*)"$/s, '$1$2');
    if (key === '') throw invalid(`'${text}' names no tag`);
    return { kind: 'tag', key };
  }
  if (text in STRING_COLUMNS)
    return { kind: 'text', column: STRING_COLUMNS[text as keyof typeof STRING_COLUMNS] };
  if (text in TIME_COLUMNS)
    return { kind: 'time', column: TIME_COLUMNS[text as keyof typeof TIME_COLUMNS] };
  throw invalid(`invalid attribute '${text}': use ${VALID_ATTRIBUTES.join(', ')} or tags.<key>`);
}

/** The filter as SQL over the `evaluation_dataset` table. */
export function datasetFilterSql(node: DatasetFilter): Expression<SqlBool> {
  switch (node.kind) {
    case 'and':
    case 'or': {
      const parts = node.operands.map((o) => sql`(${datasetFilterSql(o)})`);
      return sql<SqlBool>`${sql.join(parts, node.kind === 'and' ? sql` and ` : sql` or `)}`;
    }
    case 'text':
      return stringSql(sql.ref(`evaluation_dataset.${node.column}`), node.op, node.value);
    case 'names':
      return sql<SqlBool>`${sql.ref('evaluation_dataset.name')} in (${sql.join(node.values)})`;
    case 'time': {
      const op = node.op === '!=' ? '<>' : node.op;
      return sql<SqlBool>`${sql.ref(`evaluation_dataset.${node.column}`)} ${sql.raw(op)} ${node.value}`;
    }
    case 'tag':
      return sql<SqlBool>`exists (select 1 from evaluation_dataset_tag as t
        where t.dataset_id = evaluation_dataset.id and t.key = ${node.key}
        and ${stringSql(sql.ref('t.value'), node.op, node.value)})`;
  }
}

const ORDER_KEYS = {
  name: 'name',
  created_time: 'created_at',
  last_update_time: 'updated_at',
} as const;

/** Parses order_by items (`name ASC`); an empty list gives MLflow's default, newest first. */
export function parseDatasetOrderBy(items: readonly string[]): DatasetOrder[] {
  const clauses = items.map((item): DatasetOrder => {
    const m = /^\s*(`?)(\w+)\1(?:\s+(ASC|DESC))?\s*$/i.exec(item);
    const key = m?.[2];
    if (m === null || key === undefined || !(key in ORDER_KEYS))
      throw invalid(
        `invalid order_by '${item}': use one of ${Object.keys(ORDER_KEYS).join(', ')}, then ASC or DESC`,
      );
    return {
      column: ORDER_KEYS[key as keyof typeof ORDER_KEYS],
      direction: m[3]?.toUpperCase() === 'DESC' ? 'desc' : 'asc',
    };
  });
  if (clauses.length === 0) clauses.push({ column: 'created_at', direction: 'desc' });
  clauses.push({ column: 'id', direction: 'desc' });
  return clauses;
}

/** The ORDER BY expression of one clause; names sort in byte order on both backends. */
export function datasetOrderSql(dialect: StoreDialect, order: DatasetOrder): Expression<unknown> {
  const ref = sql.ref(`evaluation_dataset.${order.column}`);
  return order.column === 'name' && dialect === 'postgres' ? sql`${ref} collate "C"` : ref;
}
