/**
 * The ordered list of schema migrations. Names sort in apply order; never rename or
 * edit a migration that has shipped — add a new one.
 */
import type { MobiusMigration } from './migration.js';
import * as spine from './001-spine.js';
import * as tracking from './002-tracking.js';
import * as registry from './003-registry.js';
import * as loggedModels from './004-logged-models.js';
import * as trackingPerf from './005-tracking-perf.js';
import * as runInputs from './006-run-inputs.js';
import * as metricBatches from './007-metric-batches.js';
import * as loggedModelSource from './009-logged-model-source.js';
import * as loggedModelMetrics from './010-logged-model-metrics.js';
import * as evaluationDatasets from './011-evaluation-datasets.js';
import * as traces from './012-traces.js';
import * as metricSegments from './013-metric-segments.js';
import * as dataVersions from './014-data-versions.js';
import * as pipelines from './015-pipelines.js';
import * as checks from './016-checks.js';
import * as pipelineTriggers from './017-pipeline-triggers.js';
import * as stepQueue from './018-step-queue.js';
import * as stepProcesses from './019-step-processes.js';
import * as deployments from './020-deployments.js';
import * as predictionLog from './021-prediction-log.js';
import * as modelEvaluations from './022-model-evaluations.js';
import * as deploymentDeletion from './023-deployment-deletion.js';

export type { MigrationContext, MobiusMigration } from './migration.js';

export const MIGRATIONS: Readonly<Record<string, MobiusMigration>> = {
  '001-spine': spine,
  '002-tracking': tracking,
  '003-registry': registry,
  '004-logged-models': loggedModels,
  '005-tracking-perf': trackingPerf,
  '006-run-inputs': runInputs,
  '007-metric-batches': metricBatches,
  '009-logged-model-source': loggedModelSource,
  '010-logged-model-metrics': loggedModelMetrics,
  '011-evaluation-datasets': evaluationDatasets,
  '012-traces': traces,
  '013-metric-segments': metricSegments,
  '014-data-versions': dataVersions,
  '015-pipelines': pipelines,
  '016-checks': checks,
  '017-pipeline-triggers': pipelineTriggers,
  '018-step-queue': stepQueue,
  '019-step-processes': stepProcesses,
  '020-deployments': deployments,
  '021-prediction-log': predictionLog,
  '022-model-evaluations': modelEvaluations,
  '023-deployment-deletion': deploymentDeletion,
};
