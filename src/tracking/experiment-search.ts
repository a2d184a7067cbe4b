/**
 * MLflow's experiment search (SearchExperimentsUtils in mlflow/utils/search_utils.py and
 * SqlAlchemyStore._search_experiments), with OR and parentheses as run search has them:
 *
 *   filter     := or-expr (OR, AND and parentheses: see filter-grammar.ts)
 *   comparison := identifier comparator value
 *   identifier := [attribute(s) '.'] name | tag(s) '.' key      -- quoted with ` or " if odd
 *
 * Attributes: `name` (=, !=, LIKE, ILIKE), `experiment_id` (=, !=, IN, NOT IN),
 * `creation_time` and `last_update_time` (=, !=, <, <=, >, >= on integers); tags take
 * =, !=, LIKE, ILIKE, and IS NULL / IS NOT NULL as in MLflow. A tag comparison matches
 * experiments that have the tag with a matching value (MLflow joins the tag table), so
 * `tags.team != 'a'` does not match experiments without a `team` tag.
 *
 * order_by: name, experiment_id, creation_time, last_update_time, ASC or DESC; the default
 * is `creation_time DESC, experiment_id ASC`, and experiment_id DESC breaks remaining ties
 * (both as MLflow's SQL store does).
 */
import type { Expression, SqlBool } from 'kysely';
import { sql, type StoreDialect } from '../store/index.js';
import {
  comparatorOf,
  integerOperand,
  invalidFilter as invalid,
  isWord,
  parseBooleanFilter,
  stringOperand,
  stringSql,
  where,
  type BooleanFilter,
  type FilterCursor,
  type NumberOp,
  type StringOp,
} from './filter-grammar.js';

type ListOp = 'IN' | 'NOT IN';

/** One checked comparison of an experiment filter. */
export type ExperimentComparison =
  | { kind: 'name'; op: StringOp; value: string }
  | { kind: 'id'; op: '=' | '!='; value: string }
  | { kind: 'id'; op: ListOp; values: string[] }
  | { kind: 'time'; column: 'created_at' | 'updated_at'; op: NumberOp; value: number }
  | { kind: 'tag'; key: string; op: StringOp; value: string }
  | { kind: 'tag'; key: string; op: 'IS NULL' | 'IS NOT NULL' };

/** A parsed experiment filter. */
export type ExperimentFilter = BooleanFilter<ExperimentComparison>;

/** One order_by item: the column and direction. */
export interface ExperimentOrder {
  key: 'name' | 'experiment_id' | 'creation_time' | 'last_update_time';
  direction: 'asc' | 'desc';
}

/**
 * Parses an experiment filter; undefined when blank. INVALID_ARGUMENT names what is wrong.
 *
 * @example
 * parseExperimentFilter("name LIKE 'churn%' AND (tags.team = 'risk' OR creation_time > 0)");
 */
export function parseExperimentFilter(filter: string | undefined): ExperimentFilter | undefined {
  return parseBooleanFilter(filter, parseComparison);
}

function parseComparison(cursor: FilterCursor): ExperimentComparison {
  const id = cursor.next();
  if (id?.type !== 'ident') throw invalid(`expected a comparison such as name = 'x' ${where(id)}`);
  const field = resolveIdentifier(id.text);
  // The comparator: one symbol, or LIKE / ILIKE / IN / NOT IN / IS [NOT] NULL.
  const c = cursor.next();
  let op = comparatorOf(c);
  if (op === undefined) {
    if (isWord(c, 'NOT') && cursor.skipWord('IN')) op = 'NOT IN';
    else if (isWord(c, 'IS')) {
      const not = cursor.skipWord('NOT');
      if (!isWord(cursor.next(), 'NULL')) throw invalid(`expected NULL after IS ${where(c)}`);
      op = not ? 'IS NOT NULL' : 'IS NULL';
    } else throw invalid(`expected a comparator after '${id.text}' ${where(c)}`);
  }

  if (op === 'IS NULL' || op === 'IS NOT NULL') {
    if (field.kind !== 'tag') throw invalid(`${op} applies to tags only, not '${id.text}'`);
    return { kind: 'tag', key: field.key, op };
  }
  if (op === 'IN' || op === 'NOT IN') {
    if (field.kind !== 'id') throw invalid(`${op} applies to experiment_id only, not '${id.text}'`);
    const values = cursor.list(['string', 'number'], "('1', '2')", 'a quoted value');
    return { kind: 'id', op, values };
  }
  const v = cursor.next();
  switch (field.kind) {
    case 'time':
      return { kind: 'time', column: field.column, ...integerOperand(id.text, op, v) };
    case 'id': {
      if (op !== '=' && op !== '!=')
        throw invalid(`experiment_id compares with =, !=, IN or NOT IN, not ${op}`);
      if (v?.type !== 'string' && v?.type !== 'number')
        throw invalid(`experiment_id compares with a quoted id ${where(v)}`);
      return { kind: 'id', op, value: v.text };
    }
    case 'name':
      return { kind: 'name', ...stringOperand(id.text, op, v) };
    case 'tag':
      return { kind: 'tag', key: field.key, ...stringOperand(id.text, op, v) };
  }
}

type Field =
  | { kind: 'name' }
  | { kind: 'id' }
  | { kind: 'time'; column: 'created_at' | 'updated_at' }
  | { kind: 'tag'; key: string };

/** `name`, `attribute.name`, `tags.team`, ``tags.`a b` ``, `tags."a.b"` → what it compares. */
function resolveIdentifier(text: string): Field {
  const dot = text.indexOf('.');
  const prefix = dot === -1 ? undefined : text.slice(0, dot);
  const rawKey = dot === -1 ? text : text.slice(dot + 1);
  const key = rawKey.replace(/^`(.*)`$|^"(.*)"$/s, '$1$2');
  if (prefix === 'tag' || prefix === 'tags') {
    if (key === '') throw invalid(`'${text}' names no tag`);
    return { kind: 'tag', key };
  }
  if (prefix !== undefined && prefix !== 'attribute' && prefix !== 'attributes')
    throw invalid(`invalid entity '${prefix}' in '${text}': use attribute or tags`);
  switch (key) {
    case 'name':
      return { kind: 'name' };
    case 'experiment_id':
      return { kind: 'id' };
    case 'creation_time':
      return { kind: 'time', column: 'created_at' };
    case 'last_update_time':
      return { kind: 'time', column: 'updated_at' };
    default:
      throw invalid(
        `invalid attribute '${key}': use name, experiment_id, creation_time, last_update_time or tags.<key>`,
      );
  }
}

/** The filter as SQL over the `experiment` table. */
export function experimentFilterSql(node: ExperimentFilter): Expression<SqlBool> {
  switch (node.kind) {
    case 'and':
    case 'or': {
      const parts = node.operands.map((o) => sql`(${experimentFilterSql(o)})`);
      return sql<SqlBool>`${sql.join(parts, node.kind === 'and' ? sql` and ` : sql` or `)}`;
    }
    case 'name':
      return stringSql(sql.ref('experiment.name'), node.op, node.value);
    case 'id': {
      const ref = sql.ref('experiment.id');
      if ('values' in node)
        return node.op === 'IN'
          ? sql<SqlBool>`${ref} in (${sql.join(node.values)})`
          : sql<SqlBool>`${ref} not in (${sql.join(node.values)})`;
      return stringSql(ref, node.op, node.value);
    }
    case 'time': {
      const ref = sql.ref(`experiment.${node.column}`);
      const op = node.op === '!=' ? '<>' : node.op;
      return sql<SqlBool>`${ref} ${sql.raw(op)} ${node.value}`;
    }
    case 'tag': {
      const base = sql`select 1 from experiment_tag as t
        where t.experiment_id = experiment.id and t.key = ${node.key}`;
      if (!('value' in node))
        return node.op === 'IS NULL'
          ? sql<SqlBool>`not exists (${base})`
          : sql<SqlBool>`exists (${base})`;
      return sql<SqlBool>`exists (${base} and ${stringSql(sql.ref('t.value'), node.op, node.value)})`;
    }
  }
}

const ORDER_KEYS = ['name', 'experiment_id', 'creation_time', 'last_update_time'] as const;

/** Parses order_by items; an empty list gives MLflow's default order. */
export function parseExperimentOrderBy(items: readonly string[]): ExperimentOrder[] {
  const clauses = items.map((item): ExperimentOrder => {
    const m = /^\s*(?:attributes?\.)?(`?)([\w]+)\1(?:\s+(ASC|DESC))?\s*$/i.exec(item);
    const key = ORDER_KEYS.find((k) => k === m?.[2]);
    if (m === null || key === undefined)
      throw invalid(
        `invalid order_by '${item}': use one of ${ORDER_KEYS.join(', ')}, then ASC or DESC`,
      );
    return { key, direction: m[3]?.toUpperCase() === 'DESC' ? 'desc' : 'asc' };
  });
  if (clauses.length === 0)
    clauses.push(
      { key: 'creation_time', direction: 'desc' },
      { key: 'experiment_id', direction: 'asc' },
    );
  if (!clauses.some((c) => c.key === 'experiment_id'))
    clauses.push({ key: 'experiment_id', direction: 'desc' });
  return clauses;
}

/**
 * ORDER BY expressions for one clause. Experiment ids are decimal strings, ordered as
 * numbers (shorter first, then by digits) the way MLflow's integer column sorts; names
 * sort in byte order on both backends.
 */
export function experimentOrderSql(
  dialect: StoreDialect,
  clause: ExperimentOrder,
): Expression<unknown>[] {
  switch (clause.key) {
    case 'name':
      return [
        dialect === 'postgres'
          ? sql`${sql.ref('experiment.name')} collate "C"`
          : sql.ref('experiment.name'),
      ];
    case 'experiment_id':
      return [sql`length(${sql.ref('experiment.id')})`, sql.ref('experiment.id')];
    case 'creation_time':
      return [sql.ref('experiment.created_at')];
    case 'last_update_time':
      return [sql.ref('experiment.updated_at')];
  }
}
