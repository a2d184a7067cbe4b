/**
 * MLflow's filter language as experiment and evaluation dataset searches share it: the
 * tokenizer, a cursor over the tokens, and the boolean structure Mobius adds to MLflow's
 * AND-only grammar —
 *
 *   filter     := or-expr
 *   or-expr    := and-expr (OR and-expr)*
 *   and-expr   := primary (AND primary)*
 *   primary    := '(' or-expr ')' | comparison
 *
 * — with MLflow's limits on nesting, comparisons and IN-list values. Each search parses its
 * own comparisons (its fields and comparators differ) through the cursor.
 */
import type { Expression, SqlBool } from 'kysely';
import { MobiusError, limits } from '../core/index.js';
import { sql } from '../store/index.js';

/** A token of MLflow's filter language. */
export type FilterToken =
  | { type: 'word'; text: string; pos: number }
  | { type: 'ident'; text: string; pos: number }
  | { type: 'string'; text: string; pos: number }
  | { type: 'number'; text: string; pos: number }
  | { type: 'op'; text: string; pos: number };

/** A filter: comparisons joined by AND and OR (flattened: no AND directly under an AND). */
export type BooleanFilter<C> = C | { kind: 'and' | 'or'; operands: BooleanFilter<C>[] };

const KEYWORDS = new Set(['AND', 'OR', 'LIKE', 'ILIKE', 'IN', 'NOT', 'IS', 'NULL']);

export function invalidFilter(message: string): MobiusError {
  return new MobiusError('INVALID_ARGUMENT', message);
}

/** Splits a filter into tokens; quoted strings keep their content with escapes undone. */
export function tokenizeFilter(text: string): FilterToken[] {
  const tokens: FilterToken[] = [];
  const re =
    /\s+|('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(`[^`]*`)|(!=|<>|<=|>=|=|<|>|\(|\)|,)|([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w.]))|([\p{L}\p{N}_][\p{L}\p{N}_\-/:]*(?:\.(?:`[^`]*`|"[^"]*"|[\p{L}\p{N}_.\-/:]+))?)/uy;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (m === null)
      throw invalidFilter(
        `cannot read the filter at column ${pos + 1}: '${text.slice(pos, pos + 20)}'`,
      );
    const [all, str, tick, op, num, word] = m;
    if (str !== undefined)
      tokens.push({ type: 'string', text: str.slice(1, -1).replace(/\\(.)/g, '$1'), pos });
    else if (tick !== undefined) tokens.push({ type: 'ident', text: tick.slice(1, -1), pos });
    else if (op !== undefined) tokens.push({ type: 'op', text: op === '<>' ? '!=' : op, pos });
    else if (num !== undefined) tokens.push({ type: 'number', text: num, pos });
    else if (word !== undefined) {
      const upper = word.toUpperCase();
      tokens.push(
        KEYWORDS.has(upper)
          ? { type: 'word', text: upper, pos }
          : { type: 'ident', text: word, pos },
      );
    }
    pos += all.length;
  }
  return tokens;
}

/** True when `t` is the keyword `word`. */
export function isWord(t: FilterToken | undefined, word: string): boolean {
  return t?.type === 'word' && t.text === word;
}

/** Where a token is, for messages: "at column 7", or "at the end of the filter". */
export function where(t: FilterToken | undefined): string {
  return t === undefined ? 'at the end of the filter' : `at column ${t.pos + 1}`;
}

/** The parser's position in the tokens, handed to a search's comparison parser. */
export class FilterCursor {
  #i = 0;
  #listValues = 0;

  constructor(readonly tokens: readonly FilterToken[]) {}

  peek(): FilterToken | undefined {
    return this.tokens[this.#i];
  }

  next(): FilterToken | undefined {
    return this.tokens[this.#i++];
  }

  /** Consumes the keyword `word` if it comes next. */
  skipWord(word: string): boolean {
    if (!isWord(this.peek(), word)) return false;
    this.#i++;
    return true;
  }

  get done(): boolean {
    return this.#i >= this.tokens.length;
  }

  /**
   * An IN list — '(' value (',' value)* ')' — of tokens of the `accepted` types; all the
   * filter's lists together hold at most MAX_FILTER_LIST_VALUES values.
   */
  list(accepted: readonly FilterToken['type'][], example: string, what: string): string[] {
    const open = this.next();
    if (open?.type !== 'op' || open.text !== '(')
      throw invalidFilter(`IN needs a list such as ${example} ${where(open)}`);
    const values: string[] = [];
    for (;;) {
      const v = this.next();
      if (v === undefined || !accepted.includes(v.type))
        throw invalidFilter(`expected ${what} in the IN list ${where(v)}`);
      values.push(v.text);
      const sep = this.next();
      if (sep?.type === 'op' && sep.text === ')') break;
      if (sep?.type !== 'op' || sep.text !== ',')
        throw invalidFilter(`expected ',' or ')' in the IN list ${where(sep)}`);
    }
    this.#listValues += values.length;
    if (this.#listValues > limits.MAX_FILTER_LIST_VALUES)
      throw invalidFilter(`IN lists hold more than ${limits.MAX_FILTER_LIST_VALUES} values in all`);
    return values;
  }
}

/**
 * Parses `filter` with the boolean grammar above, each comparison by `comparison`;
 * undefined when blank. INVALID_ARGUMENT names what is wrong and where.
 */
export function parseBooleanFilter<C extends { kind: string }>(
  filter: string | undefined,
  comparison: (cursor: FilterCursor) => C,
): BooleanFilter<C> | undefined {
  if (filter === undefined || filter.trim() === '') return undefined;
  const cursor = new FilterCursor(tokenizeFilter(filter));
  let depth = 0;
  let comparisons = 0;
  const join = (kind: 'and' | 'or', operands: BooleanFilter<C>[]): BooleanFilter<C> =>
    operands.length === 1
      ? operands[0]!
      : {
          kind,
          operands: operands.flatMap((o) =>
            o.kind === kind ? (o as { operands: BooleanFilter<C>[] }).operands : [o],
          ),
        };
  const parseOr = (): BooleanFilter<C> => {
    const operands = [parseAnd()];
    while (cursor.skipWord('OR')) operands.push(parseAnd());
    return join('or', operands);
  };
  const parseAnd = (): BooleanFilter<C> => {
    const operands = [parsePrimary()];
    while (cursor.skipWord('AND')) operands.push(parsePrimary());
    return join('and', operands);
  };
  const parsePrimary = (): BooleanFilter<C> => {
    const t = cursor.peek();
    if (t?.type === 'op' && t.text === '(') {
      if (++depth > limits.MAX_FILTER_DEPTH)
        throw invalidFilter(`parentheses nest deeper than ${limits.MAX_FILTER_DEPTH} levels`);
      cursor.next();
      const node = parseOr();
      const close = cursor.next();
      if (close?.type !== 'op' || close.text !== ')')
        throw invalidFilter(`expected ')' ${where(close)}`);
      depth--;
      return node;
    }
    if (++comparisons > limits.MAX_FILTER_COMPARISONS)
      throw invalidFilter(`the filter has more than ${limits.MAX_FILTER_COMPARISONS} comparisons`);
    return comparison(cursor);
  };

  const node = parseOr();
  if (!cursor.done)
    throw invalidFilter(`expected AND, OR or the end of the filter ${where(cursor.peek())}`);
  return node;
}

/** The string comparators the searches take. */
export type StringOp = '=' | '!=' | 'LIKE' | 'ILIKE';

/** The comparators of integer attributes (times in milliseconds). */
export type NumberOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

const NUMBER_OPS: readonly string[] = ['=', '!=', '<', '<=', '>', '>='];
const STRING_OPS: readonly string[] = ['=', '!=', 'LIKE', 'ILIKE'];

/** A symbol comparator, LIKE, ILIKE or IN as `c` spells it; undefined for anything else. */
export function comparatorOf(c: FilterToken | undefined): string | undefined {
  if (c?.type === 'op' && NUMBER_OPS.includes(c.text)) return c.text;
  if (c?.type === 'word' && ['LIKE', 'ILIKE', 'IN'].includes(c.text)) return c.text;
  return undefined;
}

/** `name op v` for an integer attribute: the checked comparator and value. */
export function integerOperand(
  name: string,
  op: string,
  v: FilterToken | undefined,
): { op: NumberOp; value: number } {
  if (!NUMBER_OPS.includes(op))
    throw invalidFilter(`'${name}' compares with =, !=, <, <=, > or >=, not ${op}`);
  const n = v?.type === 'number' || v?.type === 'string' ? Number(v.text) : NaN;
  if (!Number.isSafeInteger(n) || v?.text.trim() === '')
    throw invalidFilter(
      `'${name}' compares with an integer (milliseconds), not ${v === undefined ? 'nothing' : `'${v.text}'`}`,
    );
  return { op: op as NumberOp, value: n };
}

/** `name op v` for a string attribute or tag: the checked comparator and value. */
export function stringOperand(
  name: string,
  op: string,
  v: FilterToken | undefined,
): { op: StringOp; value: string } {
  if (!STRING_OPS.includes(op))
    throw invalidFilter(`'${name}' compares with =, !=, LIKE or ILIKE, not ${op}`);
  if (v?.type !== 'string')
    throw invalidFilter(`'${name}' compares with a quoted string ${where(v)}`);
  return { op: op as StringOp, value: v.text };
}

/** A string comparison on `ref` (LIKE is case-sensitive on both backends; ILIKE is not). */
export function stringSql(
  ref: Expression<unknown>,
  op: StringOp,
  value: string,
): Expression<SqlBool> {
  switch (op) {
    case '=':
      return sql<SqlBool>`${ref} = ${value}`;
    case '!=':
      return sql<SqlBool>`${ref} <> ${value}`;
    case 'LIKE':
      return sql<SqlBool>`${ref} like ${value}`;
    case 'ILIKE':
      return sql<SqlBool>`lower(${ref}) like lower(${value})`;
  }
}
