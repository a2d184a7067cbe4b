/**
 * Each expectation becomes a plan: decided from the version's exact stored facts (schema,
 * row count, profile) with no scan; a few aggregates of the suite's ONE bundled scan; or a
 * query of its own (joins with another version, distributions). Row predicates for the
 * failing rows are kept so that samples are fetched only for expectations that failed.
 *
 * Why the profile may decide: a version is immutable and its profile's counts, nulls,
 * min/max and string lengths are exact (docs/data.md), so "every amount is between 0 and
 * 10,000" is known once min and max are. Deequ reuses stored metrics the same way. A failed
 * decision still goes to the engine for its counts and samples, and `fullScan` turns the
 * shortcut off.
 */
import { MobiusError, limits } from '../../core/index.js';
import {
  sqlDouble,
  sqlIdent,
  sqlString,
  type Cell,
  type EngineSession,
} from '../../engine/index.js';
import { kindOf } from '../profile.js';
import type { ColumnProfile, ColumnSchema, DatasetVersion } from '../types.js';
import { chiSquarePValue, ksPValue } from './statistics.js';
import { durationMs, type Expectation } from './suite.js';
import type { DecidedBy, ExpectationOutcome } from './results.js';

/** A verdict before severity and samples are attached. */
export interface Verdict {
  success: boolean;
  outcome: ExpectationOutcome;
}

/** What an expectation needs done. */
export interface Plan {
  decidedBy: DecidedBy;
  /** Decided without the engine. */
  verdict?: Verdict;
  /** Aggregate expressions for the bundled scan; `finish` gets their values in order. */
  aggregates?: string[];
  finish?: (values: Cell[], session: EngineSession) => Promise<Verdict> | Verdict;
  /** A query of its own. */
  query?: (session: EngineSession) => Promise<Verdict>;
  /** SQL checked before any scan (casts of bounds, regex and format syntax, types). */
  preflight?: string[];
  /** Selects the failing rows of table `t`, for samples; columns shown first. */
  unexpected?: { where: string; columns: string[] };
}

/** What the compiler knows about the checked version and the versions it refers to. */
export interface CompileFacts {
  version: DatasetVersion;
  /** Referenced versions (by the text the suite wrote) and their view names. */
  references: Map<string, { view: string; version: DatasetVersion }>;
  now: number;
  /** Ignore the stored profile: every expectation is measured on the data. */
  fullScan: boolean;
}

interface Column {
  name: string;
  type: string;
  kind: ReturnType<typeof kindOf>;
  sql: string;
  profile: ColumnProfile | undefined;
}

const NUMERIC = new Set(['integer', 'float', 'decimal']);

/** Compiles one expectation; `where` names it in errors ("expectation 3 (between)"). */
export function compile(e: Expectation, facts: CompileFacts, where: string): Plan {
  const col = (name: string, version = facts.version): Column => column(version, name, where);
  const profile = facts.fullScan ? undefined : facts.version.profile;
  const rows = facts.version.rowCount;
  switch (e.expect) {
    case 'not_null': {
      const c = col(e.column);
      const unexpected = { where: `${c.sql} IS NULL`, columns: [c.name] };
      const nulls = profile === undefined || profile === null ? undefined : c.profile?.nullCount;
      if (nulls !== undefined)
        return { decidedBy: 'profile', verdict: columnMap(rows, 0, nulls, e.mostly), unexpected };
      return {
        decidedBy: 'scan',
        aggregates: [`count(*) FILTER (WHERE ${c.sql} IS NULL)`],
        finish: ([n]) => columnMap(rows, 0, num(n), e.mostly),
        unexpected,
      };
    }
    case 'row_count_between': {
      const ok = (e.min === undefined || rows >= e.min) && (e.max === undefined || rows <= e.max);
      return { decidedBy: 'profile', verdict: { success: ok, outcome: { observedValue: rows } } };
    }
    case 'version_age': {
      const age = facts.now - facts.version.createdAt;
      return {
        decidedBy: 'profile',
        verdict: {
          success: age <= durationMs(e.within),
          outcome: {
            observedValue: age,
            details: { createdAt: facts.version.createdAt, withinMs: durationMs(e.within) },
          },
        },
      };
    }
    case 'schema':
      return { decidedBy: 'profile', verdict: schemaVerdict(e, facts.version) };
    case 'fresh': {
      const c = col(e.column);
      if (c.kind !== 'temporal')
        throw bad(where, `'${c.name}' is ${c.type}; freshness needs a DATE or TIMESTAMP column`);
      const windowMs = durationMs(e.within);
      const judge = (newest: number | null): Verdict => {
        const age = newest === null ? null : facts.now - newest;
        return {
          success: age !== null && age <= windowMs,
          outcome: {
            observedValue: age,
            details: {
              newest: newest === null ? null : new Date(newest).toISOString(),
              withinMs: windowMs,
            },
          },
        };
      };
      const known = c.profile === undefined || profile == null ? undefined : timeOf(c.profile.max);
      if (known !== undefined) return { decidedBy: 'profile', verdict: judge(known) };
      const expr = /WITH TIME ZONE|TIMESTAMPTZ/i.test(c.type)
        ? `epoch_ms(max(${c.sql}))`
        : `epoch_ms(CAST(max(${c.sql}) AS TIMESTAMP))`;
      return {
        decidedBy: 'scan',
        aggregates: [expr],
        finish: ([v]) => judge(v === null || v === undefined ? null : Number(v)),
      };
    }
    case 'partitions_not_empty':
      return partitions(e, col(e.column), where);
    case 'unique':
      return unique(e.mostly, [col(e.column)], rows, profile != null);
    case 'compound_unique':
      return unique(
        e.mostly,
        e.columns.map((n) => col(n)),
        rows,
        profile != null,
      );
    case 'references': {
      const c = col(e.column);
      const ref = facts.references.get(e.dataset)!;
      const rc = column(ref.version, e.refColumn ?? e.column, `${where}: in ${e.dataset}`);
      const tc = `t.${c.sql}`;
      const rcol = `${ref.view}.${rc.sql}`;
      const where_ = `${tc} IS NOT NULL AND ${tc} NOT IN (SELECT ${rcol} FROM ${ref.view} WHERE ${rcol} IS NOT NULL)`;
      return {
        decidedBy: 'query',
        preflight: [`SELECT ${tc} = ${rcol} FROM t, ${ref.view} LIMIT 0`],
        query: async (session) => {
          const [r] = await session.rows<{ missing: Cell; bad: Cell }>(
            `SELECT count(*) FILTER (WHERE ${tc} IS NULL) AS missing, (SELECT count(*) FROM t WHERE ${where_}) AS bad FROM t`,
          );
          const verdict = columnMap(rows, num(r?.missing), num(r?.bad), e.mostly);
          verdict.outcome.details = { reference: `${ref.version.dataset}@${ref.version.version}` };
          return verdict;
        },
        unexpected: { where: where_, columns: [c.name] },
      };
    }
    case 'column_pair': {
      const l = col(e.left);
      const r = col(e.right);
      const op = e.op === '!=' ? '<>' : e.op;
      const present = `${l.sql} IS NOT NULL AND ${r.sql} IS NOT NULL`;
      const fails = `${present} AND NOT (${l.sql} ${op} ${r.sql})`;
      return {
        decidedBy: 'scan',
        preflight: [`SELECT ${l.sql} ${op} ${r.sql} FROM t LIMIT 0`],
        aggregates: [
          `count(*) FILTER (WHERE NOT (${present}))`,
          `count(*) FILTER (WHERE ${fails})`,
        ],
        finish: ([missing, n]) => columnMap(rows, num(missing), num(n), e.mostly),
        unexpected: { where: fails, columns: [l.name, r.name] },
      };
    }
    case 'sum_equals': {
      const parts = e.columns.map((n) => col(n));
      const total = col(e.total);
      for (const c of [...parts, total])
        if (!NUMERIC.has(c.kind))
          throw bad(where, `'${c.name}' is ${c.type}; sum_equals needs numeric columns`);
      const present = [...parts, total].map((c) => `${c.sql} IS NOT NULL`).join(' AND ');
      const sum = parts.map((c) => c.sql).join(' + ');
      const fails = `${present} AND abs((${sum}) - ${total.sql}) > ${sqlDouble(e.tolerance)}`;
      return {
        decidedBy: 'scan',
        aggregates: [
          `count(*) FILTER (WHERE NOT (${present}))`,
          `count(*) FILTER (WHERE ${fails})`,
        ],
        finish: ([missing, n]) => columnMap(rows, num(missing), num(n), e.mostly),
        unexpected: { where: fails, columns: [...parts.map((c) => c.name), total.name] },
      };
    }
    case 'between': {
      const c = col(e.column);
      const lit = (v: string | number, side: string) => boundLiteral(c, v, `${where}: '${side}'`);
      const bounds: string[] = [];
      const tests: string[] = [];
      if (e.min !== undefined) {
        bounds.push(lit(e.min, 'min'));
        tests.push(`${c.sql} ${e.strictMin ? '>' : '>='} ${bounds.at(-1)!}`);
      }
      if (e.max !== undefined) {
        bounds.push(lit(e.max, 'max'));
        tests.push(`${c.sql} ${e.strictMax ? '<' : '<='} ${bounds.at(-1)!}`);
      }
      const fails = `${c.sql} IS NOT NULL AND NOT (${tests.join(' AND ')})`;
      const unexpected = { where: fails, columns: [c.name] };
      const p = profile == null ? undefined : c.profile;
      if (p !== undefined && NUMERIC.has(c.kind) && inRange(p, e))
        return {
          decidedBy: 'profile',
          verdict: columnMap(rows, p.nullCount, 0, e.mostly),
          unexpected,
        };
      return mapScan(c, fails, rows, e.mostly, unexpected, [`SELECT ${bounds.join(', ')}`]);
    }
    case 'in_set': {
      const c = col(e.column);
      const values = e.values.map((v) =>
        boundLiteral(c, typeof v === 'boolean' ? String(v) : v, `${where}: 'values'`),
      );
      const fails = `${c.sql} IS NOT NULL AND ${c.sql} NOT IN (${values.join(', ')})`;
      const unexpected = { where: fails, columns: [c.name] };
      const p = profile == null ? undefined : c.profile;
      const all = p === undefined ? undefined : allValues(p);
      if (p !== undefined && all !== undefined && c.kind === 'string') {
        const allowed = new Set(e.values.map(String));
        const n = all.filter((v) => !allowed.has(v.value)).reduce((s, v) => s + v.count, 0);
        return {
          decidedBy: 'profile',
          verdict: columnMap(rows, p.nullCount, n, e.mostly),
          unexpected,
        };
      }
      return mapScan(c, fails, rows, e.mostly, unexpected, [`SELECT ${values.join(', ')}`]);
    }
    case 'regex': {
      const c = col(e.column);
      const pattern = sqlString(e.pattern);
      const fails = `${c.sql} IS NOT NULL AND NOT regexp_matches(CAST(${c.sql} AS VARCHAR), ${pattern})`;
      return mapScan(c, fails, rows, e.mostly, { where: fails, columns: [c.name] }, [
        `SELECT regexp_matches('', ${pattern})`,
      ]);
    }
    case 'length_between': {
      const c = col(e.column);
      if (c.kind !== 'string')
        throw bad(where, `'${c.name}' is ${c.type}; length_between needs a text (VARCHAR) column`);
      const tests: string[] = [];
      if (e.min !== undefined) tests.push(`length(${c.sql}) >= ${e.min}`);
      if (e.max !== undefined) tests.push(`length(${c.sql}) <= ${e.max}`);
      const fails = `${c.sql} IS NOT NULL AND NOT (${tests.join(' AND ')})`;
      const unexpected = { where: fails, columns: [c.name] };
      const p = profile == null ? undefined : c.profile;
      // Every length is within the bounds, or there are no values at all.
      const withinBounds =
        p !== undefined &&
        (p.count === p.nullCount ||
          (typeof p.minLength === 'number' &&
            typeof p.maxLength === 'number' &&
            (e.min === undefined || p.minLength >= e.min) &&
            (e.max === undefined || p.maxLength <= e.max)));
      if (withinBounds)
        return {
          decidedBy: 'profile',
          verdict: columnMap(rows, p.nullCount, 0, e.mostly),
          unexpected,
        };
      return mapScan(c, fails, rows, e.mostly, unexpected);
    }
    case 'date_format': {
      const c = col(e.column);
      if (c.kind !== 'string')
        throw bad(
          where,
          `'${c.name}' is already ${c.type}, so it has no text format to check; use date_format on text columns`,
        );
      const format = sqlString(e.format);
      const fails = `${c.sql} IS NOT NULL AND try_strptime(${c.sql}, ${format}) IS NULL`;
      return mapScan(c, fails, rows, e.mostly, { where: fails, columns: [c.name] }, [
        `SELECT strptime('', ${format}) IS NULL FROM (SELECT 1) WHERE false`,
      ]);
    }
    case 'distribution':
      return distribution(e, col(e.column), facts, where);
  }
}

/** A column-map verdict: unexpected among the non-missing rows, judged against `mostly`. */
export function columnMap(
  element: number,
  missing: number,
  unexpected: number,
  mostly: number,
): Verdict {
  const present = element - missing;
  const fraction = present === 0 ? 1 : (present - unexpected) / present;
  return {
    // A suite written with mostly: 0.95 passes at exactly 95%; float noise must not fail it.
    success: fraction >= mostly - 1e-12,
    outcome: {
      observedValue: fraction,
      elementCount: element,
      missingCount: missing,
      missingPercent: element === 0 ? 0 : (missing / element) * 100,
      unexpectedCount: unexpected,
      unexpectedPercent: present === 0 ? 0 : (unexpected / present) * 100,
    },
  };
}

function mapScan(
  c: Column,
  fails: string,
  rows: number,
  mostly: number,
  unexpected: Plan['unexpected'],
  preflight?: string[],
): Plan {
  return {
    decidedBy: 'scan',
    ...(preflight === undefined ? {} : { preflight }),
    aggregates: [`count(*) FILTER (WHERE ${c.sql} IS NULL)`, `count(*) FILTER (WHERE ${fails})`],
    finish: ([missing, n]) => columnMap(rows, num(missing), num(n), mostly),
    unexpected,
  };
}

/**
 * `unique` and `compound_unique`. A single column whose profile counted its distinct values
 * exactly is decided there. Otherwise the scan counts distinct keys: with a bitmap (one bit
 * per possible key, no hashing) when the profile bounds every column to a small range
 * (see keyCode), else as distinct 64-bit hashes. Distinct tuples give at most as many
 * hashes or bits, so equal counts prove uniqueness; a shortfall (a duplicate, or a
 * 1-in-2⁶⁴ collision) is recounted exactly.
 */
function unique(mostly: number, cs: Column[], rows: number, useProfile: boolean): Plan {
  const list = cs.map((c) => c.sql).join(', ');
  const nn = cs.map((c) => `${c.sql} IS NOT NULL`).join(' AND ');
  const where = `${nn} AND ${cs.length === 1 ? list : `row(${list})`} IN (SELECT ${cs.length === 1 ? list : `row(${list})`} FROM t WHERE ${nn} GROUP BY ALL HAVING count(*) > 1)`;
  const unexpected = { where, columns: cs.map((c) => c.name) };
  const exact = (session: EngineSession) => count(session, where);
  const p = useProfile && cs.length === 1 ? cs[0]!.profile : undefined;
  if (p !== undefined && p.distinctExact && p.approxDistinct !== null) {
    const present = p.count - p.nullCount;
    if (p.approxDistinct === present)
      return { decidedBy: 'profile', verdict: columnMap(rows, p.nullCount, 0, mostly), unexpected };
    return {
      decidedBy: 'query',
      query: async (session) => columnMap(rows, p.nullCount, await exact(session), mostly),
      unexpected,
    };
  }
  const key = useProfile ? compoundKey(cs) : undefined;
  const distinct =
    key === undefined
      ? `count(DISTINCT hash(${list})) FILTER (WHERE ${nn})`
      : `coalesce(bit_count(bitstring_agg(${key.sql}, 0, ${key.size - 1}) FILTER (WHERE ${nn})), 0)`;
  return {
    decidedBy: 'scan',
    aggregates: [
      `count(*) FILTER (WHERE NOT (${nn}))`,
      `count(*) FILTER (WHERE ${nn}) - ${distinct}`,
    ],
    finish: async ([missing, extra], session) =>
      columnMap(rows, num(missing), num(extra) === 0 ? 0 : await exact(session), mostly),
    unexpected,
  };
}

/**
 * A column's non-null values as integers 0…size−1, never decreasing with the value, so
 * distinct keys set distinct bits; values that share one (two times within one unit) only
 * leave a shortfall, which is recounted exactly.
 */
interface KeyCode {
  sql: string;
  size: number;
}

const TIME_UNITS_US = [1_000, 1_000_000, 60_000_000, 3_600_000_000, 86_400_000_000];

/**
 * One integer key per tuple for a bitmap of at most CHECK_BITMAP_MAX_RANGE bits, when the
 * profile's exact facts bound every column: integers by their offset from min, booleans,
 * dates by days from min, text whose every value the profile lists by position, and
 * timestamps by whole units (the finest of ms, s, min, h, day that fits: times finer than
 * that share bits, a shortfall recounted exactly). Columns are combined in mixed radix.
 */
function compoundKey(cs: Column[]): KeyCode | undefined {
  const max = limits.CHECK_BITMAP_MAX_RANGE;
  const codes: (KeyCode | undefined)[] = cs.map((c) =>
    c.kind === 'temporal' && !/^DATE$/i.test(c.type) ? undefined : keyCode(c),
  );
  let budget = codes.reduce((n, k) => (k === undefined ? n : n / k.size), max);
  cs.forEach((c, i) => {
    if (codes[i] !== undefined || budget < 1) return;
    codes[i] = timeCode(c, budget);
    budget /= codes[i]?.size ?? Infinity;
  });
  if (codes.some((k) => k === undefined)) return undefined;
  const known = codes as KeyCode[];
  const size = known.reduce((n, k) => n * k.size, 1);
  if (size > max) return undefined;
  // key = c0 + s0·(c1 + s1·(c2 + …))
  const sql = known.reduceRight<string>(
    (inner, k, i) =>
      i === known.length - 1
        ? `CAST(${k.sql} AS BIGINT)`
        : `CAST(${k.sql} AS BIGINT) + ${k.size} * (${inner})`,
    '',
  );
  return { sql, size };
}

function keyCode(c: Column): KeyCode | undefined {
  const p = c.profile;
  if (p === undefined || p.count === p.nullCount) return undefined;
  if (c.kind === 'boolean') return { sql: `CAST(${c.sql} AS INTEGER)`, size: 2 };
  if (c.kind === 'integer') {
    const { min, max } = p;
    if (typeof min !== 'number' || typeof max !== 'number') return undefined;
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max)) return undefined;
    return { sql: `(CAST(${c.sql} AS BIGINT) - ${min})`, size: max - min + 1 };
  }
  if (c.kind === 'string') {
    const all = allValues(p);
    if (all === undefined) return undefined;
    const list = all.map((v) => sqlString(v.value)).join(', ');
    return { sql: `(list_position([${list}], ${c.sql}) - 1)`, size: all.length };
  }
  if (/^DATE$/i.test(c.type)) {
    const lo = timeOf(p.min);
    const hi = timeOf(p.max);
    if (typeof lo !== 'number' || typeof hi !== 'number') return undefined;
    const day = 86_400_000;
    return {
      sql: `(${c.sql} - CAST(${sqlString(String(p.min))} AS DATE))`,
      size: (hi - lo) / day + 1,
    };
  }
  return undefined;
}

/** A plain TIMESTAMP in units: the finest unit whose range fits `budget` bits. */
function timeCode(c: Column, budget: number): KeyCode | undefined {
  const p = c.profile;
  if (p === undefined || !/^(TIMESTAMP|DATETIME|TIMESTAMP_S|TIMESTAMP_MS)$/i.test(c.type))
    return undefined;
  // Whole seconds at both ends, so timeOf's milliseconds are exact; DuckDB's // truncates.
  if (String(p.min).includes('.') || String(p.max).includes('.')) return undefined;
  const lo = timeOf(p.min);
  const hi = timeOf(p.max);
  if (typeof lo !== 'number' || typeof hi !== 'number') return undefined;
  for (const unit of TIME_UNITS_US) {
    const perMs = unit / 1_000;
    const first = Math.trunc(lo / perMs);
    const size = Math.trunc(hi / perMs) - first + 1;
    if (size <= budget) return { sql: `(epoch_us(${c.sql}) // ${unit} - ${first})`, size };
  }
  return undefined;
}

function partitions(
  e: Extract<Expectation, { expect: 'partitions_not_empty' }>,
  c: Column,
  where: string,
): Plan {
  if (e.values !== undefined) {
    const values = e.values.map((v) =>
      boundLiteral(c, typeof v === 'boolean' ? String(v) : v, `${where}: 'values'`),
    );
    const expected = new Set(e.values.map(String)).size;
    return {
      decidedBy: 'scan',
      preflight: [`SELECT ${values.join(', ')}`],
      aggregates: [`count(DISTINCT ${c.sql}) FILTER (WHERE ${c.sql} IN (${values.join(', ')}))`],
      finish: async ([present], session) => {
        const found = num(present);
        const missing =
          found >= expected
            ? []
            : await session.rows<{ v: Cell }>(
                `SELECT CAST(v AS VARCHAR) AS v FROM unnest([${values.join(', ')}]) u(v) WHERE v NOT IN (SELECT ${c.sql} FROM t WHERE ${c.sql} IS NOT NULL) LIMIT ${limits.CHECK_UNEXPECTED_VALUES}`,
              );
        return {
          success: found >= expected,
          outcome: {
            observedValue: expected - found,
            details: { expectedPartitions: expected, emptyPartitions: missing.map((m) => m.v) },
          },
        };
      },
    };
  }
  if (c.kind !== 'temporal')
    throw bad(
      where,
      `'${c.name}' is ${c.type}; 'every' needs a DATE or TIMESTAMP column (or list 'values')`,
    );
  const unit = e.every!;
  const bucket = `date_trunc('${unit}', CAST(${c.sql} AS TIMESTAMP))`;
  return {
    decidedBy: 'scan',
    aggregates: [
      `count(DISTINCT ${bucket})`,
      `CAST(min(${bucket}) AS VARCHAR)`,
      `CAST(max(${bucket}) AS VARCHAR)`,
    ],
    finish: async ([distinct, low, high], session) => {
      if (typeof low !== 'string' || typeof high !== 'string')
        return { success: true, outcome: { observedValue: 0, details: { partitions: 0 } } };
      const [span] = await session.rows<{ n: Cell }>(
        `SELECT count(*) AS n FROM generate_series(TIMESTAMP ${sqlString(low)}, TIMESTAMP ${sqlString(high)}, INTERVAL 1 ${unit}) s(b)`,
      );
      const expected = num(span?.n);
      const empty = expected - num(distinct);
      const missing =
        empty <= 0
          ? []
          : await session.rows<{ b: Cell }>(
              `SELECT CAST(b AS VARCHAR) AS b FROM generate_series(TIMESTAMP ${sqlString(low)}, TIMESTAMP ${sqlString(high)}, INTERVAL 1 ${unit}) s(b) WHERE b NOT IN (SELECT DISTINCT ${bucket} FROM t WHERE ${c.sql} IS NOT NULL) ORDER BY b LIMIT ${limits.CHECK_UNEXPECTED_VALUES}`,
            );
      return {
        success: empty <= 0,
        outcome: {
          observedValue: Math.max(0, empty),
          details: {
            every: unit,
            first: low,
            last: high,
            partitions: expected,
            emptyPartitions: missing.map((m) => m.b),
          },
        },
      };
    },
  };
}

function distribution(
  e: Extract<Expectation, { expect: 'distribution' }>,
  c: Column,
  facts: CompileFacts,
  where: string,
): Plan {
  const ref = facts.references.get(e.reference)!;
  const rc = column(ref.version, e.column, `${where}: in ${e.reference}`);
  const numeric = NUMERIC.has(c.kind) || c.kind === 'temporal';
  const method = e.method ?? (numeric ? 'ks' : 'chi2');
  if (method === 'ks' && !(numeric && (NUMERIC.has(rc.kind) || rc.kind === 'temporal')))
    throw bad(
      where,
      `'${c.name}' is ${c.type}; the KS test needs numbers or times (use method: chi2 for categories)`,
    );
  const minP = e.minPValue ?? (e.maxStatistic === undefined ? 0.05 : undefined);
  const judge = (statistic: number, pValue: number, details: Record<string, unknown>): Verdict => ({
    success:
      (minP === undefined || pValue >= minP) &&
      (e.maxStatistic === undefined || statistic <= e.maxStatistic),
    outcome: {
      observedValue: { statistic, pValue },
      details: { method, reference: `${ref.version.dataset}@${ref.version.version}`, ...details },
    },
  });
  const value = (x: Column) =>
    x.kind === 'temporal' ? `epoch_ms(CAST(${x.sql} AS TIMESTAMP))` : `CAST(${x.sql} AS DOUBLE)`;
  const keep = (x: Column) => (x.kind === 'float' ? `isfinite(${x.sql})` : `${x.sql} IS NOT NULL`);
  if (method === 'ks')
    return {
      decidedBy: 'query',
      query: async (session) => {
        const [r] = await session.rows<{ d: Cell; na: Cell; nb: Cell }>(`
          WITH u AS (
            SELECT ${value(c)} AS v, 1 AS a, 0 AS b FROM t WHERE ${keep(c)}
            UNION ALL SELECT ${value(rc)}, 0, 1 FROM ${ref.view} WHERE ${keep(rc)}),
          g AS (SELECT v, sum(a) AS ca, sum(b) AS cb FROM u GROUP BY v),
          n AS (SELECT sum(ca) AS na, sum(cb) AS nb FROM g),
          f AS (SELECT sum(ca) OVER w AS fa, sum(cb) OVER w AS fb FROM g
                WINDOW w AS (ORDER BY v ROWS UNBOUNDED PRECEDING))
          SELECT max(abs(fa / na - fb / nb)) AS d, any_value(na) AS na, any_value(nb) AS nb FROM f, n`);
        const na = num(r?.na);
        const nb = num(r?.nb);
        const d = r?.d === null || r?.d === undefined ? 0 : Number(r.d);
        return judge(d, ksPValue(d, na, nb), { n: na, referenceN: nb });
      },
    };
  return {
    decidedBy: 'query',
    query: async (session) => {
      const top = limits.CHECK_CHI2_MAX_CATEGORIES;
      const cells = await session.rows<{ na: Cell; nb: Cell }>(`
        WITH a AS (SELECT CAST(${c.sql} AS VARCHAR) AS v, count(*) AS n FROM t WHERE ${c.sql} IS NOT NULL GROUP BY 1),
        b AS (SELECT CAST(${rc.sql} AS VARCHAR) AS v, count(*) AS n FROM ${ref.view} WHERE ${rc.sql} IS NOT NULL GROUP BY 1),
        j AS (SELECT coalesce(a.v, b.v) AS v, coalesce(a.n, 0) AS na, coalesce(b.n, 0) AS nb FROM a FULL JOIN b ON a.v = b.v),
        r AS (SELECT *, row_number() OVER (ORDER BY na + nb DESC, v) AS rk FROM j)
        SELECT sum(na) AS na, sum(nb) AS nb FROM r GROUP BY (CASE WHEN rk <= ${top} THEN v END)`);
      const { chi2, df, n } = homogeneity(cells.map((x) => [num(x.na), num(x.nb)]));
      const cramersV = n === 0 ? 0 : Math.sqrt(chi2 / n);
      return judge(cramersV, chiSquarePValue(chi2, df), {
        chiSquare: chi2,
        degreesOfFreedom: df,
        categories: cells.length,
      });
    },
  };
}

/** χ² test of homogeneity for a 2 × k table (each cell [countA, countB]). */
export function homogeneity(cells: [number, number][]): { chi2: number; df: number; n: number } {
  const used = cells.filter(([a, b]) => a + b > 0);
  const na = used.reduce((s, [a]) => s + a, 0);
  const nb = used.reduce((s, [, b]) => s + b, 0);
  const n = na + nb;
  if (na === 0 || nb === 0 || used.length < 2)
    return { chi2: 0, df: Math.max(0, used.length - 1), n };
  let chi2 = 0;
  for (const [a, b] of used) {
    const ea = ((a + b) * na) / n;
    const eb = ((a + b) * nb) / n;
    chi2 += (a - ea) ** 2 / ea + (b - eb) ** 2 / eb;
  }
  return { chi2, df: used.length - 1, n };
}

function schemaVerdict(e: Extract<Expectation, { expect: 'schema' }>, v: DatasetVersion): Verdict {
  const actual = v.schema;
  const byName = new Map(actual.map((c) => [c.name, c]));
  const wanted = new Set(e.columns.map((c) => c.name));
  const missing = e.columns.filter((c) => !byName.has(c.name)).map((c) => c.name);
  const unexpected = e.exact ? actual.filter((c) => !wanted.has(c.name)).map((c) => c.name) : [];
  const typeMismatches = e.columns
    .filter((c) => c.type !== undefined && byName.has(c.name))
    .filter((c) => normalType(c.type!) !== normalType(byName.get(c.name)!.type))
    .map((c) => ({ column: c.name, expected: c.type!, actual: byName.get(c.name)!.type }));
  const present = actual.filter((c) => wanted.has(c.name)).map((c) => c.name);
  const order = e.columns.map((c) => c.name).filter((n) => byName.has(n));
  const outOfOrder = e.ordered && present.join('\u0000') !== order.join('\u0000');
  return {
    success:
      missing.length === 0 && unexpected.length === 0 && typeMismatches.length === 0 && !outOfOrder,
    outcome: {
      observedValue: actual.map((c) => ({ name: c.name, type: c.type })),
      details: {
        missing,
        unexpected,
        typeMismatches,
        ...(e.ordered ? { outOfOrder } : {}),
        ...caseHints(missing, actual),
      },
    },
  };
}

/** DuckDB's type names and their common aliases, compared upper-case. */
const TYPE_ALIASES: Record<string, string> = {
  INT: 'INTEGER',
  INT4: 'INTEGER',
  INT8: 'BIGINT',
  LONG: 'BIGINT',
  INT2: 'SMALLINT',
  SHORT: 'SMALLINT',
  INT1: 'TINYINT',
  FLOAT8: 'DOUBLE',
  FLOAT4: 'FLOAT',
  REAL: 'FLOAT',
  STRING: 'VARCHAR',
  TEXT: 'VARCHAR',
  BOOL: 'BOOLEAN',
  DATETIME: 'TIMESTAMP',
  TIMESTAMPTZ: 'TIMESTAMP WITH TIME ZONE',
};

function normalType(type: string): string {
  const t = type.trim().toUpperCase().replace(/\s+/g, ' ');
  return TYPE_ALIASES[t] ?? t;
}

function caseHints(missing: string[], actual: ColumnSchema[]): { hints?: string[] } {
  const hints = missing.flatMap((m) => {
    const other = actual.find((c) => c.name.toLowerCase() === m.toLowerCase());
    return other === undefined ? [] : [`'${m}' is spelled '${other.name}' in the data`];
  });
  return hints.length === 0 ? {} : { hints };
}

function column(version: DatasetVersion, name: string, where: string): Column {
  const schema = version.schema.find((c) => c.name === name);
  if (schema === undefined) {
    const near =
      version.schema.find((c) => c.name.toLowerCase() === name.toLowerCase()) ??
      version.schema.find((c) => editDistance(c.name.toLowerCase(), name.toLowerCase()) <= 2);
    const list = version.schema.map((c) => c.name);
    throw bad(
      where,
      `column '${name}' is not in ${version.dataset}@${version.version}${
        near === undefined ? '' : ` (did you mean '${near.name}'?)`
      }; its columns are ${list.slice(0, 30).join(', ')}${list.length > 30 ? `, … (${list.length})` : ''}`,
    );
  }
  return {
    name,
    type: schema.type,
    kind: kindOf(schema.type),
    sql: sqlIdent(name),
    profile: version.profile?.columns.find((c) => c.name === name),
  };
}

/** A bound or set member as a literal of the column's type (checked by the preflight). */
function boundLiteral(c: Column, value: string | number, where: string): string {
  if (NUMERIC.has(c.kind)) {
    if (typeof value !== 'number')
      throw bad(where, `'${c.name}' is ${c.type}; give a number, not ${JSON.stringify(value)}`);
    return c.kind === 'integer' && Number.isInteger(value) ? String(value) : sqlDouble(value);
  }
  if (typeof value === 'number' && c.kind === 'temporal')
    throw bad(
      where,
      `'${c.name}' is ${c.type}; give a date or time as a string such as '2024-01-31'`,
    );
  return `CAST(${sqlString(String(value))} AS ${c.type})`;
}

function inRange(p: ColumnProfile, e: Extract<Expectation, { expect: 'between' }>): boolean {
  if ((p.nanCount ?? 0) > 0 || (p.infiniteCount ?? 0) > 0) return false;
  if (p.count === p.nullCount) return true;
  if (typeof p.min !== 'number' || typeof p.max !== 'number') return false;
  const lo = e.min;
  const hi = e.max;
  if (lo !== undefined && (typeof lo !== 'number' || (e.strictMin ? p.min <= lo : p.min < lo)))
    return false;
  if (hi !== undefined && (typeof hi !== 'number' || (e.strictMax ? p.max >= hi : p.max > hi)))
    return false;
  return true;
}

/** Every distinct value of a column with its count, when the profile lists them all whole. */
function allValues(p: ColumnProfile): { value: string; count: number }[] | undefined {
  if (!p.distinctExact || p.topValues === null || p.approxDistinct === null) return undefined;
  if (p.topValues.length !== p.approxDistinct) return undefined;
  // A value longer than PROFILE_MAX_VALUE_LENGTH is stored cut ("…"): not the value.
  const whole = p.topValues.every((v) => v.value.length <= limits.PROFILE_MAX_VALUE_LENGTH);
  return whole ? p.topValues : undefined;
}

/** Epoch ms of a profile's DATE or TIMESTAMP text, when it has that plain form. */
function timeOf(value: unknown): number | null | undefined {
  if (value === null) return null;
  if (typeof value !== 'string') return undefined;
  const m = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?))?$/.exec(value);
  if (m === null) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2] ?? '00:00:00'}Z`);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Levenshtein distance, for "did you mean" (column names are short). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row.push(
        Math.min(
          previous[j]! + 1,
          row[j - 1]! + 1,
          previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
        ),
      );
    previous = row;
  }
  return previous[b.length]!;
}

async function count(session: EngineSession, where: string): Promise<number> {
  const [r] = await session.rows<{ n: Cell }>(`SELECT count(*) AS n FROM t WHERE ${where}`);
  return num(r?.n);
}

function num(v: Cell | undefined): number {
  return v === null || v === undefined ? 0 : Number(v);
}

function bad(where: string, message: string): MobiusError {
  return new MobiusError('INVALID_ARGUMENT', `${where}: ${message}`);
}
