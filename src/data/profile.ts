/**
 * Column profiles computed inside DuckDB over a version's Parquet copy: no row ever
 * reaches JavaScript, only aggregates. Per bundle of PROFILE_COLUMNS_PER_SCAN columns
 * (each statement reads only those columns of the Parquet file):
 *   1. counts, nulls, min/max/mean/stddev, quantiles (t-digest) and string lengths;
 *   2. a cardinality guess from the first rows, then exact GROUP BY counts for columns
 *      with few distinct values (exact distinct and top values), or a hash-sampled
 *      distinct count and approx_top_k candidates counted exactly for the rest;
 *   3. equal-width histograms between the min and max found in scan 1.
 * Memory is bounded whatever the row count: every aggregate is a sketch, a sample, a
 * scalar or a GROUP BY over a column guessed to have few values (which spills if not).
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
  const kinds = bundle.map((c) => kindOf(c.type));
  const ident = (i: number) => sqlIdent(bundle[i]!.name);

  // Scan 1: counts, min/max/mean/stddev, quantiles, string lengths.
  const aggregates: string[] = [];
  bundle.forEach((_column, i) => {
    const c = ident(i);
    const v = `cast(${c} as double)`;
    const kind = kinds[i]!;
    const finite = kind === 'float' ? ` filter (where isfinite(${c}))` : '';
    aggregates.push(`count(${c}) as c${i}_count`);
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
  const [row] = await session.rows(`select count(*) as n, ${aggregates.join(', ')} from ${source}`);
  const scalars: Record<string, Cell> = row ?? {};
  const rows = Number(scalars.n ?? 0);

  // Distinct values and top values. First a guess of each column's cardinality from its
  // first rows (cheap: only the first row groups are read), then per column either
  //  - few distinct values: one GROUP BY, giving the exact distinct count and exact top
  //    values at once; or
  //  - many: distinct values counted exactly within 1/M of the hash space, times M (see
  //    PROFILE_EXACT_DISTINCT_MAX), and top-value candidates from approx_top_k (a
  //    heavy-hitters sketch) counted exactly afterwards.
  // A wrong guess costs time, never correctness: both paths give the stated accuracy.
  const profiled = bundle.map((_c, i) => i).filter((i) => kinds[i] !== 'other');
  const distinct = new Map<number, { value: number; exact: boolean }>();
  const top = new Map<number, { value: string; count: number }[]>();
  if (profiled.length > 0) {
    const prefix = limits.PROFILE_CARDINALITY_PREFIX_ROWS;
    const [guess] = await session.rows(
      `select count(*) as n, ${profiled.map((i) => `count(distinct ${ident(i)}) as g${i}`).join(', ')}
       from (select ${profiled.map(ident).join(', ')} from ${source} limit ${prefix})`,
    );
    const seen = Math.max(1, Number(guess?.n ?? 0));
    const few: number[] = [];
    const many: { i: number; m: number; heavy: boolean }[] = [];
    for (const i of profiled) {
      const g = Number(guess?.[`g${i}`] ?? 0);
      // A table with fewer rows than the exact-count limit cannot have more distinct values.
      if (g * 2 <= seen || rows <= limits.PROFILE_EXACT_DISTINCT_MAX) few.push(i);
      else {
        const estimate = (g * Math.max(rows, seen)) / seen;
        let m = 1;
        while (estimate / m > limits.PROFILE_EXACT_DISTINCT_MAX) m *= 2;
        // A column whose first rows never repeat (ids, timestamps, free text) has no heavy
        // hitters worth a sketch: its top values are left out (null), saving a full scan.
        many.push({ i, m, heavy: g < seen });
      }
    }

    if (few.length > 0 && rows <= limits.PROFILE_EXACT_DISTINCT_MAX) {
      // Small tables (every wide test file): one statement, histogram() of each column
      // reduced in SQL to its size and its top entries. Statements cost more than rows here.
      const k = limits.PROFILE_TOP_VALUES;
      const [counted] = await session.rows(
        `select ${few
          .map(
            (i) =>
              `cardinality(h${i}) as d${i}, list_slice(list_sort(list_transform(map_entries(h${i}), e -> {'n': e.value, 'v': cast(e.key as varchar)}), 'DESC'), 1, ${k}) as t${i}`,
          )
          .join(
            ', ',
          )} from (select ${few.map((i) => `histogram(${ident(i)}) as h${i}`).join(', ')} from ${source})`,
      );
      for (const i of few) {
        distinct.set(i, { value: Number(counted?.[`d${i}`] ?? 0), exact: true });
        const entries = (counted?.[`t${i}`] ?? []) as { n: Cell; v: string }[];
        top.set(i, sortTop(entries.map((e) => ({ value: cut(e.v), count: Number(e.n) }))));
      }
    } else if (few.length > 0) {
      // Big tables: a GROUP BY per column, faster than histogram() at millions of rows.
      const branches = few.map(
        (i) =>
          `select ${i} as i, cast(${ident(i)} as varchar) as v, n from (select ${ident(i)}, count(*) as n from ${source} where ${ident(i)} is not null group by ${ident(i)})`,
      );
      const counted = await session.rows<{ i: number; d: string; v: string[]; n: string[] }>(
        `select i, count(*) as d, max_by(v, n, ${limits.PROFILE_TOP_VALUES}) as v, max(n, ${limits.PROFILE_TOP_VALUES}) as n
         from (${branches.join(' union all ')}) group by i`,
      );
      for (const r of counted) {
        distinct.set(r.i, { value: Number(r.d), exact: true });
        top.set(
          r.i,
          sortTop(r.v.map((value, k) => ({ value: cut(value), count: Number(r.n[k]) }))),
        );
      }
    }

    if (many.length > 0) {
      const sketch = `profile_top_${offset}`;
      await session.run(
        `create or replace temp table ${sketch} as select ${many
          .map(({ i, m, heavy }) => {
            const c = ident(i);
            const d =
              m === 1
                ? `count(distinct ${c})`
                : `count(distinct ${c}) filter (where hash(${c}) % ${m} = 0) * ${m}`;
            return heavy
              ? `${d} as d${i}, approx_top_k(${c}, ${limits.PROFILE_TOP_VALUES}) as t${i}`
              : `${d} as d${i}`;
          })
          .join(', ')} from ${source}`,
      );
      const [d] = await session.rows(
        `select ${many.map(({ i }) => `d${i}`).join(', ')} from ${sketch}`,
      );
      for (const { i, m } of many)
        distinct.set(i, { value: Number(d?.[`d${i}`] ?? 0), exact: m === 1 });
      const heavy = many.filter((x) => x.heavy);
      const branches = heavy.map(
        ({ i }) =>
          `select ${i} as i, cast(${ident(i)} as varchar) as v, count(*) as n from ${source} where ${ident(i)} in (select unnest(t${i}) from ${sketch}) group by ${ident(i)}`,
      );
      const counted =
        branches.length === 0
          ? []
          : await session.rows<{ i: number; v: string; n: string }>(branches.join(' union all '));
      for (const r of counted)
        top.set(r.i, [...(top.get(r.i) ?? []), { value: cut(r.v), count: Number(r.n) }]);
      for (const { i } of heavy) top.set(i, sortTop(top.get(i) ?? []));
      await session.run(`drop table ${sketch}`);
    }
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
      topValues: top.get(i) ?? null,
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

/** Most frequent first; ties by value, so profiles of the same data read the same. */
function sortTop(list: { value: string; count: number }[]): { value: string; count: number }[] {
  return list.sort(
    (a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0),
  );
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
