/**
 * What the pipelines domain needs from the data domain, built here so neither imports
 * the other: dataset inputs and outputs (`DatasetIO`) over `DataService`.
 */
import { MobiusError } from '../core/index.js';
import type { DataService, DatasetVersion } from '../data/index.js';
import type { DatasetIO, DatasetVersionInfo } from '../pipelines/index.js';
import { dirname } from 'node:path';

/**
 * Dataset inputs are read as the version's canonical Parquet copy (one file, whatever
 * the version was added from); outputs are added as new versions produced by the step's
 * tracking run.
 *
 * @example
 * new PipelineService({ ..., datasets: datasetIO(data) })
 */
export function datasetIO(data: DataService): DatasetIO {
  return {
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

function info(v: DatasetVersion): DatasetVersionInfo {
  return {
    dataset: v.dataset,
    version: v.version,
    versionId: v.id,
    contentHash: v.contentHash,
    rowCount: v.rowCount,
  };
}
