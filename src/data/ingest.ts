/**
 * Reading the files of a new version with DuckDB and writing its canonical Parquet copy,
 * in one streaming COPY (the files are never held in memory). Everything a user can get
 * wrong is found here, before any byte is stored: malformed CSV rows (all of them, with
 * file and line numbers, through DuckDB's rejects tables), wrong encodings, duplicate or
 * mismatched headers, too many columns, files that are not what their extension says.
 */
import { rm } from 'node:fs/promises';
import { MobiusError, limits } from '../core/index.js';
import {
  engineMessage,
  sqlIdent,
  sqlString,
  sqlStringList,
  type EngineSession,
} from '../engine/index.js';
import { parseHeader, readHead, type CsvDialect } from './csv-header.js';
import type { SourceFile } from './sources.js';
import type { ColumnSchema, CsvEncoding, DataFormat } from './types.js';

/** How the files are read; part of the manifest, so part of the content hash. */
export interface ReadOptions {
  encoding?: CsvEncoding;
  /** Detect CSV column types from every row instead of a sample (slower, never wrong). */
  sampleAll?: boolean;
}

/** What ingesting found: the schema and row count of the Parquet copy written. */
export interface Ingested {
  schema: ColumnSchema[];
  rowCount: number;
}

/**
 * Reads `files` (all of `format`) and writes them as one Parquet file at `parquetPath`.
 * Throws INVALID_ARGUMENT naming the file, line and fix when the input is bad.
 */
export async function ingest(
  session: EngineSession,
  format: DataFormat,
  files: readonly SourceFile[],
  options: ReadOptions,
  parquetPath: string,
): Promise<Ingested> {
  let reader: string;
  // CSV: the same read_csv without rejects bookkeeping, tried first (see below).
  let fast: string | undefined;
  switch (format) {
    case 'csv':
      ({ checked: reader, fast } = await csvReader(session, files, options));
      break;
    case 'parquet':
      reader = `read_parquet(${sqlStringList(files.map((f) => f.absolute))})`;
      break;
    case 'json':
      reader = `read_json(${sqlStringList(files.map((f) => f.absolute))}, format = 'auto')`;
      break;
  }
  const columns = await userStep(files, () =>
    session.rows<{ column_name: string; column_type: string }>(`describe select * from ${reader}`),
  );
  checkColumns(
    columns.map((c) => c.column_name),
    files[0]!.path,
  );

  const copy = (from: string) =>
    session.run(
      `copy (select * from ${from}) to ${sqlString(parquetPath)} (format parquet, compression zstd)`,
    );
  const parquet = `read_parquet(${sqlString(parquetPath)})`;
  const describeParquet = async () =>
    (
      await session.rows<{ column_name: string; column_type: string }>(
        `describe select * from ${parquet}`,
      )
    ).map((c) => ({ name: c.column_name, type: c.column_type }));
  // A CSV is first copied without collecting rejected rows, which costs ~15% of the read:
  // a well-formed file (the usual case) is done. The first malformed row fails that COPY;
  // then the file is read again collecting every malformed row (rejects tables), so the
  // error lists them all. The copy is kept only with the types the checked read detects.
  let schema: ColumnSchema[] | undefined;
  if (fast !== undefined) {
    const copied = await copy(fast).then(
      () => true,
      () => false,
    );
    if (copied) {
      const types = await describeParquet();
      const expected = columns.map((c) => `${c.column_name}\u0000${c.column_type}`).join('\n');
      if (types.map((c) => `${c.name}\u0000${c.type}`).join('\n') === expected) schema = types;
    }
  }
  if (schema === undefined) {
    await rm(parquetPath, { force: true }); // what the failed COPY left
    await userStep(files, () => copy(reader));
    if (format === 'csv') await refuseRejectedRows(session, files, options);
    schema = await describeParquet();
  }
  const [count] = await session.rows<{ n: string }>(`select count(*) as n from ${parquet}`);
  return { schema, rowCount: Number(count?.n ?? 0) };
}

/**
 * The read_csv calls for `files`: the dialect sniffed from the first file (headers are split
 * with RFC 4180 quoting when the sample showed none), every file's header checked first.
 * `checked` collects malformed rows in DuckDB's rejects tables instead of stopping at the
 * first; `fast` is the same read without that bookkeeping, stopping at the first.
 */
async function csvReader(
  session: EngineSession,
  files: readonly SourceFile[],
  options: ReadOptions,
): Promise<{ checked: string; fast: string }> {
  const encoding =
    options.encoding === undefined ? '' : `, encoding = ${sqlString(options.encoding)}`;
  const first = files[0]!;
  const [sniffed] = await userStep([first], () =>
    session.rows<{
      Delimiter: string;
      Quote: string;
      Escape: string;
      Comment: string;
      SkipRows: number;
    }>(
      `select Delimiter, Quote, Escape, Comment, SkipRows from sniff_csv(${sqlString(first.absolute)}, header = true, ignore_errors = true${encoding})`,
    ),
  );
  const unset = (v: string | undefined) => v === undefined || v === '(empty)';
  const dialect: CsvDialect = {
    delim: unset(sniffed?.Delimiter) ? ',' : sniffed!.Delimiter,
    quote: unset(sniffed?.Quote) ? '"' : sniffed!.Quote,
    escape: '',
    comment: unset(sniffed?.Comment) ? '' : sniffed!.Comment,
    skip: Number(sniffed?.SkipRows ?? 0),
  };
  dialect.escape = unset(sniffed?.Escape) ? dialect.quote : sniffed!.Escape;
  // Quote and escape are passed on only when the sniffer saw them: DuckDB parses ~15%
  // faster without quote handling, and a quote the sample never showed is left to it.
  const dialectSql =
    `delim = ${sqlString(dialect.delim)}, skip = ${dialect.skip}` +
    (unset(sniffed?.Quote) ? '' : `, quote = ${sqlString(dialect.quote)}`) +
    (unset(sniffed?.Escape) ? '' : `, escape = ${sqlString(dialect.escape)}`) +
    (dialect.comment === '' ? '' : `, comment = ${sqlString(dialect.comment)}`) +
    encoding;

  let expected: string[] | undefined;
  for (const file of files) {
    const header = await csvHeader(file, dialect, options.encoding);
    checkColumns(header, file.path);
    if (expected === undefined) expected = header;
    else if (header.join('\u0000') !== expected.join('\u0000')) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `'${file.path}' has header (${preview(header)}) but '${first.path}' has (${preview(expected)}); files of one version must share one header — add them as separate datasets or align them`,
      );
    }
  }
  const read = (rejects: string) =>
    `read_csv(${sqlStringList(files.map((f) => f.absolute))}, header = true, ${dialectSql}${rejects}` +
    (options.sampleAll === true ? ', sample_size = -1' : '') +
    ')';
  return {
    checked: read(`, store_rejects = true, rejects_limit = ${limits.MAX_REJECTED_ROWS}`),
    fast: read(''),
  };
}

/** The raw header cells of one CSV file, as written (DuckDB would rename duplicates). */
async function csvHeader(
  file: SourceFile,
  dialect: CsvDialect,
  encoding: CsvEncoding | undefined,
): Promise<string[]> {
  const header = parseHeader(await readHead(file.absolute, file.path, encoding), dialect);
  if (header === undefined)
    throw new MobiusError('INVALID_ARGUMENT', `'${file.path}' has no header row`);
  return header;
}

/** Refuses more columns than the limit and names that collide (DuckDB names are case-insensitive). */
function checkColumns(names: readonly string[], path: string): void {
  if (names.length > limits.MAX_DATASET_COLUMNS) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `'${path}' has ${names.length} columns; a version takes at most ${limits.MAX_DATASET_COLUMNS} (profiles and checks are per column): split it into several datasets`,
    );
  }
  const seen = new Map<string, number>();
  const duplicates: string[] = [];
  names.forEach((name, i) => {
    const key = name.toLowerCase();
    const earlier = seen.get(key);
    if (earlier !== undefined) duplicates.push(`'${name}' (columns ${earlier + 1} and ${i + 1})`);
    else seen.set(key, i);
  });
  if (duplicates.length > 0) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `'${path}' has duplicate column names: ${duplicates.slice(0, 10).join(', ')}${duplicates.length > 10 ? ` and ${duplicates.length - 10} more` : ''}; names are compared ignoring case — rename them so each is unique`,
    );
  }
}

interface Rejected {
  file_path: string;
  line: string;
  column_name: string | null;
  error_type: string;
  csv_line: string | null;
  error_message: string;
}

/** After the COPY: any row DuckDB rejected fails the add, with file and line numbers. */
async function refuseRejectedRows(
  session: EngineSession,
  files: readonly SourceFile[],
  options: ReadOptions,
): Promise<void> {
  const [total] = await session.rows<{ n: string }>('select count(*) as n from reject_errors');
  const count = Number(total?.n ?? 0);
  if (count === 0) return;
  const rows = await session.rows<Rejected>(
    `select s.file_path, e.line, e.column_name, e.error_type, e.csv_line, e.error_message
     from reject_errors e join reject_scans s using (scan_id, file_id)
     order by s.file_path, e.line limit ${limits.REJECTED_ROWS_SHOWN}`,
  );
  const byAbsolute = new Map(files.map((f) => [f.absolute, f.path]));
  const lines = rows.map((r) => {
    const file = byAbsolute.get(r.file_path) ?? r.file_path;
    const column = r.column_name === null ? '' : ` (column '${r.column_name}')`;
    const text = r.csv_line === null ? '' : `: ${JSON.stringify(r.csv_line.slice(0, 120))}`;
    return `${file} line ${r.line}${column}: ${r.error_message.trim()}${text}`;
  });
  const types = new Set(rows.map((r) => r.error_type));
  let fix = 'fix or remove those rows and add again';
  if (types.has('INVALID ENCODING'))
    fix =
      options.encoding === undefined
        ? 'the file is not UTF-8: if it is Latin-1 or UTF-16, pass --encoding latin-1 (or utf-16); otherwise convert it to UTF-8'
        : `the file is not ${options.encoding}: pass the encoding it was written in, or convert it to UTF-8`;
  else if (types.has('CAST') && options.sampleAll !== true)
    fix =
      'a value does not fit the type detected from the first rows: fix the value, or pass --sample-all to detect types from every row';
  const capped = count >= limits.MAX_REJECTED_ROWS * files.length ? 'at least ' : '';
  throw new MobiusError(
    'INVALID_ARGUMENT',
    `${capped}${count} malformed CSV row${count === 1 ? '' : 's'}; nothing was stored:\n  ${lines.join('\n  ')}${count > rows.length ? `\n  … and ${count - rows.length} more` : ''}\n${fix}`,
    { details: { malformedRows: count, rows: rows.map((r, i) => ({ ...r, shown: lines[i] })) } },
  );
}

/**
 * Runs a DuckDB step on user files, turning the engine's complaints about them (bad
 * encoding, not a Parquet file, malformed JSON…) into INVALID_ARGUMENT with advice.
 */
async function userStep<T>(files: readonly SourceFile[], step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    const message = engineMessage(error);
    if (
      message === undefined ||
      !/^(Invalid Input|Conversion|IO|Parser|Binder) Error/.test(message)
    )
      throw error;
    let text = message.split('\n')[0]!.replace(/^\w+ Error: /, '');
    for (const f of files) text = text.replaceAll(f.absolute, f.path);
    let fix = 'check that the file is what its extension says';
    if (/invalid unicode|not utf-8 encoded/i.test(message))
      fix =
        'the file is not UTF-8: if it is Latin-1 or UTF-16, pass --encoding latin-1 (or utf-16); otherwise convert it to UTF-8';
    else if (/Malformed JSON/i.test(message)) fix = 'fix the JSON at that line';
    throw new MobiusError('INVALID_ARGUMENT', `cannot read the data: ${text}\n${fix}`, {
      cause: error,
    });
  }
}

function preview(names: readonly string[]): string {
  const shown = names
    .slice(0, 8)
    .map((n) => sqlIdent(n))
    .join(', ');
  return names.length > 8 ? `${shown}, … ${names.length} columns` : shown;
}
