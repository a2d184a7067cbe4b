/**
 * Column profiles computed inside DuckDB over a version's Parquet copy: no row ever
 * reaches JavaScript, only aggregates. Per bundle of PROFILE_COLUMNS_PER_SCAN columns
 * (each statement reads only the columns it needs of the Parquet file), each column is
 * read about once:
 *   1. a cardinality guess from the first rows, which picks how each column is counted
 *      (see profileBundle);
 *   2. columns with few distinct values (big tables): one GROUPING SETS scan counts each
 *      one's values into a small temp table, and every statistic of those columns comes
 *      from it (counts, min/max, mean/stddev weighted by the counts, lengths, exact
 *      distinct count, top values and quantiles, histograms);
 *   3. the other columns: one scan of counts, nulls, min/max/mean/stddev, string lengths,
 *      t-digest quantiles, hash-sampled distinct counts, approx_top_k candidates and
 *      histograms (bounds from the Parquet statistics, checked against the scan's own
 *      min/max); then exact counts of the top-value candidates, and a histogram scan only
 *      for columns whose statistics did not give the bounds (NaN, ±inf).
 * Small tables keep a simpler plan: one exact scan, histogram() of each column, and a
 * histogram scan. Memory is bounded whatever the row count: every aggregate is a sketch,
 * a scalar or a GROUP BY over a column guessed to have few values (which spills if the
 * guess is wrong).
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
      ...(await profileBundle(session, source, schema.slice(start, start + step), start, rowCount)),
    );
  }
  return { rowCount, columns };
}

async function profileBundle(
  session: EngineSession,
  source: string,
  bundle: readonly ColumnSchema[],
  offset: number,
  rows: number,
): Promise<ColumnProfile[]> {
  const kinds = bundle.map((c) => kindOf(c.type));
  const ident = (i: number) => sqlIdent(bundle[i]!.name);
  const quantileList = `[${limits.PROFILE_QUANTILES.join(', ')}]`;
  const small = rows <= limits.PROFILE_EXACT_DISTINCT_MAX;

  // How each column's distinct values, top values and (numeric) quantiles are counted,
  // from a guess of its cardinality in its first rows (only the first row groups are read):
  //  - small tables: everything exact (distinct ≤ rows ≤ PROFILE_EXACT_DISTINCT_MAX);
  //  - few distinct values: one GROUP BY per column gives the exact distinct count, the
  //    exact top values and exact quantiles (from the cumulative counts of the values);
  //  - many: distinct values counted exactly within 1/M of the hash space, times M (see
  //    PROFILE_EXACT_DISTINCT_MAX), top-value candidates from approx_top_k counted exactly,
  //    quantiles from a t-digest (approx_quantile).
  // A wrong guess costs time, never accuracy: every path keeps the stated tolerances.
  const profiled = bundle.map((_c, i) => i).filter((i) => kinds[i] !== 'other');
  const few: number[] = [];
  const many: { i: number; m: number; heavy: boolean }[] = [];
  if (profiled.length > 0) {
    const [guess] = small
      ? [undefined]
      : await session.rows(
          `select count(*) as n, ${profiled.map((i) => `count(distinct ${ident(i)}) as g${i}`).join(', ')}
           from (select ${profiled.map(ident).join(', ')} from ${source} limit ${limits.PROFILE_CARDINALITY_PREFIX_ROWS})`,
        );
    const seen = Math.max(1, Number(guess?.n ?? 0));
    for (const i of profiled) {
      const g = Number(guess?.[`g${i}`] ?? 0);
      if (small || g * 2 <= seen) few.push(i);
      else {
        const estimate = (g * Math.max(rows, seen)) / seen;
        let m = 1;
        while (estimate / m > limits.PROFILE_EXACT_DISTINCT_MAX) m *= 2;
        // A column whose first rows never repeat (ids, timestamps, free text) has no heavy
        // hitters worth a sketch: its top values are left out (null), saving a full scan.
        many.push({ i, m, heavy: g < seen });
      }
    }
  }
  const sketched = new Set(many.map((x) => x.i));
  // Big tables: a column with few values is profiled from its GROUP BY alone (below), so
  // the scan of scalars reads only the other columns.
  const grouped = new Set(small ? [] : few);
  const scanned = bundle.map((_c, i) => i).filter((i) => !grouped.has(i));

  // Histogram bounds of the sketched numeric columns before their scan, so their
  // histograms come from that same scan: DuckDB answers min/max from the Parquet
  // statistics without reading the data. Only a guess: a histogram is kept only when the
  // scan's own finite min and max equal these bounds (NaN or ±inf make them differ), and
  // the column is binned in a scan of its own otherwise.
  const histograms = new Map<number, HistogramBin[]>();
  const bins = limits.PROFILE_HISTOGRAM_BINS;
  const early = new Map<number, { lo: number; hi: number }>();
  const sketchedNumeric = many.filter(({ i }) => isNumeric(kinds[i]!)).map(({ i }) => i);
  if (sketchedNumeric.length > 0) {
    const [b] = await session.rows(
      `select ${sketchedNumeric
        .map(
          (i) =>
            `cast(min(${ident(i)}) as double) as lo${i}, cast(max(${ident(i)}) as double) as hi${i}`,
        )
        .join(', ')} from ${source}`,
    );
    for (const i of sketchedNumeric) {
      const lo = num(b?.[`lo${i}`]);
      const hi = num(b?.[`hi${i}`]);
      if (lo !== null && hi !== null) early.set(i, { lo, hi });
    }
  }

  // Scan 1: counts, min/max/mean/stddev, string lengths, quantiles (t-digest when big),
  // and for the sketched columns their distinct count, top-value candidates and histogram.
  const aggregates: string[] = [];
  for (const i of scanned) {
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
      );
      if (small) aggregates.push(`quantile_cont(${v}, ${quantileList})${finite} as c${i}_q`);
      else if (sketched.has(i))
        aggregates.push(`approx_quantile(${v}, ${quantileList})${finite} as c${i}_q`);
      if (kind === 'float')
        aggregates.push(
          `count(*) filter (where isnan(${c})) as c${i}_nan`,
          `count(*) filter (where isinf(${c})) as c${i}_inf`,
        );
      const bounds = early.get(i);
      if (bounds !== undefined) aggregates.push(`${histogramOf(v, bounds, bins)} as c${i}_h`);
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
  }
  for (const { i, m, heavy } of many) {
    const c = ident(i);
    aggregates.push(
      m === 1
        ? `count(distinct ${c}) as d${i}`
        : `count(distinct ${c}) filter (where hash(${c}) % ${m} = 0) * ${m} as d${i}`,
    );
    if (heavy) aggregates.push(`approx_top_k(${c}, ${limits.PROFILE_TOP_VALUES}) as t${i}`);
  }
  const scan = `profile_scan_${offset}`;
  let scalars: Record<string, Cell> = {};
  if (aggregates.length > 0) {
    // A temp table (one row), so the exact count of the top-value candidates can read them.
    await session.run(
      `create or replace temp table ${scan} as select ${aggregates.join(', ')} from ${source}`,
    );
    [scalars = {}] = await session.rows(`select * from ${scan}`);
  }
  for (const [i, bounds] of early) {
    if (num(scalars[`c${i}_dmin`]) === bounds.lo && num(scalars[`c${i}_dmax`]) === bounds.hi)
      histograms.set(i, histogramBins(scalars[`c${i}_h`], bounds, bins));
  }

  const distinct = new Map<number, { value: number; exact: boolean }>();
  const top = new Map<number, { value: string; count: number }[]>();
  const exactQuantiles = new Map<number, Record<string, number> | null>();

  if (few.length > 0 && small) {
    // Small tables (every wide test file): one statement, histogram() of each column
    // reduced in SQL to its size and its top entries. Statements cost more than rows here.
    const k = limits.PROFILE_ALL_VALUES;
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
      const d = Number(counted?.[`d${i}`] ?? 0);
      distinct.set(i, { value: d, exact: true });
      const entries = (counted?.[`t${i}`] ?? []) as { n: Cell; v: string }[];
      top.set(
        i,
        topOf(
          d,
          entries.map((e) => ({ value: e.v, count: Number(e.n) })),
        ),
      );
    }
  } else if (few.length > 0) {
    // Big tables: one scan counts the values of every column with few of them (a GROUP BY
    // per column, as GROUPING SETS, into a temp table of (value, count) rows), and every
    // statistic of those columns comes from that table: counts, min/max, mean and stddev
    // (weighted by the counts; two passes, so no cancellation), string lengths, NaN/inf,
    // the exact distinct count and top values, exact quantiles (from the cumulative counts
    // of the values: quantile_cont's rule, linear between the values at ranks ⌊h⌋ and ⌈h⌉,
    // h = (n − 1)q) and the histograms. Nothing else reads these columns again.
    const groups = `profile_groups_${offset}`;
    const width = few.length;
    // grouping_id(g0…gw-1) of the set that groups only column j: every other bit set.
    const gid = (j: number) => 2 ** width - 1 - 2 ** (width - 1 - j);
    const names = few.map(ident);
    await session.run(
      `create or replace temp table ${groups} as
       select grouping_id(${names.join(', ')}) as gid, ${names.map((c, j) => `${c} as g${j}`).join(', ')}, count(*) as n
       from ${source} group by grouping sets (${names.map((c) => `(${c})`).join(', ')})`,
    );
    const k = limits.PROFILE_ALL_VALUES;
    const branches = few.map((i, j) => {
      const c = `g${j}`;
      const kind = kinds[i]!;
      const numeric = isNumeric(kind);
      const x = numeric
        ? `case when isfinite(cast(${c} as double)) then cast(${c} as double) end`
        : 'cast(null as double)';
      const ordered =
        kind === 'float'
          ? `case when isfinite(${c}) then ${c} end`
          : numeric || kind === 'string' || kind === 'temporal'
            ? c
            : 'null';
      return `select ${i} as i, cast(${c} as varchar) as v, ${x} as x, n,
          ${kind === 'string' ? `length(${c})` : 'cast(null as bigint)'} as len,
          ${kind === 'float' ? `isnan(${c})` : 'false'} as nan, ${kind === 'float' ? `isinf(${c})` : 'false'} as inf,
          cast(min(${ordered}) over () as varchar) as lo, cast(max(${ordered}) over () as varchar) as hi
        from ${groups} where gid = ${gid(j)} and ${c} is not null`;
    });
    const bounds = limits.PROFILE_QUANTILES.flatMap((q, j) => [
      `min(x) filter (where upto > floor((finite - 1) * ${q})) as lo${j}`,
      `min(x) filter (where upto > ceil((finite - 1) * ${q})) as hi${j}`,
    ]);
    const counted = await session.rows<Record<string, Cell>>(
      `with g as (${branches.join(' union all ')}),
       w as (select *,
               sum(case when x is not null then n else 0 end) over (partition by i order by x nulls last rows between unbounded preceding and current row) as upto,
               sum(case when x is not null then n else 0 end) over (partition by i) as finite,
               sum(x * n) over (partition by i) as total
             from g)
       select i, count(*) as d, sum(n) as count, max_by(v, n, ${k}) as v, max(n, ${k}) as n, any_value(finite) as finite,
         any_value(lo) as min, any_value(hi) as max, min(x) as dmin, max(x) as dmax,
         any_value(total) / any_value(finite) as mean,
         case when any_value(finite) > 1 then sqrt(sum(n * (x - total / finite) * (x - total / finite)) / (any_value(finite) - 1)) end as stddev,
         coalesce(sum(n) filter (where nan), 0) as nan, coalesce(sum(n) filter (where inf), 0) as inf,
         min(len) as minlen, max(len) as maxlen, sum(len * n) / sum(n) as meanlen,
         ${bounds.join(', ')}
       from w group by i`,
    );
    for (const r of counted) {
      const i = Number(r.i);
      const values = (r.v ?? []) as string[];
      const counts = (r.n ?? []) as Cell[];
      distinct.set(i, { value: Number(r.d), exact: true });
      top.set(
        i,
        topOf(
          Number(r.d),
          values.map((value, j) => ({ value, count: Number(counts[j]) })),
        ),
      );
      for (const stat of ['count', 'min', 'max', 'dmin', 'dmax', 'mean', 'stddev', 'nan', 'inf'])
        scalars[`c${i}_${stat}`] = r[stat] ?? null;
      if (kinds[i] === 'string')
        for (const stat of ['minlen', 'maxlen', 'meanlen'])
          scalars[`c${i}_${stat}`] = r[stat] ?? null;
      const finite = Number(r.finite ?? 0);
      if (isNumeric(kinds[i]!) && finite > 0) {
        const out: Record<string, number> = {};
        limits.PROFILE_QUANTILES.forEach((q, j) => {
          const lo = num(r[`lo${j}`]);
          const hi = num(r[`hi${j}`]);
          const h = (finite - 1) * q;
          if (lo !== null && hi !== null) out[String(q)] = lo + (h - Math.floor(h)) * (hi - lo);
        });
        exactQuantiles.set(i, out);
      }
    }
    // Their histograms, from the (value, count) rows, binned as below.
    const binnedGroups = few
      .map((i, j) => ({ i, j, lo: num(scalars[`c${i}_dmin`]), hi: num(scalars[`c${i}_dmax`]) }))
      .filter(
        (b): b is { i: number; j: number; lo: number; hi: number } =>
          isNumeric(kinds[b.i]!) && b.lo !== null && b.hi !== null,
      );
    if (binnedGroups.length > 0) {
      const rows = await session.rows<{ i: number; h: Cell }>(
        binnedGroups
          .map(({ i, j, lo, hi }) => {
            const v = `cast(g${j} as double)`;
            return `select ${i} as i, map_from_entries(list({'k': b, 'v': n})) as h from (select ${binIndex(v, { lo, hi }, bins)} as b, sum(n) as n from ${groups} where gid = ${gid(j)} and isfinite(${v}) group by b)`;
          })
          .join(' union all '),
      );
      const byColumn = new Map(rows.map((r) => [Number(r.i), r.h]));
      for (const { i, lo, hi } of binnedGroups)
        histograms.set(i, histogramBins(byColumn.get(i), { lo, hi }, bins));
    }
    await session.run(`drop table ${groups}`);
  }

  if (many.length > 0) {
    for (const { i, m } of many)
      distinct.set(i, { value: Number(scalars[`d${i}`] ?? 0), exact: m === 1 });
    const heavy = many.filter((x) => x.heavy);
    const branches = heavy.map(
      ({ i }) =>
        `select ${i} as i, cast(${ident(i)} as varchar) as v, count(*) as n from ${source} where ${ident(i)} in (select unnest(t${i}) from ${scan}) group by ${ident(i)}`,
    );
    const counted =
      branches.length === 0
        ? []
        : await session.rows<{ i: number; v: string; n: string }>(branches.join(' union all '));
    for (const r of counted)
      top.set(r.i, [...(top.get(r.i) ?? []), { value: cut(r.v), count: Number(r.n) }]);
    for (const { i } of heavy) top.set(i, sortTop(top.get(i) ?? []));
  }
  if (aggregates.length > 0) await session.run(`drop table ${scan}`);

  // Histograms not made above (small tables; sketched columns whose bounds the Parquet
  // statistics did not give): bin edges from the min and max of scan 1, as literals.
  const binned = bundle
    .map((_c, i) => ({ i, lo: num(scalars[`c${i}_dmin`]), hi: num(scalars[`c${i}_dmax`]) }))
    .filter(
      (b): b is { i: number; lo: number; hi: number } =>
        isNumeric(kinds[b.i]!) && b.lo !== null && b.hi !== null && !histograms.has(b.i),
    );
  if (binned.length > 0) {
    const parts = binned.map(
      ({ i, lo, hi }) =>
        `${histogramOf(`cast(${sqlIdent(bundle[i]!.name)} as double)`, { lo, hi }, bins)} as h${i}`,
    );
    const [h] = await session.rows(`select ${parts.join(', ')} from ${source}`);
    for (const { i, lo, hi } of binned)
      histograms.set(i, histogramBins(h?.[`h${i}`], { lo, hi }, bins));
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
      quantiles: exactQuantiles.has(i) ? exactQuantiles.get(i)! : quantiles(get('q')),
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

/**
 * numpy's binning of `v` (a DOUBLE expression) into `bins` equal-width bins over
 * [lo, hi]: index = floor((x - lo) * (bins / (hi - lo))), the max put in the last bin.
 */
function binIndex(v: string, { lo, hi }: { lo: number; hi: number }, bins: number): string {
  return hi > lo
    ? `least(floor((${v} - ${sqlDouble(lo)}) * ${sqlDouble(bins / (hi - lo))})::integer, ${bins - 1})`
    : '0';
}

/**
 * The histogram() aggregate of `v`'s finite values, binned by binIndex. CASE as well as
 * FILTER: DuckDB computes an aggregate's input before filtering, and casting ±inf to an
 * integer fails.
 */
function histogramOf(v: string, bounds: { lo: number; hi: number }, bins: number): string {
  return `histogram(case when isfinite(${v}) then ${binIndex(v, bounds, bins)} end) filter (where isfinite(${v}))`;
}

/** The bins of a histogram() result (a map of bin index to count), empty bins included. */
function histogramBins(
  cell: Cell | undefined,
  { lo, hi }: { lo: number; hi: number },
  bins: number,
): HistogramBin[] {
  const counts = new Map(
    ((cell ?? []) as { key: Cell; value: Cell }[]).map((e) => [Number(e.key), Number(e.value)]),
  );
  const n = hi > lo ? bins : 1;
  const width = (hi - lo) / n;
  return Array.from({ length: n }, (_x, b) => ({
    lo: lo + b * width,
    hi: b === n - 1 ? hi : lo + (b + 1) * width,
    count: counts.get(b) ?? 0,
  }));
}

/** Most frequent first; ties by value, so profiles of the same data read the same. */
/**
 * The top values of a column whose `distinct` values were counted exactly from its most
 * frequent PROFILE_ALL_VALUES: all of them when that is every value, else the first
 * PROFILE_TOP_VALUES.
 */
function topOf(
  distinct: number,
  list: { value: string; count: number }[],
): { value: string; count: number }[] {
  const sorted = sortTop(list.map((v) => ({ value: cut(v.value), count: v.count })));
  return distinct <= limits.PROFILE_ALL_VALUES
    ? sorted
    : sorted.slice(0, limits.PROFILE_TOP_VALUES);
}

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
