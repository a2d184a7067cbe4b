/**
 * The small filter language of MLflow's registry searches: comparisons joined by AND,
 * e.g. `name LIKE 'churn%' AND run_id = 'abc'`, plus OR and parentheses (MLflow has only
 * AND; every filter it accepts means the same here). Each search says which attributes it
 * accepts; the result is SQL over those columns, the same on SQLite and PostgreSQL.
 */
import { MobiusError, limits } from '../core/index.js';
import { sql, type StoreDialect } from '../store/index.js';
import type { Expression, SqlBool } from 'kysely';

type Op = '=' | '!=' | 'LIKE' | 'ILIKE' | 'IN';

export interface Comparison {
  kind: 'comparison';
  attribute: string;
  /** Set for `tags.<key>` / `tag.<key>` comparisons (attribute is then 'tags'). */
  tagKey?: string;
  op: Op;
  values: string[];
}

/** An attribute, or a tag as `tags.key`, `tag.key`, ``tags.`dotted.key` `` or `tags."key"`. */
const COMPARISON =
  /^\s*((?:tags?)\.(?:`[^`]+`|"[^"]+"|[\w.]+)|[A-Za-z_]\w*)\s*(=|!=|<>|\bLIKE\b|\bILIKE\b|\bIN\b)\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\([^)]*\))\s*/i;
const QUOTED = /^\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*(?:,|$)/;

/** Strips the quotes of a string literal and undoes backslash escapes. */
function unquote(literal: string): string {
  return literal.slice(1, -1).replace(/\\(.)/g, '$1');
}

/** A parsed filter: comparisons joined by AND and OR (nested groups of one kind flattened). */
export type RegistryFilterNode =
  Comparison | { kind: 'and' | 'or'; operands: RegistryFilterNode[] };

/**
 * Parses `filter` (MLflow's registry grammar, plus OR and parentheses as run search has
 * them; AND binds tighter than OR); undefined when blank. INVALID_ARGUMENT names what
 * could not be read.
 *
 * @example
 * parseRegistryFilter("name LIKE 'churn%' AND (tags.team = 'a' OR tags.team = 'b')", ['name', 'tags']);
 */
export function parseRegistryFilter(
  filter: string | undefined,
  attributes: readonly string[],
): RegistryFilterNode | undefined {
  const text = (filter ?? '').trim();
  if (text === '') return undefined;
  let rest = text;
  let depth = 0;
  let comparisons = 0;
  const fail = (expected: string): never => {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      rest.trim() === ''
        ? `filter ends too early: expected ${expected}`
        : `cannot parse filter at '${rest.trim().slice(0, 60)}': expected ${expected}`,
    );
  };
  const keyword = (word: 'AND' | 'OR'): boolean => {
    const m = new RegExp(`^\\s*${word}(?![\\w])\\s*`, 'i').exec(rest);
    if (m === null) return false;
    rest = rest.slice(m[0].length);
    return true;
  };
  const parseOr = (): RegistryFilterNode => {
    const operands = [parseAnd()];
    while (keyword('OR')) operands.push(parseAnd());
    return joinNodes('or', operands);
  };
  const parseAnd = (): RegistryFilterNode => {
    const operands = [parsePrimary()];
    while (keyword('AND')) operands.push(parsePrimary());
    return joinNodes('and', operands);
  };
  const parsePrimary = (): RegistryFilterNode => {
    const open = /^\s*\(\s*/.exec(rest);
    if (open !== null) {
      if (++depth > limits.MAX_FILTER_DEPTH)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `parentheses nest deeper than ${limits.MAX_FILTER_DEPTH} levels`,
        );
      rest = rest.slice(open[0].length);
      const node = parseOr();
      const close = /^\s*\)\s*/.exec(rest);
      if (close === null) fail("AND, OR or ')'");
      rest = rest.slice(close![0].length);
      depth--;
      return node;
    }
    if (++comparisons > limits.MAX_FILTER_COMPARISONS)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `a filter may have at most ${limits.MAX_FILTER_COMPARISONS} comparisons`,
      );
    return parseComparison();
  };
  const parseComparison = (): Comparison => {
    const m = COMPARISON.exec(rest);
    if (m === null) return fail(`<attribute> <=|!=|LIKE|ILIKE|IN> '<value>'`);
    const tag = /^tags?\.(.+)$/.exec(m[1]!);
    const attribute = tag === null ? m[1]! : 'tags';
    const tagKey = tag === null ? undefined : tag[1]!.replace(/^[`"](.*)[`"]$/, '$1');
    if (!attributes.includes(attribute))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `invalid attribute '${attribute}' in filter; valid: ${attributes.join(', ')}`,
      );
    const rawOp = m[2]!.toUpperCase();
    const op: Op = rawOp === '<>' ? '!=' : (rawOp as Op);
    const operand = m[3]!;
    let values: string[];
    if (op === 'IN') {
      if (!operand.startsWith('('))
        throw new MobiusError('INVALID_ARGUMENT', `IN needs a list: ${attribute} IN ('a', 'b')`);
      values = [];
      let list = operand.slice(1, -1);
      while (list.trim() !== '') {
        const v = QUOTED.exec(list);
        if (v === null)
          throw new MobiusError('INVALID_ARGUMENT', `cannot parse the IN list ${operand}`);
        values.push(unquote(v[1]!));
        list = list.slice(v[0].length);
      }
      if (values.length === 0 || values.length > limits.MAX_FILTER_LIST_VALUES)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `an IN list needs 1 to ${limits.MAX_FILTER_LIST_VALUES} values`,
        );
    } else {
      if (operand.startsWith('('))
        throw new MobiusError('INVALID_ARGUMENT', `${rawOp} compares with one quoted string`);
      values = [unquote(operand)];
    }
    if (tagKey !== undefined && op === 'IN')
      throw new MobiusError('INVALID_ARGUMENT', `tags compare with =, !=, LIKE or ILIKE, not IN`);
    rest = rest.slice(m[0].length);
    return {
      kind: 'comparison',
      attribute,
      op,
      values,
      ...(tagKey === undefined ? {} : { tagKey }),
    };
  };
  const node = parseOr();
  if (rest.trim() !== '') {
    if (/^\s*\)/.test(rest))
      throw new MobiusError('INVALID_ARGUMENT', `unexpected ')' in filter with no '(' to close`);
    fail('AND, OR or the end of the filter');
  }
  return node;
}

/** One operand stays itself; nested groups of the same kind are flattened. */
function joinNodes(kind: 'and' | 'or', operands: RegistryFilterNode[]): RegistryFilterNode {
  if (operands.length === 1) return operands[0]!;
  return {
    kind,
    operands: operands.flatMap((o) => (o.kind === kind ? o.operands : [o])),
  };
}

/** A filter tree as SQL, each comparison turned into SQL by `comparison`. */
export function registryFilterSql(
  node: RegistryFilterNode,
  comparison: (c: Comparison) => Expression<SqlBool>,
): Expression<SqlBool> {
  if (node.kind === 'comparison') return comparison(node);
  const parts = node.operands.map((o) => sql`(${registryFilterSql(o, comparison)})`);
  return sql<SqlBool>`${sql.join(parts, node.kind === 'and' ? sql` and ` : sql` or `)}`;
}

/**
 * One comparison as SQL on `column`. LIKE is case-sensitive on both backends (SQLite
 * runs with case_sensitive_like); ILIKE lower-cases both sides, which SQLite does for
 * ASCII letters only.
 */
export function comparisonSql(column: string, c: Comparison): Expression<SqlBool> {
  const ref = sql.ref(column);
  switch (c.op) {
    case '=':
      return sql<SqlBool>`${ref} = ${c.values[0]}`;
    case '!=':
      return sql<SqlBool>`${ref} <> ${c.values[0]}`;
    case 'LIKE':
      return sql<SqlBool>`${ref} like ${c.values[0]}`;
    case 'ILIKE':
      return sql<SqlBool>`lower(${ref}) like lower(${c.values[0]})`;
    case 'IN':
      return sql<SqlBool>`${ref} in (${sql.join(c.values)})`;
  }
}

/**
 * A tag comparison as SQL: some tag `key` of the row has a matching value; for `!=`, no
 * tag `key` has that value (so rows without the tag match, which is what MLflow's
 * clients rely on when they add `tags.mlflow.prompt.is_prompt != 'true'`).
 * `links` pairs tag-table columns with the searched table's columns.
 */
export function tagComparisonSql(
  tagTable: string,
  links: readonly (readonly [string, string])[],
  c: Comparison,
): Expression<SqlBool> {
  const t = (column: string) => sql.ref(`t.${column}`);
  const joined = sql.join(
    links.map(([tagColumn, column]) => sql`${t(tagColumn)} = ${sql.ref(column)}`),
    sql` and `,
  );
  const value = c.op === '!=' ? { ...c, op: '=' as const } : c;
  const exists = sql<SqlBool>`exists (select 1 from ${sql.table(tagTable)} as t
    where ${joined} and ${t('key')} = ${c.tagKey} and ${comparisonSql('t.value', value)})`;
  return c.op === '!=' ? sql<SqlBool>`not ${exists}` : exists;
}

export interface OrderClause {
  column: string;
  direction: 'asc' | 'desc';
}

/** Parses MLflow's `order_by` items (`"<key> [ASC|DESC]"`) against the keys a search allows. */
export function parseRegistryOrderBy(
  items: readonly string[],
  keys: Readonly<Record<string, string>>,
): OrderClause[] {
  return items.map((item) => {
    const m = /^\s*([\w.]+)(?:\s+(ASC|DESC))?\s*$/i.exec(item);
    const column = m === null ? undefined : keys[m[1]!];
    if (m === null || column === undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `invalid order_by '${item}': use one of ${Object.keys(keys).join(', ')} with ASC or DESC`,
      );
    return { column, direction: m[2]?.toLowerCase() === 'desc' ? 'desc' : 'asc' };
  });
}

/**
 * The ORDER BY expression for `column`. Names sort in byte order on both backends:
 * PostgreSQL would otherwise sort by its database collation, SQLite sorts bytes.
 */
export function orderExpression(dialect: StoreDialect, column: string): Expression<unknown> {
  return column === 'name' && dialect === 'postgres'
    ? sql`${sql.ref(column)} collate "C"`
    : sql.ref(column);
}
