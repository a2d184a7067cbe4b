/**
 * PII scan: which string columns of a version hold e-mail addresses, phone numbers, card
 * numbers, IBANs or IP addresses, and how many of their values do. Everything runs in
 * DuckDB over the version's Parquet copy: per bundle of PII_COLUMNS_PER_SCAN string
 * columns, one aggregate SELECT counts, for every column × kind, the values holding a
 * match — a cheap regular expression first, then the kind's check (Luhn, ISO 13616
 * mod-97, octet ranges) on the few values that pass it. Only counts and masked examples
 * (first and last character kept) reach JavaScript; no full value ever does.
 *
 * Every kind is matched *inside* the value (an address in a sentence counts), with the
 * boundaries each rule states, so free-text columns are caught as well as clean ones.
 * The rules, and what they miss, are in docs/data.md ("PII scan and masking").
 */
import { MobiusError, limits } from '../core/index.js';
import { sqlIdent, sqlString, type EngineSession } from '../engine/index.js';
import type { ColumnSchema } from './types.js';

/** What a scan looks for, in report order. */
export const PII_KINDS = ['email', 'phone', 'card', 'iban', 'ipv4', 'ipv6'] as const;
export type PiiKind = (typeof PII_KINDS)[number];

/**
 * Share of a column's non-null values that must hold a kind for the column to be flagged
 * for it: 1% lets a column of free text with the odd address in it pass, while a column
 * of contacts, or of prose where one row in a hundred carries an e-mail, is flagged.
 * Counts below the threshold are still reported.
 */
export const DEFAULT_PII_THRESHOLD = 0.01;

/** Options of a scan. */
export interface PiiOptions {
  /** Fraction (0–1) of non-null values a kind must reach to flag the column; default 0.01. */
  threshold?: number;
}

/** One kind in one column. */
export interface PiiKindResult {
  kind: PiiKind;
  /** Non-null values holding at least one match of the kind. */
  matches: number;
  /** matches / non-null values × 100 (0 for an all-null column). */
  percent: number;
  flagged: boolean;
  /**
   * Up to PII_EXAMPLES matches, masked — the first and last character and the separators
   * (` @.:()+/%-`) kept, every other character `*` — the most frequent such shapes first.
   */
  examples: string[];
}

/** One scanned string column. */
export interface PiiColumn {
  name: string;
  type: string;
  rows: number;
  nonNull: number;
  kinds: PiiKindResult[];
  /** The kinds the column is flagged for (at or above the threshold). */
  flagged: PiiKind[];
}

/** What `data pii` reports for one version. */
export interface PiiReport {
  dataset: string;
  version: number;
  contentHash: string;
  rowCount: number;
  threshold: number;
  /** Every string (VARCHAR) column, in schema order. */
  columns: PiiColumn[];
  /** Columns of other types, which are not scanned. */
  notScanned: ColumnSchema[];
  /** Each flagged column × kind, for a quick look. */
  flagged: { column: string; kind: PiiKind; matches: number; percent: number }[];
}

// ---- The rules (RE2 syntax, as DuckDB's regexp functions take it) -----------------------

/** local@domain.tld: a dotted domain with a 2+ letter TLD; `user@localhost` is not matched. */
const EMAIL = String.raw`[A-Za-z0-9_%+-][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}`;

/**
 * Phones, conservatively: a bare digit run is never one (IDs, amounts). Either
 * international (`+`, country code, groups: 8–15 digits in all, E.164's maximum), a
 * North American number with separators (`(415) 555-0132`, `415-555-0132`, `415.555.0132`,
 * `415 555 0132`), or a national number with a trunk 0 and at least two groups of one
 * separator kind (`020 7946 0958`, `01 23 45 67 89`, `030-1234567`: 9–12 digits). Not
 * touching a letter or digit, nor run together with another number by one separator (so
 * the tail of a card number `4000 0000 5543 9118` is not a phone number).
 */
const PHONE_INTL = String.raw`\+[1-9][0-9]{0,2}(?:[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,5})){1,6}`;
const PHONE_NANP = String.raw`(?:\([0-9]{3}\) ?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}`;
const PHONE_TRUNK = String.raw`0[0-9]{1,4}(?:(?: [0-9]{2,8}){1,4}|(?:-[0-9]{2,8}){1,4})`;
const PHONE = String.raw`(?:^|[^0-9A-Za-z+ .-]|(?:^|[^0-9])[ .-])(${PHONE_INTL}|${PHONE_NANP}|${PHONE_TRUNK})(?:$|[^0-9A-Za-z .-]|[ .-](?:$|[^0-9]))`;

/**
 * Card numbers: 13–19 digits, optionally split by single spaces or dashes, starting with
 * 2–6 (Mastercard 2/5, Amex/Diners/JCB 3, Visa 4, Discover/UnionPay/Maestro 6), and not
 * run together with another number (no digit, nor a space or dash then a digit, on
 * either side). Candidates must then pass the Luhn check (mobius_luhn).
 */
const CARD = String.raw`(?:^|[^0-9A-Za-z -]|(?:^|[^0-9])[ -])([2-6][0-9](?:[ -]?[0-9]){11,17})(?:$|[^0-9A-Za-z -]|[ -](?:$|[^0-9]))`;

/**
 * IBANs: two capital letters, two check digits, then 11–30 capitals or digits, written
 * compact or in groups of four separated by single spaces, not touching a letter or
 * digit. Candidates must have 15–34 characters and pass ISO 13616's mod-97 check.
 */
const IBAN = String.raw`(?:^|[^0-9A-Za-z])([A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?))(?:$|[^0-9A-Za-z])`;

/** Tokens IP addresses are looked for in: runs of letters, digits, `.` and `:`. */
const TOKEN = '[0-9A-Za-z.:]+';
const OCTET = '(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])';
/** A dotted quad, each octet 0–255 (leading zeros allowed), optionally with a :port. */
const IPV4 = String.raw`${OCTET}(?:\.${OCTET}){3}`;
const HEX = '[0-9A-Fa-f]{1,4}';

/**
 * Macros the kinds' checks use, created in the scan's own session (it is private to the
 * job). Parameter names are prefixed so they cannot meet a column of the same name.
 */
const MACROS = [
  // The digits of a string.
  `create temp macro mobius_digits(__s) as regexp_replace(__s, '[^0-9]', '', 'g')`,
  // Luhn: from the right, every second digit doubled (minus 9 when above 9); the sum
  // must be a multiple of 10. ascii(d) - 48 is the digit's value.
  `create temp macro mobius_luhn(__d) as list_sum(list_transform(string_split(reverse(__d), ''),
     (__c, __i) -> case when __i % 2 = 0
       then (ascii(__c) - 48) * 2 - case when ascii(__c) - 48 > 4 then 9 else 0 end
       else ascii(__c) - 48 end)) % 10 = 0`,
  // ISO 13616 / ISO 7064 mod 97-10: move the first four characters to the end, read
  // letters as 10 (A) … 35 (Z), and the resulting number mod 97 must be 1. The number is
  // up to 68 digits, so it is folded left to right: r = (r × 10^width + value) mod 97,
  // width 2 for letters, 1 for digits (the first value is below 97, so it starts r).
  `create temp macro mobius_iban(__s) as length(__s) between 15 and 34 and list_reduce(
     list_transform(string_split(substr(__s, 5) || substr(__s, 1, 4), ''),
       __c -> case when __c between '0' and '9' then ascii(__c) - 48 else ascii(__c) - 55 end),
     (__r, __v) -> (__r * case when __v >= 10 then 100 else 10 end + __v) % 97) = 1`,
  `create temp macro mobius_phone(__m) as case when starts_with(__m, '+')
     then length(mobius_digits(__m)) between 8 and 15
     else length(mobius_digits(__m)) between 9 and 12 end`,
  `create temp macro mobius_ipv4(__t) as regexp_full_match(__t, ${sqlString(`${IPV4}(?::[0-9]{1,5})?`)})`,
  // IPv6 (RFC 4291 text forms): eight groups of 1–4 hex digits, or fewer around one
  // `::` (at least one group, so a bare `::` in prose is not an address); a trailing
  // dotted quad (::ffff:192.0.2.1) stands for two groups.
  `create temp macro mobius_ipv6_groups(__n) as case when contains(__n, '::')
     then regexp_full_match(__n, ${sqlString(`(?:${HEX}(?::${HEX})*)?::(?:${HEX}(?::${HEX})*)?`)})
       and len(regexp_extract_all(__n, '[0-9A-Fa-f]+')) between 1 and 7
     else regexp_full_match(__n, ${sqlString(`${HEX}(?::${HEX}){7}`)}) end`,
  `create temp macro mobius_ipv6(__t) as mobius_ipv6_groups(regexp_replace(__t, ${sqlString(`:${IPV4}$`)}, ':0:0'))`,
  // An example as reports show it: first and last character, and the separators between
  // (the shape: 'u****@*******.**m', '4*** **** **** ***1'); everything else starred.
  `create temp macro mobius_mask(__s) as case when length(__s) <= 2 then repeat('*', length(__s))
     else left(__s, 1) || regexp_replace(substr(__s, 2, length(__s) - 2), '[^ @.:()+/%-]', '*', 'g')
       || right(__s, 1) end`,
];

/**
 * The first match of `kind` in the string `v` (an SQL expression), or NULL. The cheap
 * test in `when` runs on every value; the extraction and check only on those passing it
 * (DuckDB evaluates a CASE branch only for the rows that take it).
 */
function firstMatch(kind: PiiKind, v: string): string {
  const first = (pattern: string, check: string, group = 1) =>
    `list_filter(regexp_extract_all(${v}, ${sqlString(pattern)}, ${group}), __m -> ${check})[1]`;
  switch (kind) {
    case 'email':
      return `case when contains(${v}, '@') then nullif(regexp_extract(${v}, ${sqlString(EMAIL)}), '') end`;
    case 'phone':
      return `case when regexp_matches(${v}, ${sqlString(PHONE)}) then ${first(PHONE, 'mobius_phone(__m)')} end`;
    case 'card':
      return `case when regexp_matches(${v}, ${sqlString(CARD)}) then ${first(CARD, 'mobius_luhn(mobius_digits(__m))')} end`;
    case 'iban':
      return `case when regexp_matches(${v}, ${sqlString(IBAN)}) then ${first(IBAN, `mobius_iban(replace(__m, ' ', ''))`)} end`;
    case 'ipv4':
      // A sentence's full stop or a label's colon after the address is not part of it.
      return `case when regexp_matches(${v}, '[0-9]\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]') then list_filter(list_transform(regexp_extract_all(${v}, '${TOKEN}'), __t -> rtrim(__t, '.:')), __m -> mobius_ipv4(__m))[1] end`;
    case 'ipv6':
      return `case when regexp_matches(${v}, ':[0-9A-Fa-f]*:') then list_filter(list_transform(regexp_extract_all(${v}, '${TOKEN}'), __t -> rtrim(__t, '.')), __m -> mobius_ipv6(__m))[1] end`;
  }
}

/** Checks a threshold option: a fraction from 0 to 1. */
export function piiThreshold(value: number | undefined): number {
  if (value === undefined) return DEFAULT_PII_THRESHOLD;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `threshold ${String(value)} is not a fraction from 0 to 1 (e.g. 0.01 flags a column when 1% of its values match)`,
    );
  return value;
}

/**
 * Scans the string columns of the Parquet file `source` (a read_parquet call) in
 * `session`. Returns the scanned columns (schema order) and the others.
 */
export async function scanPii(
  session: EngineSession,
  source: string,
  schema: readonly ColumnSchema[],
  threshold: number,
): Promise<{ columns: PiiColumn[]; notScanned: ColumnSchema[] }> {
  const strings = schema.filter((c) => c.type === 'VARCHAR');
  const notScanned = schema.filter((c) => c.type !== 'VARCHAR');
  if (strings.length === 0) return { columns: [], notScanned };
  for (const macro of MACROS) await session.run(macro);
  const columns: PiiColumn[] = [];
  const step = limits.PII_COLUMNS_PER_SCAN;
  for (let start = 0; start < strings.length; start += step)
    columns.push(
      ...(await scanBundle(session, source, strings.slice(start, start + step), threshold)),
    );
  return { columns, notScanned };
}

async function scanBundle(
  session: EngineSession,
  source: string,
  bundle: readonly ColumnSchema[],
  threshold: number,
): Promise<PiiColumn[]> {
  // Inner: per column, whether it is non-null and its first match of each kind (or NULL);
  // outer: one row of counts and examples. Each expression is evaluated once per value.
  const inner = bundle.flatMap((c, i) => {
    const v = sqlIdent(c.name);
    return [
      `${v} is not null as n${i}`,
      ...PII_KINDS.map((k) => `${firstMatch(k, v)} as m${i}_${k}`),
    ];
  });
  const outer = bundle.flatMap((_c, i) => [
    `count(*) filter (where n${i}) as n${i}`,
    ...PII_KINDS.flatMap((k) => [
      `count(m${i}_${k}) as c${i}_${k}`,
      // Masked values of one shape look alike, so the examples are the most frequent
      // distinct masked values (a bounded sketch, whatever the row count).
      `approx_top_k(mobius_mask(m${i}_${k}), ${limits.PII_EXAMPLES}) as e${i}_${k}`,
    ]),
  ]);
  const [row] = await session.rows<Record<string, string | number | string[] | null>>(
    `select count(*) as rows, ${outer.join(', ')} from (select ${inner.join(', ')} from ${source})`,
  );
  const rows = Number(row?.rows ?? 0);
  return bundle.map((c, i) => {
    const nonNull = Number(row?.[`n${i}`] ?? 0);
    const kinds = PII_KINDS.map((kind): PiiKindResult => {
      const matches = Number(row?.[`c${i}_${kind}`] ?? 0);
      const examples = (row?.[`e${i}_${kind}`] ?? []) as string[];
      return {
        kind,
        matches,
        percent: nonNull === 0 ? 0 : (matches / nonNull) * 100,
        flagged: matches > 0 && matches >= threshold * nonNull,
        examples,
      };
    });
    return {
      name: c.name,
      type: c.type,
      rows,
      nonNull,
      kinds,
      flagged: kinds.filter((k) => k.flagged).map((k) => k.kind),
    };
  });
}
