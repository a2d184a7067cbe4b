/**
 * The header row of a CSV file, read from its first bytes in JavaScript rather than by
 * DuckDB: DuckDB renames duplicate names (`a`, `a_1`) where we must refuse them, and its
 * reader allocates 2,048-row vectors for every column, so asking it for one row of a
 * 5,000-column file costs hundreds of MB. Only the header bytes are read here (at most
 * MAX_CSV_HEADER_BYTES); rows stay DuckDB's business.
 */
import { open } from 'node:fs/promises';
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
 * The decoded start of a file: its first 64 KiB, or up to MAX_CSV_HEADER_BYTES when the
 * first line is longer than that (wide files), so adding thousands of files reads little.
 */
export async function readHead(
  path: string,
  shown: string,
  encoding: CsvEncoding = 'utf-8',
): Promise<Head> {
  const handle = await open(path, 'r');
  try {
    let size = 64 * 1024;
    for (;;) {
      const buffer = Buffer.alloc(size);
      const { bytesRead } = await handle.read(buffer, 0, size, 0);
      const decoder = new TextDecoder(DECODERS[encoding], { fatal: true });
      let text: string;
      try {
        // stream: a character cut at the end of the buffer is not an error.
        text = decoder.decode(buffer.subarray(0, bytesRead), { stream: true });
      } catch (cause) {
        throw new MobiusError(
          'INVALID_ARGUMENT',
          encoding === 'utf-8'
            ? `'${shown}' is not valid UTF-8: if it is Latin-1 or UTF-16, pass --encoding latin-1 (or utf-16); otherwise convert it to UTF-8`
            : `'${shown}' is not valid ${encoding}: pass the encoding it was written in, or convert it to UTF-8`,
          { cause },
        );
      }
      const complete = bytesRead < size;
      if (complete || /[\r\n]/.test(text) || size >= limits.MAX_CSV_HEADER_BYTES)
        return { text, complete };
      size = limits.MAX_CSV_HEADER_BYTES;
    }
  } finally {
    await handle.close();
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
