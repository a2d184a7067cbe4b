/**
 * The character-level reader behind the filter and order_by parsers.
 *
 * It is pulled by the parser rather than run ahead as a token stream because MLflow's
 * grammar is positional: `"lr"` is a key before a comparator and a string after one.
 * Every error names the column and shows the text there, so a user with a long filter
 * can find the mistake.
 */
import { MobiusError } from '../../core/index.js';

/** An identifier as written, split at its first unquoted dot, quotes removed. */
export interface RawIdentifier {
  /** The part before the first dot (`metrics`), or undefined for a bare name. */
  prefix: string | undefined;
  key: string;
  start: number;
  end: number;
}

/** A value as written: a number, a quoted string, or a parenthesised list of strings. */
export type RawValue =
  | { type: 'number'; value: number; text: string }
  | { type: 'string'; value: string }
  | { type: 'list'; values: string[] };

/** The comparators the grammar knows, before checking which entity allows which. */
export type RawComparator =
  '=' | '!=' | '>' | '>=' | '<' | '<=' | 'LIKE' | 'ILIKE' | 'IN' | 'NOT IN';

/** The comparators as listed in error messages. */
export const ALL_COMPARATORS_TEXT = '=, !=, >, >=, <, <=, LIKE, ILIKE, IN or NOT IN';

// Letters, digits and `_` start a name; unquoted keys may also hold `. - / :` because
// MLflow keys commonly do (`train/loss`, `mlflow.runName`) and none of those characters
// can start a comparator. Anything else (spaces, quotes) needs backticks or double quotes.
const NAME_START = /[\p{L}\p{N}_]/u;
const KEY_CHAR = /[\p{L}\p{N}_.\-/:]/u;
const WORD_CHAR = /[\p{L}\p{N}_]/u;
const NUMBER = /[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;

/** Reads names, comparators, values and keywords from one filter or order_by string. */
export class SearchScanner {
  pos = 0;

  constructor(
    readonly text: string,
    /** What the text is, for messages: "filter" or "order_by clause". */
    readonly what: string,
  ) {}

  /** Skips whitespace; true when nothing but whitespace is left. */
  atEnd(): boolean {
    this.skipSpace();
    return this.pos >= this.text.length;
  }

  /** The next non-space character, not consumed. */
  peek(): string | undefined {
    this.skipSpace();
    return this.text[this.pos];
  }

  /** Consumes `char`, which the caller has just peeked. */
  take(char: string): void {
    this.skipSpace();
    if (this.text[this.pos] !== char) throw this.error(`expected '${char}'`);
    this.pos += char.length;
  }

  /** The next bare word, upper-cased, without consuming it (for AND, OR, ASC, DESC). */
  peekWord(): string | undefined {
    this.skipSpace();
    const end = this.wordEnd(this.pos, WORD_CHAR);
    return end === this.pos ? undefined : this.text.slice(this.pos, end).toUpperCase();
  }

  /** Consumes the word `peekWord` returned. */
  takeWord(): void {
    this.skipSpace();
    this.pos = this.wordEnd(this.pos, WORD_CHAR);
  }

  /**
   * Reads `prefix.key` or a bare `name`. Either part may be quoted with backticks or
   * double quotes (doubled to escape); an unquoted key runs to the first character
   * that cannot be in a key.
   */
  readIdentifier(expected: string): RawIdentifier {
    this.skipSpace();
    const start = this.pos;
    const first = this.readNamePart(NAME_START, expected);
    if (this.text[this.pos] !== '.') {
      return { prefix: undefined, key: first, start, end: this.pos };
    }
    this.pos += 1;
    const char = this.text[this.pos];
    if (char !== '`' && char !== '"' && (char === undefined || !KEY_CHAR.test(char))) {
      throw this.error(
        `expected a key after '${this.text.slice(start, this.pos)}'`,
        this.pos,
        'quote keys holding spaces or other symbols with backticks, e.g. metrics.`my key`',
      );
    }
    const key = this.readNamePart(KEY_CHAR, expected);
    return { prefix: first, key, start, end: this.pos };
  }

  /** Reads one comparator; `after` is the text before it, for the message. */
  readComparator(after: string): RawComparator {
    this.skipSpace();
    const at = this.pos;
    const two = this.text.slice(at, at + 2);
    if (two === '==') throw this.error(`'==' is not a comparator`, at, `write '=' instead`);
    if (two === '<>') throw this.error(`'<>' is not a comparator`, at, `write '!=' instead`);
    for (const op of ['!=', '>=', '<=', '=', '>', '<'] as const) {
      if (this.text.startsWith(op, at)) {
        this.pos += op.length;
        return op;
      }
    }
    const word = this.peekWord();
    if (word === 'LIKE' || word === 'ILIKE' || word === 'IN') {
      this.takeWord();
      return word;
    }
    if (word === 'NOT') {
      this.takeWord();
      if (this.peekWord() !== 'IN') {
        throw this.error(`NOT is only allowed as NOT IN`, at);
      }
      this.takeWord();
      return 'NOT IN';
    }
    throw this.error(
      `expected a comparator after '${after}'`,
      at,
      `use one of ${ALL_COMPARATORS_TEXT}`,
    );
  }

  /** Reads a number, a quoted string, or a parenthesised list of quoted strings. */
  readValue(after: string): RawValue {
    this.skipSpace();
    const at = this.pos;
    const char = this.text[at];
    if (char === "'" || char === '"') return { type: 'string', value: this.readQuoted(char) };
    if (char === '(') return { type: 'list', values: this.readList() };
    NUMBER.lastIndex = at;
    const match = NUMBER.exec(this.text);
    if (match !== null) {
      const end = at + match[0].length;
      const next = this.text[end];
      if (next === undefined || !WORD_CHAR.test(next)) {
        this.pos = end;
        return { type: 'number', value: Number(match[0]), text: match[0] };
      }
    }
    const wordEnd = this.wordEnd(at, KEY_CHAR);
    if (wordEnd > at) {
      const word = this.text.slice(at, wordEnd);
      throw this.error(
        `expected a value after '${after}'`,
        at,
        `strings must be quoted: write '${word}'`,
      );
    }
    throw this.error(
      `expected a value after '${after}'`,
      at,
      `use a number, a quoted string, or a list such as ('a', 'b')`,
    );
  }

  /** A MobiusError pointing at `at` (default: here), with an optional hint. */
  error(problem: string, at: number = this.pos, hint?: string): MobiusError {
    const where =
      at >= this.text.length
        ? `at the end of the ${this.what}`
        : `at column ${at + 1} of the ${this.what} (near '${excerpt(this.text, at)}')`;
    return new MobiusError(
      'INVALID_ARGUMENT',
      `${problem} ${where}${hint === undefined ? '' : `; ${hint}`}`,
    );
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos] ?? '')) this.pos += 1;
  }

  private wordEnd(from: number, chars: RegExp): number {
    let end = from;
    while (end < this.text.length && chars.test(this.text[end] ?? '')) end += 1;
    return end;
  }

  private readNamePart(chars: RegExp, expected: string): string {
    const char = this.text[this.pos];
    if (char === '`' || char === '"') return this.readQuoted(char);
    if (char === undefined || !NAME_START.test(char)) throw this.error(`expected ${expected}`);
    const start = this.pos;
    this.pos = this.wordEnd(start, chars);
    return this.text.slice(start, this.pos);
  }

  /** Reads text between `quote`s; a doubled quote stands for one (SQL's escape). */
  private readQuoted(quote: string): string {
    const start = this.pos;
    let value = '';
    let i = start + 1;
    for (;;) {
      const close = this.text.indexOf(quote, i);
      if (close < 0) {
        throw this.error(`unterminated ${quote} quote`, start, `close it with ${quote}`);
      }
      value += this.text.slice(i, close);
      if (this.text[close + 1] === quote) {
        value += quote;
        i = close + 2;
        continue;
      }
      this.pos = close + 1;
      return value;
    }
  }

  private readList(): string[] {
    const open = this.pos;
    this.pos += 1;
    const values: string[] = [];
    for (;;) {
      const char = this.peek();
      if (char === ')' && values.length === 0) {
        throw this.error('empty list', open, `IN needs at least one quoted string`);
      }
      if (char !== "'" && char !== '"') {
        throw this.error(
          char === undefined ? `unclosed list` : `expected a quoted string in the list`,
          char === undefined ? open : this.pos,
          `lists hold quoted strings, e.g. ('a', 'b')`,
        );
      }
      values.push(this.readQuoted(char));
      const next = this.peek();
      if (next === ')') {
        this.pos += 1;
        return values;
      }
      if (next !== ',') {
        throw this.error(
          next === undefined ? `unclosed list` : `expected ',' or ')' in the list`,
          next === undefined ? open : this.pos,
        );
      }
      this.pos += 1;
    }
  }
}

/** Quotes text for a message with whichever quote it does not contain. */
export function quoteText(text: string): string {
  return text.includes("'") ? `"${text}"` : `'${text}'`;
}

function excerpt(text: string, at: number): string {
  const slice = text.slice(at, at + 24);
  return at + 24 < text.length ? `${slice}…` : slice;
}
