/**
 * What a run consumed and produced: MLflow dataset inputs (log_inputs) and LoggedModel
 * inputs/outputs. Semantics follow MLflow's SQL store: a dataset is stored once per
 * (experiment, name, digest); logging an input the run already has is a no-op (its tags
 * are not replaced); only active runs take inputs. Each new link is also a lineage edge.
 */
import { randomUUID } from 'node:crypto';
import { MobiusError, limits, type Clock } from '../core/index.js';
import type { Database, ModelLinkDirection, Store, Transaction } from '../store/index.js';

/** The input tag MLflow puts the dataset's role in ("training", "eval"…). */
export const DATASET_CONTEXT_TAG = 'mlflow.data.context';

export interface DatasetInfo {
  name: string;
  digest: string;
  sourceType: string;
  source: string;
  schema?: string | null | undefined;
  profile?: string | null | undefined;
}

export interface DatasetInput {
  dataset: DatasetInfo;
  tags: { key: string; value: string }[];
}

export interface ModelLink {
  modelId: string;
  step: number;
}

/** A dataset as the experiment's dataset filter lists it. */
export interface DatasetSummary {
  experimentId: string;
  name: string;
  digest: string;
  /** The `mlflow.data.context` it was logged with, if any. */
  context: string | null;
}

/** Everything a run read and wrote, as MLflow's RunInputs / RunOutputs carry it. */
export interface RunIo {
  datasetInputs: DatasetInput[];
  modelInputs: { modelId: string }[];
  modelOutputs: ModelLink[];
}

const EMPTY_IO: RunIo = Object.freeze({ datasetInputs: [], modelInputs: [], modelOutputs: [] });

/** Records and reads run inputs and outputs. */
export class RunInputService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /**
   * Logs dataset and model inputs to an active run (MLflow's LogInputs). Repeats of the
   * same (name, digest) within the call keep the first.
   */
  async logInputs(
    runId: string,
    datasets: readonly DatasetInput[],
    modelIds: readonly string[] = [],
  ): Promise<void> {
    if (datasets.length > limits.MAX_DATASETS_PER_BATCH) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${datasets.length} dataset inputs in one request; the limit is ${limits.MAX_DATASETS_PER_BATCH}`,
      );
    }
    const unique = new Map<string, DatasetInput>();
    for (const input of datasets) {
      checkDatasetInput(input);
      const identity = JSON.stringify([input.dataset.name, input.dataset.digest]);
      if (!unique.has(identity)) unique.set(identity, input);
    }
    const now = this.clock.now();
    await this.store.write(async (trx) => {
      const experimentId = await activeRunExperiment(trx, runId);
      for (const input of unique.values()) {
        const datasetId = await upsertDataset(trx, experimentId, input.dataset, now);
        const inserted = await trx
          .insertInto('run_dataset_input')
          .values({
            run_id: runId,
            dataset_id: datasetId,
            context: input.tags.find((t) => t.key === DATASET_CONTEXT_TAG)?.value ?? null,
            tags: JSON.stringify(input.tags.map(({ key, value }) => ({ key, value }))),
            created_at: now,
          })
          .onConflict((oc) => oc.doNothing())
          .executeTakeFirst();
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0) {
          await linkEdge(trx, runId, 'run_dataset', datasetId, 'consumed', now);
        }
      }
      for (const modelId of new Set(modelIds)) {
        await linkModel(trx, runId, modelId, 'input', 0, now);
      }
    });
  }

  /** Records that a run produced LoggedModels at the given steps (MLflow's LogOutputs). */
  async logOutputs(runId: string, models: readonly ModelLink[]): Promise<void> {
    const now = this.clock.now();
    await this.store.write(async (trx) => {
      await activeRunExperiment(trx, runId);
      for (const m of models) await linkModel(trx, runId, m.modelId, 'output', m.step, now);
    });
  }

  /** Inputs and outputs of each run, keyed by run id; runs without any are absent. */
  async ioOf(runIds: readonly string[]): Promise<Map<string, RunIo>> {
    const result = new Map<string, RunIo>();
    if (runIds.length === 0) return result;
    const ids = [...new Set(runIds)];
    const get = (id: string): RunIo => {
      let io = result.get(id);
      if (io === undefined) {
        io = { datasetInputs: [], modelInputs: [], modelOutputs: [] };
        result.set(id, io);
      }
      return io;
    };
    const db = this.store.db;
    const [datasets, models] = await Promise.all([
      db
        .selectFrom('run_dataset_input as i')
        .innerJoin('run_dataset as d', 'd.id', 'i.dataset_id')
        .select([
          'i.run_id',
          'i.tags',
          'd.name',
          'd.digest',
          'd.source_type',
          'd.source',
          'd.schema',
          'd.profile',
        ])
        .where('i.run_id', 'in', ids)
        .orderBy('i.created_at')
        .orderBy('d.name')
        .execute(),
      db
        .selectFrom('run_model_link')
        .select(['run_id', 'model_id', 'direction', 'step'])
        .where('run_id', 'in', ids)
        .orderBy('created_at')
        .orderBy('model_id')
        .execute(),
    ]);
    for (const row of datasets) {
      get(row.run_id).datasetInputs.push({
        tags: JSON.parse(row.tags) as { key: string; value: string }[],
        dataset: {
          name: row.name,
          digest: row.digest,
          sourceType: row.source_type,
          source: row.source,
          schema: row.schema,
          profile: row.profile,
        },
      });
    }
    for (const row of models) {
      const io = get(row.run_id);
      if (row.direction === 'input') io.modelInputs.push({ modelId: row.model_id });
      else io.modelOutputs.push({ modelId: row.model_id, step: row.step });
    }
    return result;
  }

  /**
   * The distinct (dataset, context) pairs logged in some experiments, for the UI's dataset
   * filter (MLflow's SearchDatasets): at most MAX_SEARCH_DATASETS, ordered by experiment,
   * name, digest and context.
   */
  async searchDatasets(experimentIds: readonly string[]): Promise<DatasetSummary[]> {
    if (experimentIds.length === 0) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        'SearchDatasets request must specify at least one experiment_id.',
      );
    }
    if (experimentIds.length > limits.MAX_SEARCH_DATASETS_EXPERIMENTS) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `SearchDatasets request cannot specify more than ${limits.MAX_SEARCH_DATASETS_EXPERIMENTS} experiment_ids. Received ${experimentIds.length} experiment_ids.`,
      );
    }
    const rows = await this.store.db
      .selectFrom('run_dataset as d')
      .innerJoin('run_dataset_input as i', 'i.dataset_id', 'd.id')
      .select(['d.experiment_id', 'd.name', 'd.digest', 'i.context'])
      .distinct()
      .where('d.experiment_id', 'in', [...experimentIds])
      .orderBy('d.experiment_id')
      .orderBy('d.name')
      .orderBy('d.digest')
      .orderBy('i.context')
      .limit(limits.MAX_SEARCH_DATASETS)
      .execute();
    return rows.map((r) => ({
      experimentId: r.experiment_id,
      name: r.name,
      digest: r.digest,
      context: r.context,
    }));
  }

  /** Inputs and outputs of one run (empty lists when it has none). */
  async ioOfRun(runId: string): Promise<RunIo> {
    return (await this.ioOf([runId])).get(runId) ?? EMPTY_IO;
  }
}

/** The run's experiment; NOT_FOUND when missing, INVALID_ARGUMENT when it is deleted. */
async function activeRunExperiment(trx: Transaction<Database>, runId: string): Promise<string> {
  const run = await trx
    .selectFrom('run')
    .select(['experiment_id', 'lifecycle_stage'])
    .where('id', '=', runId)
    .executeTakeFirst();
  if (run === undefined) throw new MobiusError('NOT_FOUND', `Run with id=${runId} not found`);
  if (run.lifecycle_stage !== 'active') {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `The run ${runId} must be in the 'active' state. Current state is deleted; restore it before logging to it.`,
    );
  }
  return run.experiment_id;
}

async function upsertDataset(
  trx: Transaction<Database>,
  experimentId: string,
  d: DatasetInfo,
  now: number,
): Promise<string> {
  const existing = () =>
    trx
      .selectFrom('run_dataset')
      .select('id')
      .where('experiment_id', '=', experimentId)
      .where('name', '=', d.name)
      .where('digest', '=', d.digest)
      .executeTakeFirst();
  const found = await existing();
  if (found !== undefined) return found.id;
  const id = randomUUID().replaceAll('-', '');
  await trx
    .insertInto('run_dataset')
    .values({
      id,
      experiment_id: experimentId,
      name: d.name,
      digest: d.digest,
      source_type: d.sourceType,
      source: d.source,
      schema: d.schema ?? null,
      profile: d.profile ?? null,
      created_at: now,
    })
    .execute();
  return id;
}

async function linkModel(
  trx: Transaction<Database>,
  runId: string,
  modelId: string,
  direction: ModelLinkDirection,
  step: number,
  now: number,
): Promise<void> {
  const model = await trx
    .selectFrom('logged_model')
    .select('id')
    .where('id', '=', modelId)
    .executeTakeFirst();
  if (model === undefined)
    throw new MobiusError('NOT_FOUND', `Logged model with ID '${modelId}' not found`);
  const inserted = await trx
    .insertInto('run_model_link')
    .values({ run_id: runId, model_id: modelId, direction, step, created_at: now })
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0) {
    await linkEdge(
      trx,
      runId,
      'logged_model',
      modelId,
      direction === 'input' ? 'consumed' : 'produced',
      now,
    );
  }
}

async function linkEdge(
  trx: Transaction<Database>,
  runId: string,
  toKind: string,
  toId: string,
  relation: Database['edge']['relation'],
  now: number,
): Promise<void> {
  await trx
    .insertInto('edge')
    .values({
      from_kind: 'run',
      from_id: runId,
      to_kind: toKind,
      to_id: toId,
      relation,
      created_at: now,
    })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/** MLflow's dataset and input-tag limits (validation.py), with its messages' shape. */
function checkDatasetInput(input: DatasetInput): void {
  const d = input.dataset;
  const field = (
    name: string,
    value: string | null | undefined,
    max: number,
    required: boolean,
  ) => {
    if (value === undefined || value === null) {
      if (required) {
        throw new MobiusError('INVALID_ARGUMENT', `dataset ${name} is required`);
      }
      return;
    }
    if (value.length > max) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `dataset ${name} is ${value.length} characters; the limit is ${max}`,
      );
    }
  };
  field('name', d.name, limits.MAX_DATASET_NAME_LENGTH, true);
  field('digest', d.digest, limits.MAX_DATASET_DIGEST_LENGTH, true);
  field('source_type', d.sourceType, limits.MAX_DATASET_SOURCE_LENGTH, true);
  field('source', d.source, limits.MAX_DATASET_SOURCE_LENGTH, true);
  field('schema', d.schema, limits.MAX_DATASET_SCHEMA_LENGTH, false);
  field('profile', d.profile, limits.MAX_DATASET_PROFILE_LENGTH, false);
  for (const tag of input.tags) {
    if (typeof tag.key !== 'string' || typeof tag.value !== 'string') {
      throw new MobiusError('INVALID_ARGUMENT', 'every input tag needs a string key and value');
    }
    if (tag.key.length > limits.MAX_INPUT_TAG_KEY_LENGTH) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `input tag key is ${tag.key.length} characters; the limit is ${limits.MAX_INPUT_TAG_KEY_LENGTH}`,
      );
    }
    if (tag.value.length > limits.MAX_INPUT_TAG_VALUE_LENGTH) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `input tag '${tag.key}' value is ${tag.value.length} characters; the limit is ${limits.MAX_INPUT_TAG_VALUE_LENGTH}`,
      );
    }
  }
}
