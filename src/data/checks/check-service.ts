/**
 * Data checks: run an expectation suite on a dataset version as a quality gate, store the
 * result with its metrics and lineage, compare the metrics with the dataset's history, and
 * suggest a first suite. Shells (CLI, HTTP) and pipelines' check steps call only this.
 */
import { readFile } from 'node:fs/promises';
import { MobiusError, newId, type Clock } from '../../core/index.js';
import type { BlobStore } from '../../blobs/index.js';
import type { Engine } from '../../engine/index.js';
import type { Store } from '../../store/index.js';
import type { DataService } from '../data-service.js';
import { withParquetFiles } from '../parquet-files.js';
import type { DatasetVersion } from '../types.js';
import { findAnomalies, versionMetrics } from './anomalies.js';
import type {
  Anomaly,
  CheckRun,
  CheckRunSummary,
  CheckStatistics,
  ExpectationResult,
  GateStatus,
} from './results.js';
import { runSuite, where } from './run-suite.js';
import { suggestSuite } from './suggest.js';
import { parseSuite, suiteHash, type Suite, type SuiteInput } from './suite.js';
import { limits } from '../../core/index.js';

/** Options of one check run. */
export interface GateOptions {
  /** The tracking run this check belongs to (a pipeline's check step): recorded and linked. */
  runId?: string;
  /** Measure every expectation on the data instead of deciding from the stored profile. */
  fullScan?: boolean;
}

/** The gate's verdict of a result set: see GateStatus. */
export function gateStatus(
  results: readonly ExpectationResult[],
  anomalies: readonly Anomaly[],
): GateStatus {
  if (results.some((r) => !r.success && r.severity === 'error')) return 'fail';
  if (results.some((r) => !r.success) || anomalies.length > 0) return 'warn';
  return 'pass';
}

export class CheckService {
  constructor(
    private readonly store: Store,
    private readonly data: DataService,
    private readonly blobs: BlobStore,
    private readonly engine: Engine,
    private readonly clock: Clock,
  ) {}

  /** Reads and validates a suite file (YAML, or JSON, which is YAML). */
  async loadSuite(path: string): Promise<Suite> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `cannot read the suite file '${path}': ${(error as Error).message}`,
        {
          cause: error as Error,
        },
      );
    }
    return parseSuite(text, `suite file '${path}'`);
  }

  /**
   * Runs `suite` on the version `ref` (`orders@3`, `orders@prod`…) and stores the result:
   * `fail` when an error-severity expectation failed, `warn` for warn-severity failures or
   * history anomalies, else `pass`.
   *
   * @example
   * const run = await ctx.checks.gate('orders@latest', 'expectations:\n  - { expect: unique, column: id }');
   * if (run.status === 'fail') throw new Error('bad data');
   */
  async gate(
    ref: string,
    suiteInput: Suite | SuiteInput | string,
    options: GateOptions = {},
  ): Promise<CheckRun> {
    const suite = parseSuite(suiteInput);
    const started = performance.now();
    if (options.runId !== undefined) await this.#checkRun(options.runId);
    const version = await this.data.get(ref);
    const referenced = new Map<string, DatasetVersion>();
    for (const [i, e] of suite.expectations.entries()) {
      const text =
        e.expect === 'references'
          ? e.dataset
          : e.expect === 'distribution'
            ? e.reference
            : undefined;
      if (text === undefined || referenced.has(text)) continue;
      try {
        referenced.set(text, await this.data.get(text));
      } catch (error) {
        const e2 = error as MobiusError;
        throw new MobiusError(
          e2.code ?? 'INVALID_ARGUMENT',
          `${where(i, e.expect)}: ${e2.message}`,
          { cause: e2 },
        );
      }
    }
    const { results, scans } = await runSuite({
      suite,
      version,
      referenced,
      now: this.clock.now(),
      fullScan: options.fullScan ?? false,
      open: (versions, fn) => withParquetFiles(this.blobs, this.engine, versions, fn),
    });

    const datasetId = await this.#datasetId(version.dataset);
    const metrics = versionMetrics(version);
    const anomalies = findAnomalies(
      metrics,
      await this.#history(datasetId, version.version, [...metrics.keys()]),
    );
    const successful = results.filter((r) => r.success).length;
    const statistics: CheckStatistics = {
      evaluatedExpectations: results.length,
      successfulExpectations: successful,
      unsuccessfulExpectations: results.length - successful,
      successPercent: results.length === 0 ? 100 : (successful / results.length) * 100,
    };
    const run: CheckRun = {
      id: newId(),
      dataset: version.dataset,
      version: version.version,
      versionId: version.id,
      suite: { name: suite.name, hash: suiteHash(suite) },
      status: gateStatus(results, anomalies),
      success: successful === results.length,
      statistics,
      results,
      anomalies,
      scans,
      runId: options.runId ?? null,
      createdAt: this.clock.now(),
      durationMs: performance.now() - started,
    };
    await this.#save(run, datasetId, suite, metrics);
    return run;
  }

  /** A stored check run, whole. */
  async get(id: string): Promise<CheckRun> {
    const row = await this.store.db
      .selectFrom('check_run as c')
      .innerJoin('dataset as d', 'd.id', 'c.dataset_id')
      .selectAll('c')
      .select('d.name as dataset')
      .where('c.id', '=', id)
      .executeTakeFirst();
    if (row === undefined)
      throw new MobiusError(
        'NOT_FOUND',
        `check run '${id}' does not exist; 'mobius check history <dataset>' lists them`,
      );
    const { anomalyCount, ...summary } = summaryOf(row);
    void anomalyCount;
    return {
      ...summary,
      results: JSON.parse(row.results) as ExpectationResult[],
      anomalies: JSON.parse(row.anomalies) as Anomaly[],
    };
  }

  /** Check runs of a dataset (or of every dataset), newest first. */
  async list(options: { dataset?: string; limit?: number } = {}): Promise<CheckRunSummary[]> {
    const limit = Math.min(Math.max(1, options.limit ?? 100), 1000);
    let q = this.store.db
      .selectFrom('check_run as c')
      .innerJoin('dataset as d', 'd.id', 'c.dataset_id')
      .selectAll('c')
      .select('d.name as dataset')
      .orderBy('c.created_at', 'desc')
      .orderBy('c.id', 'desc')
      .limit(limit);
    if (options.dataset !== undefined)
      q = q.where('c.dataset_id', '=', await this.#datasetId(options.dataset));
    return (await q.execute()).map(summaryOf);
  }

  /** A metric's values over a dataset's checked versions (the latest check of each), oldest first. */
  async metricHistory(
    dataset: string,
    metric: string,
  ): Promise<{ version: number; value: number; createdAt: number }[]> {
    const rows = await this.store.db
      .selectFrom('check_metric')
      .select(['version', 'value', 'created_at'])
      .where('dataset_id', '=', await this.#datasetId(dataset))
      .where('key', '=', metric)
      .orderBy('version')
      .orderBy('created_at')
      .execute();
    const byVersion = new Map<number, { version: number; value: number; createdAt: number }>();
    for (const r of rows)
      byVersion.set(Number(r.version), {
        version: Number(r.version),
        value: Number(r.value),
        createdAt: Number(r.created_at),
      });
    return [...byVersion.values()];
  }

  /** A starting suite for a version, from its profile (Deequ's rules; see suggest.ts). */
  async suggest(ref: string): Promise<Suite> {
    return parseSuite(suggestSuite(await this.data.get(ref)));
  }

  async #checkRun(runId: string): Promise<void> {
    const row = await this.store.db
      .selectFrom('run')
      .select('id')
      .where('id', '=', runId)
      .executeTakeFirst();
    if (row === undefined)
      throw new MobiusError(
        'NOT_FOUND',
        `run '${runId}' does not exist; pass the id of a tracking run, or leave it out`,
      );
  }

  async #datasetId(name: string): Promise<string> {
    const row = await this.store.db
      .selectFrom('dataset')
      .select('id')
      .where('name', '=', name)
      .executeTakeFirst();
    if (row === undefined)
      throw new MobiusError(
        'NOT_FOUND',
        `dataset '${name}' does not exist; 'mobius data ls' lists datasets`,
      );
    return row.id;
  }

  /** Each metric's values on up to CHECK_HISTORY_VERSIONS earlier checked versions (latest check of each). */
  async #history(
    datasetId: string,
    version: number,
    keys: string[],
  ): Promise<Map<string, { version: number; value: number }[]>> {
    const versions = await this.store.db
      .selectFrom('check_run')
      .select('version')
      .distinct()
      .where('dataset_id', '=', datasetId)
      .where('version', '<', version)
      .orderBy('version', 'desc')
      .limit(limits.CHECK_HISTORY_VERSIONS)
      .execute();
    const out = new Map<string, { version: number; value: number }[]>();
    if (versions.length < limits.CHECK_HISTORY_MIN_VERSIONS) return out;
    const oldest = Math.min(...versions.map((v) => Number(v.version)));
    const rows = await this.store.db
      .selectFrom('check_metric')
      .select(['key', 'version', 'value'])
      .where('dataset_id', '=', datasetId)
      .where('version', '>=', oldest)
      .where('version', '<', version)
      .orderBy('created_at')
      .execute();
    const wanted = new Set(keys);
    const latest = new Map<string, Map<number, number>>();
    for (const r of rows) {
      if (!wanted.has(r.key)) continue;
      let m = latest.get(r.key);
      if (m === undefined) latest.set(r.key, (m = new Map<number, number>()));
      m.set(Number(r.version), Number(r.value));
    }
    for (const [key, m] of latest)
      out.set(
        key,
        [...m].map(([v, value]) => ({ version: v, value })),
      );
    return out;
  }

  async #save(
    run: CheckRun,
    datasetId: string,
    suite: Suite,
    metrics: Map<string, number>,
  ): Promise<void> {
    await this.store.write(async (trx) => {
      await trx
        .insertInto('check_run')
        .values({
          id: run.id,
          dataset_id: datasetId,
          version_id: run.versionId,
          version: run.version,
          suite_name: run.suite.name,
          suite_hash: run.suite.hash,
          suite: JSON.stringify(suite),
          status: run.status,
          success: run.success ? 1 : 0,
          statistics: JSON.stringify(run.statistics),
          results: JSON.stringify(run.results),
          anomalies: JSON.stringify(run.anomalies),
          scans: run.scans,
          run_id: run.runId,
          created_at: run.createdAt,
          duration_ms: run.durationMs,
        })
        .execute();
      await this.store.insertMany(
        trx,
        'check_metric',
        [...metrics].map(([key, value]) => ({
          check_run_id: run.id,
          dataset_id: datasetId,
          version: run.version,
          key,
          value,
          created_at: run.createdAt,
        })),
      );
      const edges = [
        {
          from_kind: 'check_run',
          from_id: run.id,
          to_kind: 'dataset_version',
          to_id: run.versionId,
          relation: 'consumed' as const,
        },
        ...(run.runId === null
          ? []
          : [
              {
                from_kind: 'run',
                from_id: run.runId,
                to_kind: 'check_run',
                to_id: run.id,
                relation: 'produced' as const,
              },
            ]),
      ];
      for (const edge of edges)
        await trx
          .insertInto('edge')
          .values({ ...edge, created_at: run.createdAt })
          .onConflict((oc) => oc.doNothing())
          .execute();
    });
  }
}

type Row = {
  id: string;
  dataset: string;
  version_id: string;
  version: number;
  suite_name: string;
  suite_hash: string;
  status: string;
  success: number;
  statistics: string;
  anomalies: string;
  scans: number;
  run_id: string | null;
  created_at: number;
  duration_ms: number;
};

function summaryOf(row: Row): CheckRunSummary {
  return {
    id: row.id,
    dataset: row.dataset,
    version: Number(row.version),
    versionId: row.version_id,
    suite: { name: row.suite_name, hash: row.suite_hash },
    status: row.status as GateStatus,
    success: Number(row.success) === 1,
    statistics: JSON.parse(row.statistics) as CheckStatistics,
    scans: Number(row.scans),
    runId: row.run_id,
    createdAt: Number(row.created_at),
    durationMs: Number(row.duration_ms),
    anomalyCount: (JSON.parse(row.anomalies) as unknown[]).length,
  };
}
