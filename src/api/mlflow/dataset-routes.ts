/**
 * MLflow 3's evaluation dataset endpoints (the dataset RPCs of mlflow/protos/service.proto,
 * messages of datasets.proto), served under /api/3.0/mlflow and /ajax-api/3.0/mlflow as
 * MLflow's server serves them. Several fields are JSON text inside the JSON body (tags,
 * records), as the protocol defines them; they are parsed here with the body's depth
 * bound, and every rule about them lives in src/tracking/evaluation-datasets.ts.
 */
import type { FastifyInstance } from 'fastify';
import { MobiusError, isMobiusError, limits } from '../../core/index.js';
import type { MobiusContext } from '../../context/index.js';
import {
  decodePageToken,
  encodePageToken,
  pythonJsonDumps,
  type EvaluationDataset,
  type EvaluationDatasetRecord,
} from '../../tracking/index.js';
import { jsonDepth } from '../json-body.js';
import { MLFLOW_V3_PREFIXES } from './errors.js';
import { mlflowRoute } from './tracking-routes.js';
import { invalidValue, type Fields } from './wire.js';

/** A dataset as MLflow's `mlflow.datasets.Dataset` message (tags as JSON text). */
export function evaluationDatasetJson(d: EvaluationDataset) {
  return {
    dataset_id: d.id,
    name: d.name,
    tags: pythonJsonDumps(d.tags),
    ...(d.schema === null ? {} : { schema: d.schema }),
    ...(d.profile === null ? {} : { profile: d.profile }),
    digest: d.digest,
    created_time: d.createdAt,
    last_update_time: d.updatedAt,
    ...(d.createdBy === null ? {} : { created_by: d.createdBy }),
    ...(d.lastUpdatedBy === null ? {} : { last_updated_by: d.lastUpdatedBy }),
    experiment_ids: d.experimentIds,
  };
}

/**
 * A page of records as the JSON text GetDatasetRecords carries: a list of
 * DatasetRecord.to_dict() objects, fields in the proto's order. The stored JSON fields
 * are spliced in as they are, never parsed again.
 */
export function datasetRecordsText(records: readonly EvaluationDatasetRecord[]): string {
  const str = (s: string) => pythonJsonDumps(s);
  const item = (r: EvaluationDatasetRecord) => {
    const fields: string[] = [
      `"dataset_record_id": ${str(r.id)}`,
      `"dataset_id": ${str(r.datasetId)}`,
      `"inputs": ${r.inputs}`,
    ];
    if (r.expectations !== null) fields.push(`"expectations": ${r.expectations}`);
    fields.push(`"tags": ${r.tags}`);
    if (r.source !== null) fields.push(`"source": ${r.source}`);
    if (r.sourceId !== null) fields.push(`"source_id": ${str(r.sourceId)}`);
    if (r.sourceType !== null) fields.push(`"source_type": ${str(r.sourceType)}`);
    fields.push(`"created_time": ${r.createdAt}`, `"last_update_time": ${r.updatedAt}`);
    if (r.createdBy !== null) fields.push(`"created_by": ${str(r.createdBy)}`);
    if (r.lastUpdatedBy !== null) fields.push(`"last_updated_by": ${str(r.lastUpdatedBy)}`);
    if (r.outputs !== null) fields.push(`"outputs": ${r.outputs}`);
    return `{${fields.join(', ')}}`;
  };
  return `[${records.map(item).join(', ')}]`;
}

/**
 * A field holding JSON text (`tags`, `records`): undefined when absent, otherwise the
 * parsed value. Its nesting is bounded like a body's, since the body parser never sees
 * inside a string.
 */
function jsonField(f: Fields, name: string): unknown {
  const text = f.raw(name);
  if (text === undefined || text === null || text === '') return undefined;
  if (typeof text !== 'string') throw invalidValue(name, text, 'a string of JSON');
  if (jsonDepth(text, limits.MAX_EVAL_DATASET_JSON_DEPTH) > limits.MAX_EVAL_DATASET_JSON_DEPTH)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${name} nests deeper than ${limits.MAX_EVAL_DATASET_JSON_DEPTH} levels`,
    );
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${name} is not valid JSON: ${(cause as Error).message}`,
      { cause },
    );
  }
}

/** The strings of a repeated string field (order_by). */
function strings(f: Fields, name: string): string[] {
  return f.list(name).map((v, i) => {
    if (typeof v !== 'string') throw invalidValue(`${name}[${i}]`, v, 'a string');
    return v;
  });
}

/**
 * The experiment ids of a SearchEvaluationDatasets request. MLflow 3.17's
 * `MlflowClient.search_datasets(experiment_ids="123")` (a str where a list is typed, as
 * MLflow's own test_search_evaluation_datasets calls it) gives the string to a repeated
 * protobuf field, which takes it a character at a time: the request names experiments
 * "1", "2", "3". MLflow's server searches those, and its test passes only because its
 * first experiment id is "1". Mobius ids are 16 digits, so a list of two or more single
 * characters that joins into an existing experiment's id can only be that id.
 */
async function searchExperimentIds(f: Fields, ctx: MobiusContext): Promise<unknown[]> {
  const ids = f.list('experiment_ids');
  if (ids.length < 2 || !ids.every((v) => typeof v === 'string' && v.length === 1)) return ids;
  const joined = ids.join('');
  try {
    await ctx.tracking.experiments.get(joined);
    return [joined];
  } catch (error) {
    if (isMobiusError(error) && error.code === 'NOT_FOUND') return ids;
    throw error;
  }
}

/** All evaluation dataset endpoints. */
export function registerMlflowDatasetRoutes(app: FastifyInstance, ctx: MobiusContext): void {
  const datasets = ctx.tracking.evaluationDatasets;
  const route = (
    methods: ('GET' | 'POST' | 'PATCH' | 'DELETE')[],
    path: string,
    handler: (f: Fields) => Promise<unknown>,
    role?: 'viewer' | 'editor',
  ) => mlflowRoute(app, methods, path, handler, role, MLFLOW_V3_PREFIXES);

  route(['POST'], 'datasets/create', async (f) => ({
    dataset: evaluationDatasetJson(
      await datasets.create({
        name: f.str('name'),
        experimentIds: f.list('experiment_ids'),
        tags: jsonField(f, 'tags'),
      }),
    ),
  }));
  // Static paths win over `datasets/:dataset_id` in the router, as in MLflow's.
  route(
    ['GET', 'POST'],
    'datasets/search',
    async (f) => {
      const offset = decodePageToken(f.str('page_token', 'optional'));
      // MLflow reads max_results 0 (protobuf's unset) as the default.
      const max = f.int('max_results');
      const page = await datasets.search({
        experimentIds: await searchExperimentIds(f, ctx),
        filter: f.str('filter_string', 'optional'),
        orderBy: strings(f, 'order_by'),
        maxResults: max === 0 ? undefined : max,
        offset,
      });
      return {
        datasets: page.datasets.map(evaluationDatasetJson),
        ...(page.nextOffset === undefined
          ? {}
          : { next_page_token: encodePageToken(page.nextOffset) }),
      };
    },
    'viewer',
  );
  route(['GET'], 'datasets/:dataset_id', async (f) => ({
    dataset: evaluationDatasetJson(await datasets.get(f.str('dataset_id'))),
  }));
  route(['DELETE'], 'datasets/:dataset_id', async (f) => {
    await datasets.delete(f.str('dataset_id'));
  });
  route(['PATCH'], 'datasets/:dataset_id/tags', async (f) => {
    const tags = jsonField(f, 'tags');
    if (tags === undefined)
      throw new MobiusError('INVALID_ARGUMENT', "Missing value for required parameter 'tags'.");
    await datasets.setTags(f.str('dataset_id'), tags);
  });
  route(['DELETE'], 'datasets/:dataset_id/tags/:key', async (f) => {
    await datasets.deleteTag(f.str('dataset_id'), f.str('key'));
  });
  route(['POST'], 'datasets/:dataset_id/records', async (f) => {
    const records = jsonField(f, 'records');
    if (records === undefined)
      throw new MobiusError('INVALID_ARGUMENT', "Missing value for required parameter 'records'.");
    const { inserted, updated } = await datasets.upsertRecords(f.str('dataset_id'), records);
    return { inserted_count: inserted, updated_count: updated };
  });
  route(['GET'], 'datasets/:dataset_id/records', async (f) => {
    const max = f.int('max_results');
    const page = await datasets.records(f.str('dataset_id'), {
      maxResults: max === 0 ? undefined : max,
      pageToken: f.str('page_token', 'optional'),
    });
    return {
      records: datasetRecordsText(page.records),
      ...(page.nextPageToken === undefined ? {} : { next_page_token: page.nextPageToken }),
    };
  });
  route(['DELETE'], 'datasets/:dataset_id/records', async (f) => ({
    deleted_count: await datasets.deleteRecords(f.str('dataset_id'), f.list('dataset_record_ids')),
  }));
  route(['GET'], 'datasets/:dataset_id/experiment-ids', async (f) => ({
    experiment_ids: await datasets.experimentIds(f.str('dataset_id')),
  }));
  route(['POST'], 'datasets/:dataset_id/add-experiments', async (f) => ({
    dataset: evaluationDatasetJson(
      await datasets.addToExperiments(f.str('dataset_id'), f.list('experiment_ids')),
    ),
  }));
  route(['POST'], 'datasets/:dataset_id/remove-experiments', async (f) => ({
    dataset: evaluationDatasetJson(
      await datasets.removeFromExperiments(f.str('dataset_id'), f.list('experiment_ids')),
    ),
  }));
}
