/**
 * Comparing two dataset versions. Schema, row count and per-column statistics come from
 * the stored schemas and profiles (no scan). The row-level diff (`key` given) joins the
 * two Parquet copies on the key inside DuckDB: counts of added, removed and changed rows
 * (and per column), plus a few sample rows of each kind — the only rows that reach
 * JavaScript. The join spills to disk past the engine's memory limit.
 */
import { MobiusError, limits } from '../core/index.js';
import type { BlobStore } from '../blobs/index.js';
import {
  sqlIdent,
  sqlString,
  type Cell,
  type Engine,
  type EngineSession,
} from '../engine/index.js';
import { withParquetFiles } from './parquet-files.js';
import type { ColumnProfile, ColumnSchema, DatasetVersion, ProfileValue } from './types.js';

/** Options of a diff. */
export interface DiffOptions {
  /** Columns that identify a row in both versions; turns on the row-level diff. */
  key?: string[];
}

/** A version as a diff names it. */
export interface DiffSide {
  dataset: string;
  version: number;
  contentHash: string;
}

/** One statistic of one column that differs between the versions. */
export interface StatChange {
  stat: string;
  from: ProfileValue;
  to: ProfileValue;
  /** to − from, for numbers. */
  change?: number;
}

/** A changed row: its key and the columns that differ (values as text). */
export interface ChangedRow {
  key: Record<string, Cell>;
  changes: { column: string; from: string | null; to: string | null }[];
}

/** What the row-level diff found. */
export interface RowDiff {
  key: string[];
  added: number;
  removed: number;
  changed: number;
  unchanged: number;
  /** Column → rows (present in both) whose value in it changed; only columns in both versions. */
  changedByColumn: Record<string, number>;
  samples: {
    added: Record<string, Cell>[];
    removed: Record<string, Cell>[];
    changed: ChangedRow[];
  };
}

/** Everything `data diff` reports. */
export interface DatasetDiff {
  from: DiffSide;
  to: DiffSide;
  sameContent: boolean;
  schema: {
    added: ColumnSchema[];
    removed: ColumnSchema[];
    typeChanged: { name: string; from: string; to: string }[];
    /** Same columns, different order. */
    reordered: boolean;
  };
  rowCount: { from: number; to: number; change: number };
  /** Columns present in both whose statistics differ. */
  columns: { name: string; changes: StatChange[] }[];
  rows: RowDiff | null;
}

const side = (v: DatasetVersion): DiffSide => ({
  dataset: v.dataset,
  version: v.version,
  contentHash: v.contentHash,
});

/** Compares `a` (before) with `b` (after). */
export async function diffVersions(
  a: DatasetVersion,
  b: DatasetVersion,
  options: DiffOptions,
  engine: Engine,
  blobs: BlobStore,
): Promise<DatasetDiff> {
  const byName = (schema: ColumnSchema[]) => new Map(schema.map((c) => [c.name, c]));
  const aCols = byName(a.schema);
  const bCols = byName(b.schema);
  const common = a.schema.filter((c) => bCols.has(c.name)).map((c) => c.name);
  const schema = {
    added: b.schema.filter((c) => !aCols.has(c.name)),
    removed: a.schema.filter((c) => !bCols.has(c.name)),
    typeChanged: common
      .filter((n) => aCols.get(n)!.type !== bCols.get(n)!.type)
      .map((n) => ({ name: n, from: aCols.get(n)!.type, to: bCols.get(n)!.type })),
    reordered:
      common.join('\u0000') !==
      b.schema
        .filter((c) => aCols.has(c.name))
        .map((c) => c.name)
        .join('\u0000'),
  };
  const sameContent = a.contentHash === b.contentHash;
  const columns = sameContent ? [] : statChanges(a, b, common);
  let rows: RowDiff | null = null;
  if (options.key !== undefined && options.key.length > 0)
    rows = await rowDiff(a, b, options.key, common, engine, blobs);
  return {
    from: side(a),
    to: side(b),
    sameContent,
    schema,
    rowCount: { from: a.rowCount, to: b.rowCount, change: b.rowCount - a.rowCount },
    columns,
    rows,
  };
}

const STATS = ['nullCount', 'approxDistinct', 'min', 'max', 'mean', 'stddev'] as const;

function statChanges(a: DatasetVersion, b: DatasetVersion, common: string[]) {
  const profiles = (v: DatasetVersion) =>
    new Map((v.profile?.columns ?? []).map((c) => [c.name, c] as [string, ColumnProfile]));
  const pa = profiles(a);
  const pb = profiles(b);
  const out: { name: string; changes: StatChange[] }[] = [];
  for (const name of common) {
    const x = pa.get(name);
    const y = pb.get(name);
    if (x === undefined || y === undefined) continue;
    const changes: StatChange[] = [];
    const compare = (stat: string, from: ProfileValue, to: ProfileValue) => {
      if (from === to) return;
      const change: StatChange = { stat, from, to };
      if (typeof from === 'number' && typeof to === 'number') {
        if (Math.abs(to - from) <= 1e-12 * Math.max(Math.abs(from), Math.abs(to))) return;
        change.change = to - from;
      }
      changes.push(change);
    };
    for (const stat of STATS) compare(stat, x[stat], y[stat]);
    for (const q of Object.keys({ ...x.quantiles, ...y.quantiles }))
      compare(`quantile ${q}`, x.quantiles?.[q] ?? null, y.quantiles?.[q] ?? null);
    if (changes.length > 0) out.push({ name, changes });
  }
  return out;
}

async function rowDiff(
  a: DatasetVersion,
  b: DatasetVersion,
  key: string[],
  common: string[],
  engine: Engine,
  blobs: BlobStore,
): Promise<RowDiff> {
  if (key.length > limits.MAX_DIFF_KEY_COLUMNS)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `a key of ${key.length} columns; the limit is ${limits.MAX_DIFF_KEY_COLUMNS}`,
    );
  for (const v of [a, b]) {
    const names = new Set(v.schema.map((c) => c.name));
    const missing = key.filter((k) => !names.has(k));
    if (missing.length > 0)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `key column ${missing.map((m) => `'${m}'`).join(', ')} is not in ${v.dataset}@${v.version} (columns: ${v.schema
          .slice(0, 20)
          .map((c) => c.name)
          .join(', ')}${v.schema.length > 20 ? ', …' : ''})`,
      );
    if (v.parquet === null)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${v.dataset}@${v.version} has no Parquet copy to compare rows of`,
      );
  }
  return await withParquetFiles(blobs, engine, [a, b], ([pathA, pathB], session) =>
    joinVersions(session, a, b, [pathA!, pathB!], key, common),
  );
}

async function joinVersions(
  session: EngineSession,
  a: DatasetVersion,
  b: DatasetVersion,
  [pathA, pathB]: readonly [string, string],
  key: string[],
  common: string[],
): Promise<RowDiff> {
  const A = `read_parquet(${sqlString(pathA)})`;
  const B = `read_parquet(${sqlString(pathB)})`;
  const typeA = new Map(a.schema.map((c) => [c.name, c.type]));
  const typeB = new Map(b.schema.map((c) => [c.name, c.type]));
  // Same type: compare values; different types: compare their text.
  const pair = (c: string) => {
    const q = sqlIdent(c);
    return typeA.get(c) === typeB.get(c)
      ? [`a.${q}`, `b.${q}`]
      : [`cast(a.${q} as varchar)`, `cast(b.${q} as varchar)`];
  };
  const on = key.map((k) => pair(k).join(' = ')).join(' and ');

  for (const [v, source] of [
    [a, A],
    [b, B],
  ] as const) {
    const keys = key.map((k) => sqlIdent(k)).join(', ');
    const [check] = await session.rows<{ n: string; distinct_keys: string; null_keys: string }>(
      `select count(*) as n, count(distinct (${keys})) as distinct_keys,
              count(*) filter (where ${key.map((k) => `${sqlIdent(k)} is null`).join(' or ')}) as null_keys
       from ${source}`,
    );
    const nulls = Number(check?.null_keys ?? 0);
    const duplicates = Number(check?.n ?? 0) - Number(check?.distinct_keys ?? 0);
    if (nulls > 0 || duplicates > 0)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `key (${key.join(', ')}) does not identify rows of ${v.dataset}@${v.version}: ${nulls > 0 ? `${nulls} rows have a null key` : ''}${nulls > 0 && duplicates > 0 ? ', ' : ''}${duplicates > 0 ? `${duplicates} rows repeat a key` : ''}; choose columns that are unique and never null`,
      );
  }

  const compared = common.filter((c) => !key.includes(c));
  const differs = compared.map((c) => pair(c).join(' is distinct from '));
  const both = 'a.__mobius_a and b.__mobius_b';
  const anyDiffers = differs.length === 0 ? 'false' : differs.map((d) => `(${d})`).join(' or ');
  const joined = `(select *, true as __mobius_a from ${A}) a full outer join (select *, true as __mobius_b from ${B}) b on ${on}`;
  const [counts] = await session.rows<Record<string, string>>(
    `select count(*) filter (where b.__mobius_b is null) as removed,
            count(*) filter (where a.__mobius_a is null) as added,
            count(*) filter (where ${both} and (${anyDiffers})) as changed,
            count(*) filter (where ${both}) as matched
            ${compared.map((_c, i) => `, count(*) filter (where ${both} and (${differs[i]})) as d${i}`).join('')}
     from ${joined}`,
  );
  const n = (k: string) => Number(counts?.[k] ?? 0);
  const changedByColumn: Record<string, number> = {};
  compared.forEach((c, i) => {
    if (n(`d${i}`) > 0) changedByColumn[c] = n(`d${i}`);
  });

  const limit = limits.DIFF_SAMPLE_ROWS;
  const added = await session.rows(
    `select b.* from ${B} b anti join ${A} a on ${on} order by ${key.map((k) => `b.${sqlIdent(k)}`).join(', ')} limit ${limit}`,
  );
  const removed = await session.rows(
    `select a.* from ${A} a anti join ${B} b on ${on} order by ${key.map((k) => `a.${sqlIdent(k)}`).join(', ')} limit ${limit}`,
  );
  let changed: ChangedRow[] = [];
  if (compared.length > 0 && n('changed') > 0) {
    const entries = compared.map((c) => {
      const [x, y] = [`a.${sqlIdent(c)}`, `b.${sqlIdent(c)}`];
      return `{'column': ${sqlString(c)}, 'from': cast(${x} as varchar), 'to': cast(${y} as varchar), 'differs': ${pair(c).join(' is distinct from ')}}`;
    });
    const rows = await session.rows<{ key: Record<string, Cell>; changes: ChangedRow['changes'] }>(
      `select {${key.map((k) => `${sqlString(k)}: a.${sqlIdent(k)}`).join(', ')}} as key,
              list_transform(list_filter([${entries.join(', ')}], __mobius_e -> __mobius_e.differs), __mobius_e -> {'column': __mobius_e.column, 'from': __mobius_e.from, 'to': __mobius_e.to}) as changes
       from ${A} a join ${B} b on ${on}
       where ${anyDiffers}
       order by ${key.map((k) => `a.${sqlIdent(k)}`).join(', ')} limit ${limit}`,
    );
    changed = rows.map((r) => ({ key: r.key, changes: r.changes }));
  }
  return {
    key,
    added: n('added'),
    removed: n('removed'),
    changed: n('changed'),
    unchanged: n('matched') - n('changed'),
    changedByColumn,
    samples: { added, removed, changed },
  };
}
