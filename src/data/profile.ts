/**
 * Column profiles computed inside DuckDB over a version's Parquet copy: no row ever
 * reaches JavaScript, only one row of aggregates per bundle of columns. Three scans per
 * bundle of PROFILE_COLUMNS_PER_SCAN columns, each reading only those columns:
 *   1. counts, nulls, a HyperLogLog guess of distinct values, min/max/mean/stddev, approx
 *      quantiles (t-digest), string lengths, and approx_top_k candidates — kept in a
 *      temp table so they never leave DuckDB;
 *   2. exact counts of those candidates (the top values), one histogram() each;
 *   3. distinct values: exact, or sampled by hash when there are many (see
 *      PROFILE_EXACT_DISTINCT_MAX for why and how accurate);
 *   4. equal-width histograms between the min and max found in scan 1.
 * Memory is bounded whatever the row count: every aggregate is a sketch or a scalar.
 */
import { limits } from '../core/index.js';
import { sqlDouble, sqlIdent, type Cell, type EngineSession } from '../engine/index.js';
import type { ColumnProfile, ColumnSchema, HistogramBin, Profile, ProfileValue } from './types.js';

type Kind = ColumnProfile['kind'];

/** The profile kind of a DuckDB type. */
export function kindOf(type: string): Kind {
  if (/^U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)$/.test(type)) return 'integer';
  if (type === 'FLOAT' || type === 'DOUBLE') return 'float';
  if (type.startsWith('DECIMAL')) return 'decimal';
  if (type === 'VARCHAR') return 'string';
  if (type === 'BOOLEAN') return 'boolean';
  if (/^(DATE|TIME|TIMESTAMP)( |_|$)/.test(type) || type.startsWith('TIMESTAMP')) return 'temporal';
  return 'other';
}

const isNumeric = (k: Kind) => k === 'integer' || k === 'float' || k === 'decimal';

/** Profiles every column of the Parquet file read by `source` (a read_parquet call). */
export async function profileTable(
  session: EngineSession,
  source: string,
  schema: readonly ColumnSchema[],
  rowCount: number,
): Promise<Profile> {
  const columns: ColumnProfile[] = [];
  const step = limits.PROFILE_COLUMNS_PER_SCAN;
  for (let start = 0; start < schema.length; start += step) {
    columns.push(
      ...(await profileBundle(session, source, schema.slice(start, start + step), start)),
    );
  }
  return { rowCount, columns };
}

async function profileBundle(
  session: EngineSession,
  source: string,
  bundle: readonly ColumnSchema[],
  offset: number,
): Promise<ColumnProfile[]> {
  const stats = `profile_${offset}`;
  const kinds = bundle.map((c) => kindOf(c.type));
  const aggregates: string[] = [];
  const topped: number[] = [];
  bundle.forEach((column, i) => {
    const c = sqlIdent(column.name);
    const v = `cast(${c} as double)`;
    const kind = kinds[i]!;
    const finite = kind === 'float' ? ` filter (where isfinite(${c}))` : '';
    aggregates.push(`count(${c}) as c${i}_count`);
    if (kind !== 'other') {
      aggregates.push(`approx_count_distinct(${c}) as c${i}_distinct`);
      aggregates.push(`approx_top_k(${c}, ${limits.PROFILE_TOP_VALUES}) as c${i}_top`);
      topped.push(i);
    }
    if (isNumeric(kind)) {
      aggregates.push(
        `cast(min(${c})${finite} as varchar) as c${i}_min`,
        `cast(max(${c})${finite} as varchar) as c${i}_max`,
        `min(${v})${finite} as c${i}_dmin`,
        `max(${v})${finite} as c${i}_dmax`,
        `avg(${v})${finite} as c${i}_mean`,
        `stddev_samp(${v})${finite} as c${i}_stddev`,
        `approx_quantile(${v}, [${limits.PROFILE_QUANTILES.join(', ')}])${finite} as c${i}_q`,
      );
      if (kind === 'float')
        aggregates.push(
          `count(*) filter (where isnan(${c})) as c${i}_nan`,
          `count(*) filter (where isinf(${c})) as c${i}_inf`,
        );
    } else if (kind === 'string' || kind === 'temporal') {
      aggregates.push(
        `cast(min(${c}) as varchar) as c${i}_min`,
        `cast(max(${c}) as varchar) as c${i}_max`,
      );
      if (kind === 'string')
        aggregates.push(
          `min(length(${c})) as c${i}_minlen`,
          `max(length(${c})) as c${i}_maxlen`,
          `avg(length(${c})) as c${i}_meanlen`,
        );
    }
  });
  await session.run(
    `create or replace temp table ${stats} as select count(*) as n, ${aggregates.join(', ')} from ${source}`,
  );
  const [row] = await session.rows(
    `select * exclude (${topped.length === 0 ? 'n' : topped.map((i) => `c${i}_top`).join(', ')}) from ${stats}`,
  );
  const scalars: Record<string, Cell> = row ?? {};
  const rows = Number(scalars.n ?? 0);

  // Exact counts of the candidates, all columns of the bundle in one scan: each column's
  // histogram() over just its candidate values (at most PROFILE_TOP_VALUES keys).
  const top = new Map<number, { value: string; count: number }[]>();
  if (topped.length > 0) {
    const [counted] = await session.rows(
      `select ${topped
        .map((i) => {
          const c = sqlIdent(bundle[i]!.name);
          return `histogram(cast(${c} as varchar)) filter (where list_contains((select c${i}_top from ${stats}), ${c})) as t${i}`;
        })
        .join(', ')} from ${source}`,
    );
    for (const i of topped) {
      const entries = ((counted?.[`t${i}`] ?? []) as { key: string; value: Cell }[]).map((e) => ({
        value: cut(e.key),
        count: Number(e.value),
      }));
      entries.sort(
        (a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0),
      );
      top.set(i, entries);
    }
  }

  // Distinct counts: exact, or exact within a 1/M slice of the hash space times M.
  const distinct = new Map<number, { value: number; exact: boolean }>();
  if (topped.length > 0) {
    const target = limits.PROFILE_EXACT_DISTINCT_MAX;
    const slices = topped.map((i) => {
      const guess = Number(scalars[`c${i}_distinct`] ?? 0);
      let m = 1;
      while (guess / m > target) m *= 2;
      return { i, m };
    });
    const [d] = await session.rows(
      `select ${slices
        .map(({ i, m }) => {
          const c = sqlIdent(bundle[i]!.name);
          return m === 1
            ? `count(distinct ${c}) as d${i}`
            : `count(distinct ${c}) filter (where hash(${c}) % ${m} = 0) * ${m} as d${i}`;
        })
        .join(', ')} from ${source}`,
    );
    for (const { i, m } of slices)
      distinct.set(i, { value: Number(d?.[`d${i}`] ?? 0), exact: m === 1 });
  }

  // Histograms: bin edges from the min and max of scan 1, as literals (numpy's binning:
  // index = floor((x - lo) * (bins / (hi - lo))), the max put in the last bin).
  const histograms = new Map<number, HistogramBin[]>();
  const binned = bundle
    .map((_c, i) => ({ i, lo: num(scalars[`c${i}_dmin`]), hi: num(scalars[`c${i}_dmax`]) }))
    .filter(
      (b): b is { i: number; lo: number; hi: number } =>
        isNumeric(kinds[b.i]!) && b.lo !== null && b.hi !== null,
    );
  if (binned.length > 0) {
    const bins = limits.PROFILE_HISTOGRAM_BINS;
    const parts = binned.map(({ i, lo, hi }) => {
      const v = `cast(${sqlIdent(bundle[i]!.name)} as double)`;
      const index =
        hi > lo
          ? `least(floor((${v} - ${sqlDouble(lo)}) * ${sqlDouble(bins / (hi - lo))})::integer, ${bins - 1})`
          : '0';
      // CASE as well as FILTER: DuckDB computes an aggregate's input before filtering, and
      // casting ±inf to an integer fails.
      return `histogram(case when isfinite(${v}) then ${index} end) filter (where isfinite(${v})) as h${i}`;
    });
    const [h] = await session.rows(`select ${parts.join(', ')} from ${source}`);
    for (const { i, lo, hi } of binned) {
      const counts = new Map(
        ((h?.[`h${i}`] ?? []) as { key: Cell; value: Cell }[]).map((e) => [
          Number(e.key),
          Number(e.value),
        ]),
      );
      const n = hi > lo ? bins : 1;
      const width = (hi - lo) / n;
      histograms.set(
        i,
        Array.from({ length: n }, (_x, b) => ({
          lo: lo + b * width,
          hi: b === n - 1 ? hi : lo + (b + 1) * width,
          count: counts.get(b) ?? 0,
        })),
      );
    }
  }
  await session.run(`drop table ${stats}`);

  return bundle.map((column, i) => {
    const kind = kinds[i]!;
    const get = (stat: string) => scalars[`c${i}_${stat}`];
    const count = Number(get('count') ?? 0);
    const profile: ColumnProfile = {
      name: column.name,
      type: column.type,
      kind,
      count,
      nullCount: rows - count,
      approxDistinct: kind === 'other' ? null : Math.min(count, distinct.get(i)?.value ?? 0),
      distinctExact: kind === 'other' ? false : (distinct.get(i)?.exact ?? false),
      min: value(get('min'), kind),
      max: value(get('max'), kind),
      mean: num(get('mean')),
      stddev: num(get('stddev')),
      quantiles: quantiles(get('q')),
      histogram: histograms.get(i) ?? null,
      topValues: kind === 'other' ? null : (top.get(i) ?? []),
    };
    if (kind === 'float') {
      profile.nanCount = Number(get('nan') ?? 0);
      profile.infiniteCount = Number(get('inf') ?? 0);
    }
    if (kind === 'string') {
      profile.minLength = num(get('minlen'));
      profile.maxLength = num(get('maxlen'));
      profile.meanLength = num(get('meanlen'));
    }
    return profile;
  });
}

function num(cell: Cell | undefined): number | null {
  if (cell === null || cell === undefined) return null;
  const n = Number(cell);
  return Number.isFinite(n) ? n : null;
}

/** Min and max as profiles keep them: exact numbers when JSON can hold them, else text. */
function value(cell: Cell | undefined, kind: Kind): ProfileValue {
  if (cell === null || cell === undefined) return null;
  // Min and max are cast to VARCHAR in SQL; a string is all that arrives here.
  const text = typeof cell === 'string' ? cell : JSON.stringify(cell);
  if (kind === 'integer') {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : text;
  }
  if (kind === 'float' || kind === 'decimal') return Number(text);
  return cut(text);
}

function quantiles(cell: Cell | undefined): Record<string, number> | null {
  if (!Array.isArray(cell)) return null;
  const out: Record<string, number> = {};
  limits.PROFILE_QUANTILES.forEach((q, i) => {
    const v = num(cell[i]);
    if (v !== null) out[String(q)] = v;
  });
  return Object.keys(out).length === 0 ? null : out;
}

function cut(text: string): string {
  return text.length > limits.PROFILE_MAX_VALUE_LENGTH
    ? `${text.slice(0, limits.PROFILE_MAX_VALUE_LENGTH)}…`
    : text;
}
