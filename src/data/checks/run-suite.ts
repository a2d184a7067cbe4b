/**
 * Running a suite on one version: compile every expectation (errors before any work),
 * then in ONE engine session — only if something needs the data — check the SQL
 * (preflight), run the bundled scan that carries every scan-kind aggregate, the few
 * queries of their own, and fetch failing samples for the expectations that failed.
 * No row reaches JavaScript except those samples.
 */
import { MobiusError, limits } from '../../core/index.js';
import { sqlIdent, sqlString, type Cell, type EngineSession } from '../../engine/index.js';
import type { DatasetVersion } from '../types.js';
import { compile, type CompileFacts, type Plan, type Verdict } from './compile.js';
import type { ExpectationResult } from './results.js';
import type { Suite } from './suite.js';

/** Opens one engine session that can read the given versions' Parquet copies. */
export type OpenVersions = <T>(
  versions: DatasetVersion[],
  fn: (paths: string[], session: EngineSession) => Promise<T>,
) => Promise<T>;

/** What a suite run needs. */
export interface RunSuiteInput {
  suite: Suite;
  version: DatasetVersion;
  /** Versions the suite refers to (references, distribution), by the text it wrote. */
  referenced: Map<string, DatasetVersion>;
  now: number;
  fullScan: boolean;
  open: OpenVersions;
}

/** The per-expectation results, and how many scans of the data it took. */
export async function runSuite(
  input: RunSuiteInput,
): Promise<{ results: ExpectationResult[]; scans: number }> {
  const { suite, version } = input;
  const references = new Map<string, { view: string; version: DatasetVersion }>();
  const others: DatasetVersion[] = [];
  for (const [text, v] of input.referenced) {
    references.set(text, { view: `r${others.length}`, version: v });
    others.push(v);
  }
  const facts: CompileFacts = { version, references, now: input.now, fullScan: input.fullScan };
  const plans = suite.expectations.map((e, i) => compile(e, facts, where(i, e.expect)));

  const verdicts: (Verdict | undefined)[] = plans.map((p) => p.verdict);
  const needsEngine = plans.some(
    (p, i) => p.verdict === undefined || (!p.verdict.success && plans[i]!.unexpected !== undefined),
  );
  let scans = 0;
  const samples = new Map<
    number,
    Pick<ExpectationResult['result'], 'partialUnexpectedList' | 'sampleRows'>
  >();
  if (needsEngine)
    await input.open([version, ...others], async (paths, session) => {
      await session.run(`CREATE VIEW t AS SELECT * FROM read_parquet(${sqlString(paths[0]!)})`);
      for (const [i] of others.entries())
        await session.run(
          `CREATE VIEW r${i} AS SELECT * FROM read_parquet(${sqlString(paths[i + 1]!)})`,
        );
      await preflight(session, plans, suite);

      const scanned = plans.flatMap((p, i) => (p.aggregates === undefined ? [] : [i]));
      if (scanned.length > 0) {
        const exprs = scanned.flatMap((i) => plans[i]!.aggregates!);
        const [row] = await session.rows<Record<string, Cell>>(
          `SELECT ${exprs.map((x, k) => `${x} AS a${k}`).join(', ')} FROM t`,
        );
        scans++;
        let k = 0;
        for (const i of scanned) {
          const values = plans[i]!.aggregates!.map(() => row?.[`a${k++}`] ?? null);
          verdicts[i] = await plans[i]!.finish!(values, session);
        }
      }
      for (const [i, p] of plans.entries())
        if (p.query !== undefined) {
          verdicts[i] = await p.query(session);
          scans++;
        }
      for (const [i, p] of plans.entries())
        if (
          !verdicts[i]!.success &&
          p.unexpected !== undefined &&
          (verdicts[i]!.outcome.unexpectedCount ?? 1) > 0
        )
          samples.set(i, await sample(session, version, p.unexpected));
    });

  const results = suite.expectations.map((e, i): ExpectationResult => {
    const v = verdicts[i]!;
    return {
      index: i + 1,
      expectation: e,
      success: v.success,
      severity: e.severity,
      decidedBy: plans[i]!.decidedBy,
      result: { ...v.outcome, ...samples.get(i) },
    };
  });
  return { results, scans };
}

/** Runs each plan's cheap SQL (no scan) so a bad bound or pattern names its expectation. */
async function preflight(session: EngineSession, plans: Plan[], suite: Suite): Promise<void> {
  for (const [i, p] of plans.entries())
    for (const sql of p.preflight ?? [])
      try {
        await session.rows(sql);
      } catch (error) {
        const detail =
          error instanceof Error ? error.message.replace(/^DuckDB: /, '') : String(error);
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `${where(i, suite.expectations[i]!.expect)}: ${detail}`,
          { cause: error instanceof Error ? error : undefined },
        );
      }
}

async function sample(
  session: EngineSession,
  version: DatasetVersion,
  unexpected: NonNullable<Plan['unexpected']>,
): Promise<Pick<ExpectationResult['result'], 'partialUnexpectedList' | 'sampleRows'>> {
  const others = version.schema.map((c) => c.name).filter((n) => !unexpected.columns.includes(n));
  const shown = [...unexpected.columns, ...others].slice(
    0,
    Math.max(limits.CHECK_SAMPLE_COLUMNS, unexpected.columns.length),
  );
  const raw = await session.rows<Record<string, Cell>>(
    `SELECT ${shown.map((n) => sqlIdent(n)).join(', ')} FROM t WHERE ${unexpected.where} LIMIT ${limits.CHECK_UNEXPECTED_VALUES}`,
  );
  // The engine gives 64-bit integers as strings (JSON numbers stop being exact at 2⁵³);
  // samples show the ones that fit as numbers, as users wrote them.
  const integers = new Set(version.schema.filter((c) => /INT/.test(c.type)).map((c) => c.name));
  const rows = raw.map((r) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => [
        k,
        integers.has(k) && typeof v === 'string' && Number.isSafeInteger(Number(v)) ? Number(v) : v,
      ]),
    ),
  );
  const first = unexpected.columns.length === 1 ? unexpected.columns[0]! : undefined;
  return {
    partialUnexpectedList: rows.map((r) =>
      first !== undefined
        ? (r[first] ?? null)
        : Object.fromEntries(unexpected.columns.map((c) => [c, r[c] ?? null])),
    ),
    sampleRows: rows.slice(0, limits.CHECK_SAMPLE_ROWS),
  };
}

/** How errors name an expectation: its position from 1 and its kind. */
export function where(index: number, kind: string): string {
  return `expectation ${index + 1} (${kind})`;
}
