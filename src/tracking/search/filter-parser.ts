/**
 * MLflow's run filter grammar (mlflow/utils/search_utils.py), plus OR and parentheses.
 *
 *   filter     := or-expr
 *   or-expr    := and-expr (OR and-expr)*          -- AND binds tighter than OR
 *   and-expr   := primary (AND primary)*
 *   primary    := '(' or-expr ')' | comparison
 *   comparison := identifier comparator value
 *   identifier := prefix '.' key | attribute      -- either part quoted with ` or "
 *   value      := number | 'string' | "string" | '(' string (',' string)* ')'
 *
 * Keywords (AND, OR, LIKE, ILIKE, IN, NOT IN) are case-insensitive; prefixes, keys and
 * attribute names are case-sensitive, as in MLflow. Which comparator and value type each
 * entity takes is checked here, so the compiler only ever sees well-typed comparisons.
 */
import { MobiusError, limits } from '../../core/index.js';
import {
  ATTRIBUTE_LIST,
  DATASET_KEYS,
  isNumericAttribute,
  resolveAttribute,
  resolveEntityPrefix,
  type DatasetKey,
  type NumericAttribute,
  type StringAttribute,
} from './run-fields.js';
import {
  SearchScanner,
  quoteText,
  type RawComparator,
  type RawIdentifier,
  type RawValue,
} from './search-scanner.js';

/** Comparators for numbers: metrics, start_time, end_time. */
export type NumericComparator = '=' | '!=' | '>' | '>=' | '<' | '<=';
/** Comparators for strings: params, tags, string attributes, datasets. */
export type StringComparator = '=' | '!=' | 'LIKE' | 'ILIKE';
/** Comparators taking a list: string attributes and datasets only. */
export type ListComparator = 'IN' | 'NOT IN';

interface ComparisonBase {
  kind: 'comparison';
  /** The clause as the user wrote it, for messages about it later. */
  source: string;
}

/** `metrics.acc > 0.9`: compares the run's latest value of the metric. */
export interface MetricComparison extends ComparisonBase {
  entity: 'metric';
  type: 'number';
  key: string;
  comparator: NumericComparator;
  value: number;
}

/** `params.lr = '0.1'` or `tags.team LIKE 'ml-%'`. */
export interface KeyValueComparison extends ComparisonBase {
  entity: 'param' | 'tag';
  type: 'string';
  key: string;
  comparator: StringComparator;
  value: string;
}

/** `attributes.start_time >= 1700000000000`: milliseconds since the epoch. */
export interface NumericAttributeComparison extends ComparisonBase {
  entity: 'attribute';
  type: 'number';
  key: NumericAttribute;
  comparator: NumericComparator;
  value: number;
}

/** `attributes.status = 'FINISHED'`. */
export interface StringAttributeComparison extends ComparisonBase {
  entity: 'attribute';
  type: 'string';
  key: StringAttribute;
  comparator: StringComparator;
  value: string;
}

/** `attributes.run_id IN ('a', 'b')`. */
export interface AttributeListComparison extends ComparisonBase {
  entity: 'attribute';
  type: 'list';
  key: StringAttribute;
  comparator: ListComparator;
  values: string[];
}

/** `datasets.name = 'train'` or `datasets.digest IN ('…')`. */
export type DatasetComparison = ComparisonBase & { entity: 'dataset'; key: DatasetKey } & (
    | { type: 'string'; comparator: StringComparator; value: string }
    | { type: 'list'; comparator: ListComparator; values: string[] }
  );

/** One checked comparison. */
export type Comparison =
  | MetricComparison
  | KeyValueComparison
  | NumericAttributeComparison
  | StringAttributeComparison
  | AttributeListComparison
  | DatasetComparison;

/** A parsed filter: comparisons joined by AND and OR (flattened: no `and` inside `and`). */
export type FilterNode =
  Comparison | { kind: 'and'; operands: FilterNode[] } | { kind: 'or'; operands: FilterNode[] };

const NUMERIC_COMPARATORS: readonly NumericComparator[] = ['=', '!=', '>', '>=', '<', '<='];
const STRING_COMPARATORS: readonly StringComparator[] = ['=', '!=', 'LIKE', 'ILIKE'];
const LISTED_COMPARATORS: readonly (StringComparator | ListComparator)[] = [
  ...STRING_COMPARATORS,
  'IN',
  'NOT IN',
];

/**
 * Parses a run filter; undefined for an empty or blank filter (no filtering).
 * Throws INVALID_ARGUMENT naming the offending text and what is allowed there.
 *
 * @example
 * parseFilter("metrics.acc > 0.9 AND (params.opt = 'adam' OR tags.team ILIKE 'ml%')");
 */
export function parseFilter(filter: string | null | undefined): FilterNode | undefined {
  if (filter === null || filter === undefined || filter.trim() === '') return undefined;
  return new FilterParser(filter).parse();
}

class FilterParser {
  private readonly scanner: SearchScanner;
  private depth = 0;
  private comparisons = 0;
  private listValues = 0;

  constructor(private readonly text: string) {
    this.scanner = new SearchScanner(text, 'filter');
  }

  parse(): FilterNode {
    const node = this.parseOr();
    if (!this.scanner.atEnd()) {
      const s = this.scanner;
      if (s.peek() === ')') throw s.error(`unexpected ')' with no '(' to close`);
      throw s.error('expected AND, OR or the end of the filter');
    }
    return node;
  }

  private parseOr(): FilterNode {
    const operands = [this.parseAnd()];
    while (this.scanner.peekWord() === 'OR') {
      this.scanner.takeWord();
      operands.push(this.parseAnd());
    }
    return join('or', operands);
  }

  private parseAnd(): FilterNode {
    const operands = [this.parsePrimary()];
    while (this.scanner.peekWord() === 'AND') {
      this.scanner.takeWord();
      operands.push(this.parsePrimary());
    }
    return join('and', operands);
  }

  private parsePrimary(): FilterNode {
    const s = this.scanner;
    const char = s.peek();
    if (char === '(') {
      const open = s.pos;
      this.depth += 1;
      if (this.depth > limits.MAX_FILTER_DEPTH) {
        throw s.error(`parentheses nest deeper than ${limits.MAX_FILTER_DEPTH} levels`, open);
      }
      s.take('(');
      const node = this.parseOr();
      if (s.peek() !== ')') {
        throw s.atEnd()
          ? s.error(`missing ')'`, s.pos, `the '(' at column ${open + 1} is never closed`)
          : s.error(`expected AND, OR or ')'`, s.pos, `the '(' at column ${open + 1} is open`);
      }
      s.take(')');
      this.depth -= 1;
      return node;
    }
    if (char === undefined) {
      throw s.error('expected a comparison', s.pos, 'e.g. metrics.acc > 0.9');
    }
    if (char === ')') {
      throw s.error(`unexpected ')'`, s.pos, 'expected a comparison such as metrics.acc > 0.9');
    }
    // Keywords where a comparison belongs: a doubled or dangling AND/OR, or a NOT, which
    // the grammar only knows inside NOT IN.
    const word = s.peekWord();
    if (word === 'AND' || word === 'OR') {
      throw s.error(`expected a comparison, not ${word}`, s.pos, 'e.g. metrics.acc > 0.9');
    }
    if (word === 'NOT') {
      throw s.error('NOT is only allowed as NOT IN', s.pos, 'negate a comparison with != instead');
    }
    return this.parseComparison();
  }

  private parseComparison(): Comparison {
    const s = this.scanner;
    this.comparisons += 1;
    if (this.comparisons > limits.MAX_FILTER_COMPARISONS) {
      throw s.error(`the filter has more than ${limits.MAX_FILTER_COMPARISONS} comparisons`, s.pos);
    }
    const id = s.readIdentifier('a comparison such as metrics.acc > 0.9');
    const comparator = s.readComparator(this.text.slice(id.start, id.end));
    const value = s.readValue(this.text.slice(id.start, s.pos).trim());
    if (value.type === 'list') {
      this.listValues += value.values.length;
      if (this.listValues > limits.MAX_FILTER_LIST_VALUES) {
        throw s.error(
          `IN lists hold more than ${limits.MAX_FILTER_LIST_VALUES} values in all`,
          id.start,
        );
      }
    }
    return checkComparison(id, comparator, value, this.text.slice(id.start, s.pos));
  }
}

/** One operand stays itself; nested groups of the same kind are flattened. */
function join(kind: 'and' | 'or', operands: FilterNode[]): FilterNode {
  if (operands.length === 1 && operands[0] !== undefined) return operands[0];
  return { kind, operands: operands.flatMap((o) => (o.kind === kind ? o.operands : [o])) };
}

/**
 * Gives a syntactically valid comparison its meaning, checking in MLflow's order:
 * entity, key, comparator, then value type.
 */
function checkComparison(
  id: RawIdentifier,
  comparator: RawComparator,
  raw: RawValue,
  source: string,
): Comparison {
  const fail = (message: string): MobiusError =>
    invalid(`${message} (at ${quoteText(source.trim())})`);
  const base = { kind: 'comparison', source: source.trim() } as const;

  const entity = id.prefix === undefined ? 'attribute' : resolveEntityPrefix(id.prefix);
  if (entity === undefined) {
    throw fail(
      `unknown entity '${id.prefix ?? ''}': use metrics., params., tags., attributes. or datasets.`,
    );
  }

  switch (entity) {
    case 'metric': {
      requireKey(id.key, 'metrics', fail);
      requireComparator(comparator, NUMERIC_COMPARATORS, 'metrics take', fail);
      const value = requireNumber(raw, 'metrics compare', fail);
      return { ...base, entity, type: 'number', key: id.key, comparator, value };
    }
    case 'param':
    case 'tag': {
      const plural = `${entity}s`;
      requireKey(id.key, plural, fail);
      requireComparator(comparator, STRING_COMPARATORS, `${plural} take`, fail);
      const value = requireString(raw, `${plural} compare`, fail);
      return { ...base, entity, type: 'string', key: id.key, comparator, value };
    }
    case 'attribute': {
      const key = resolveAttribute(id.key);
      if (key === undefined) {
        const hint =
          id.prefix === undefined
            ? `; a metric, param or tag needs its prefix, e.g. metrics.${id.key}`
            : '';
        throw fail(`unknown attribute '${id.key}': attributes are ${ATTRIBUTE_LIST}${hint}`);
      }
      if (isNumericAttribute(key)) {
        requireComparator(comparator, NUMERIC_COMPARATORS, `${key} takes`, fail);
        const value = requireNumber(raw, `${key} compares`, fail);
        // Whole milliseconds: PostgreSQL cannot compare a bigint with '1.5'.
        if (!Number.isSafeInteger(value)) {
          throw fail(
            `${key} is whole milliseconds since the epoch, not ${raw.type === 'number' ? raw.text : value}`,
          );
        }
        return { ...base, entity, type: 'number', key, comparator, value };
      }
      requireComparator(comparator, LISTED_COMPARATORS, `${key} takes`, fail);
      if (comparator === 'IN' || comparator === 'NOT IN') {
        const values = requireList(raw, comparator, fail);
        return { ...base, entity, type: 'list', key, comparator, values };
      }
      const value = requireString(raw, `${key} compares`, fail);
      return { ...base, entity, type: 'string', key, comparator, value };
    }
    case 'dataset': {
      if (!(DATASET_KEYS as readonly string[]).includes(id.key)) {
        throw fail(
          `unknown dataset field '${id.key}': use datasets.name, datasets.digest or datasets.context`,
        );
      }
      const key = id.key as DatasetKey;
      requireComparator(comparator, LISTED_COMPARATORS, `datasets.${key} takes`, fail);
      if (comparator === 'IN' || comparator === 'NOT IN') {
        const values = requireList(raw, comparator, fail);
        return { ...base, entity, key, type: 'list', comparator, values };
      }
      const value = requireString(raw, `datasets.${key} compares`, fail);
      return { ...base, entity, key, type: 'string', comparator, value };
    }
  }
}

type Fail = (message: string) => MobiusError;

function requireKey(key: string, plural: string, fail: Fail): void {
  if (key === '') throw fail(`${plural} need a non-empty key`);
}

function requireComparator<C extends RawComparator>(
  comparator: RawComparator,
  allowed: readonly C[],
  subject: string,
  fail: Fail,
): asserts comparator is C {
  if (!(allowed as readonly RawComparator[]).includes(comparator)) {
    throw fail(`${subject} ${listWords(allowed)}, not '${comparator}'`);
  }
}

function requireNumber(raw: RawValue, subject: string, fail: Fail): number {
  if (raw.type === 'number') return raw.value;
  if (raw.type === 'string') {
    throw fail(`${subject} to a number, not the string ${quoteText(raw.value)}`);
  }
  throw fail(`${subject} to one number; a list only follows IN or NOT IN`);
}

function requireString(raw: RawValue, subject: string, fail: Fail): string {
  if (raw.type === 'string') return raw.value;
  if (raw.type === 'number') {
    throw fail(`${subject} to quoted strings: write '${raw.text}' instead of ${raw.text}`);
  }
  throw fail(`${subject} to one string; a list only follows IN or NOT IN`);
}

function requireList(raw: RawValue, comparator: ListComparator, fail: Fail): string[] {
  if (raw.type === 'list') return raw.values;
  throw fail(`${comparator} takes a parenthesised list of quoted strings, e.g. ('a', 'b')`);
}

/** "=, != or LIKE" */
function listWords(words: readonly string[]): string {
  return words.length < 2
    ? words.join('')
    : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1] ?? ''}`;
}

function invalid(message: string): MobiusError {
  return new MobiusError('INVALID_ARGUMENT', message);
}
