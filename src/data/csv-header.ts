/**
 * The header row of a CSV file, read from its first bytes in JavaScript rather than by
 * DuckDB: DuckDB renames duplicate names (`a`, `a_1`) where we must refuse them, and its
 * reader allocates 2,048-row vectors for every column, so asking it for one row of a
 * 5,000-column file costs hundreds of MB. Only the header bytes are read here (at most
 * MAX_CSV_HEADER_BYTES); rows stay DuckDB's business.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { MobiusError, limits } from '../core/index.js';
import type { CsvEncoding } from './types.js';

/** How a CSV file is split into fields; what DuckDB's sniffer reports. */
export interface CsvDialect {
  delim: string;
  quote: string;
  escape: string;
  comment: string;
  skip: number;
}

const DECODERS: Record<CsvEncoding, string> = {
  'utf-8': 'utf-8',
  'utf-16': 'utf-16le',
  'latin-1': 'latin1',
};

/** The decoded start of a file, and whether it is the whole file. */
export interface Head {
  text: string;
  complete: boolean;
}

/**
 * The decoded start of a file, through gunzip for `.gz`: bytes up to the first line
 * break (at least 64 KiB when there are that many), at most MAX_CSV_HEADER_BYTES, so
 * adding thousands of files reads little of each.
 */
export async function readHead(
  path: string,
  shown: string,
  encoding: CsvEncoding = 'utf-8',
): Promise<Head> {
  const source = createReadStream(path, { highWaterMark: 64 * 1024 });
  const stream: Readable = /\.gz$/i.test(path) ? source.pipe(createGunzip()) : source;
  const chunks: Buffer[] = [];
  let total = 0;
  let complete = true;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= limits.MAX_CSV_HEADER_BYTES || chunk.includes(0x0a) || chunk.includes(0x0d)) {
        complete = false;
        break;
      }
    }
  } catch (cause) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `cannot read '${shown}': ${(cause as Error).message}`,
      {
        cause,
      },
    );
  } finally {
    source.destroy();
    stream.destroy();
  }
  const bytes = Buffer.concat(chunks).subarray(0, limits.MAX_CSV_HEADER_BYTES);
  try {
    // stream: a character cut at the end of the bytes read is not an error.
    const text = new TextDecoder(DECODERS[encoding], { fatal: true }).decode(bytes, {
      stream: true,
    });
    return { text, complete };
  } catch (cause) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      encoding === 'utf-8'
        ? `'${shown}' is not valid UTF-8: if it is Latin-1 or UTF-16, pass --encoding latin-1 (or utf-16); otherwise convert it to UTF-8`
        : `'${shown}' is not valid ${encoding}: pass the encoding it was written in, or convert it to UTF-8`,
      { cause },
    );
  }
}

/**
 * The number of fields in the first line, splitting on whichever common delimiter occurs
 * most — a guess made before DuckDB runs, to size its memory for wide files.
 */
export function guessWidth({ text: head }: Head): number {
  const line = head.slice(0, head.search(/\r|\n/) >>> 0 || head.length);
  let best = 0;
  for (const d of [',', ';', '\t', '|']) best = Math.max(best, line.split(d).length - 1);
  return best + 1;
}

/** Splits the header record out of `head` with `dialect`; undefined when there is none. */
export function parseHeader(
  { text: head, complete }: Head,
  dialect: CsvDialect,
): string[] | undefined {
  let i = 0;
  const n = head.length;
  const nextLine = () => {
    while (i < n && head[i] !== '\n' && head[i] !== '\r') i++;
    if (head[i] === '\r' && head[i + 1] === '\n') i++;
    i++;
  };
  if (head.charCodeAt(0) === 0xfeff) i = 1;
  for (let s = 0; s < dialect.skip; s++) nextLine();
  while (dialect.comment !== '' && head.startsWith(dialect.comment, i)) nextLine();
  if (i >= n) return undefined;

  const fields: string[] = [];
  let field = '';
  let quoted = false;
  const { delim, quote, escape } = dialect;
  while (i < n) {
    const c = head[i]!;
    if (quoted) {
      if (
        escape !== '' &&
        head.startsWith(escape, i) &&
        head.startsWith(quote, i + escape.length) &&
        escape !== quote
      ) {
        field += quote;
        i += escape.length + quote.length;
      } else if (head.startsWith(quote, i)) {
        if (escape === quote && head.startsWith(quote, i + quote.length)) {
          field += quote;
          i += 2 * quote.length;
        } else {
          quoted = false;
          i += quote.length;
        }
      } else {
        field += c;
        i++;
      }
    } else if (quote !== '' && head.startsWith(quote, i)) {
      quoted = true;
      i += quote.length;
    } else if (head.startsWith(delim, i)) {
      fields.push(field);
      field = '';
      i += delim.length;
    } else if (c === '\n' || c === '\r') {
      fields.push(field);
      return fields;
    } else {
      field += c;
      i++;
    }
  }
  if (quoted || !complete) {
    // Ran out of text inside the header: it is longer than we read, or a quote never closes.
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `the header row does not end within its first ${limits.MAX_CSV_HEADER_BYTES / 1024 / 1024} MiB (an unclosed quote?)`,
    );
  }
  fields.push(field);
  return fields;
}
