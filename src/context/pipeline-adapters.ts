/**
 * What the pipelines domain needs from the data domain, built here so neither imports
 * the other: dataset inputs and outputs (`DatasetIO`) over `DataService`, and quality
 * gates (`GateRunner`) over `CheckService`.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MobiusError } from '../core/index.js';
import type { BlobStore } from '../blobs/index.js';
import {
  withParquetFiles,
  type CheckService,
  type DataService,
  type DatasetVersion,
  type ExpectationResult,
} from '../data/index.js';
import { sqlString, type Engine } from '../engine/index.js';
import type { DatasetIO, DatasetVersionInfo, GateRunner } from '../pipelines/index.js';

/**
 * Dataset inputs are read as the version's canonical Parquet copy (one file, whatever
 * the version was added from); outputs are added as new versions produced by the step's
 * tracking run.
 *
 * @example
 * new PipelineService({ ..., datasets: datasetIO(data) })
 */
export function datasetIO(
  data: DataService,
  sampling?: { engine: Engine; blobs: BlobStore },
): DatasetIO {
  return {
    ...(sampling === undefined ? {} : { sample: sampler(data, sampling.engine, sampling.blobs) }),
    async resolve(ref) {
      const version = await data.get(`${ref.name}@${ref.version ?? 'latest'}`);
      if (version.parquet === null)
        throw new MobiusError(
          'NOT_FOUND',
          `${version.dataset}@${version.version} has no Parquet copy to give a step; add the data again`,
        );
      return { version: info(version), blob: version.parquet };
    },
    async register({ dataset, path, format, runId }) {
      const { version } = await data.add({
        name: dataset,
        source: path,
        cwd: dirname(path),
        format,
        runId,
        // The step's scratch path is gone after the run; the run id says where it came from.
        sourceUri: `mobius-run:${runId}`,
      });
      return info(version);
    },
  };
}

/**
 * `mobius run --sample N`: DuckDB's reservoir sample of the version's Parquet copy, on one
 * thread so `REPEATABLE (seed)` gives the same rows every time (several threads fill the
 * reservoir in a racy order), added as a version of the sandbox dataset `into` — a real
 * version, so gates, row counts and lineage work on it as on any other; adding the same
 * sample again returns the version that holds it.
 */
function sampler(
  data: DataService,
  engine: Engine,
  blobs: BlobStore,
): NonNullable<DatasetIO['sample']> {
  return async ({ version: v, rows, seed, into }) => {
    const source = await data.get(`${v.dataset}@${v.version}`);
    await mkdir(engine.tempDirectory, { recursive: true });
    const scratch = await mkdtemp(join(engine.tempDirectory, 'sample-'));
    try {
      const file = `${v.dataset}-v${v.version}-sample.parquet`;
      await withParquetFiles(
        blobs,
        engine,
        [source],
        ([path], session) =>
          session.run(
            `copy (select * from read_parquet(${sqlString(path!)}) using sample reservoir(${rows} rows) repeatable (${seed})) to ${sqlString(join(scratch, file))} (format parquet, compression zstd)`,
          ),
        { threads: 1 },
      );
      const { version } = await data.add({
        name: into,
        source: file,
        cwd: scratch,
        format: 'parquet',
        sourceUri: `sample:${v.dataset}@${v.version} rows=${rows} seed=${seed}`,
      });
      if (version.parquet === null)
        throw new MobiusError(
          'INTERNAL',
          `${version.dataset}@${version.version} has no Parquet copy`,
        );
      return { version: info(version), blob: version.parquet };
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  };
}

function info(v: DatasetVersion): DatasetVersionInfo {
  return {
    dataset: v.dataset,
    version: v.version,
    versionId: v.id,
    contentHash: v.contentHash,
    rowCount: v.rowCount,
  };
}

/**
 * A check step's gate: loads the suite file, runs it on the version (recorded as a check
 * run linked to the step's tracking run), and describes each failed expectation in one
 * line for the step's reason or warnings.
 *
 * @example
 * new PipelineService({ ..., gates: gateRunner(checks) })
 */
export function gateRunner(checks: CheckService): GateRunner {
  return {
    async gate(versionRef, suitePath, { runId }) {
      const suite = await checks.loadSuite(suitePath);
      const run = await checks.gate(versionRef, suite, { runId });
      const failed = run.results.filter((r) => !r.success);
      return {
        status: run.status,
        checkRunId: run.id,
        errors: failed.filter((r) => r.severity === 'error').map(describeFailure),
        warnings: [
          ...failed.filter((r) => r.severity === 'warn').map(describeFailure),
          ...run.anomalies.map((a) => a.message),
        ],
        assertions: run.results.map((r) => {
          const e = r.expectation as { expect: string; column?: unknown };
          return {
            assertion: e.expect,
            success: r.success,
            severity: r.severity,
            ...(typeof e.column === 'string' ? { column: e.column } : {}),
            ...(r.result.observedValue === undefined
              ? {}
              : { actual: JSON.stringify(r.result.observedValue)?.slice(0, 200) ?? '' }),
          };
        }),
      };
    },
  };
}

/** `#2 not_null(email): 1 unexpected (20%)`, or the observed value when there is no count. */
function describeFailure(r: ExpectationResult): string {
  const e = r.expectation as { expect: string; column?: unknown; columns?: unknown };
  const on =
    typeof e.column === 'string'
      ? `(${e.column})`
      : Array.isArray(e.columns)
        ? `(${e.columns.map((c) => (typeof c === 'string' ? c : ((c as { name?: string }).name ?? '?'))).join(', ')})`
        : '';
  const o = r.result;
  const what =
    o.unexpectedCount !== undefined
      ? `${o.unexpectedCount} unexpected${o.unexpectedPercent === undefined ? '' : ` (${Number(o.unexpectedPercent.toFixed(2))}%)`}`
      : `observed ${JSON.stringify(o.observedValue)?.slice(0, 200) ?? 'nothing'}`;
  return `#${r.index} ${e.expect}${on}: ${what}`;
}
