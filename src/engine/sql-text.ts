/**
 * Quoting for the SQL Mobius writes for DuckDB. Table functions such as read_csv take
 * their file lists and options as literals, not bound parameters, so paths and column
 * names are quoted here — the one place that does it.
 */

/** A DuckDB string literal: single quotes, with embedded quotes doubled. */
export function sqlString(value: string): string {
  if (value.includes('\u0000')) throw new TypeError('SQL string literals cannot contain NUL');
  return `'${value.replaceAll("'", "''")}'`;
}

/** A DuckDB identifier: double quotes, with embedded quotes doubled. */
export function sqlIdent(name: string): string {
  if (name.includes('\u0000')) throw new TypeError('SQL identifiers cannot contain NUL');
  return `"${name.replaceAll('"', '""')}"`;
}

/** A DuckDB list literal of strings: `['a', 'b']`. */
export function sqlStringList(values: readonly string[]): string {
  return `[${values.map(sqlString).join(', ')}]`;
}

/** A finite number as a DuckDB DOUBLE literal that round-trips exactly. */
export function sqlDouble(value: number): string {
  if (!Number.isFinite(value)) throw new TypeError(`not a finite number: ${value}`);
  return `CAST(${JSON.stringify(value)} AS DOUBLE)`;
}
