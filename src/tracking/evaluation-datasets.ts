/**
 * Evaluation datasets (MLflow 3 GenAI): named sets of records — inputs, expectations and
 * outputs — that evaluations run over, tagged and shared by any number of experiments.
 *
 * Semantics follow MLflow 3.17's SQL store (SqlAlchemyStore's evaluation dataset
 * methods), so its clients see the same behaviour:
 * - a record is identified by its inputs: upserting a record whose inputs the dataset
 *   already holds merges into it (outputs replaced, expectations and tags merged key by
 *   key), otherwise it is inserted; the answer counts both;
 * - every upsert stamps the dataset: last_update_time, a new digest
 *   (sha256 of `name:last_update_time`, 8 hex digits), last_updated_by from the records'
 *   `mlflow.user` tag, the field types seen so far (schema) and the record count (profile);
 * - created_by comes from the `mlflow.user` tag, as MLflow's client sets it.
 *
 * Where Mobius differs on purpose (docs/mlflow-compat.md §4): unknown dataset ids are
 * NOT_FOUND on every call but the two deletes (MLflow answers some with empty results);
 * experiments named at create must exist; malformed records are INVALID_ARGUMENT before
 * anything is written (MLflow fails some of them half-way, as INTERNAL_ERROR); deleting
 * records stamps the dataset as an upsert does (MLflow keeps the old digest for the
 * changed contents), and the profile of an emptied dataset is absent, not "null".
 */
import { randomUUID } from 'node:crypto';
import { MobiusError, limits, sha256Hex, type Clock } from '../core/index.js';
import type { Database, Kysely, Row, Store } from '../store/index.js';
import {
  datasetFilterSql,
  datasetOrderSql,
  parseDatasetFilter,
  parseDatasetOrderBy,
} from './evaluation-dataset-search.js';
import { pythonJsonDumps } from './python-json.js';

/** The tag MLflow's client puts the user's name in; datasets and records take their author from it. */
export const MLFLOW_USER_TAG = 'mlflow.user';

/** Where a record came from: MLflow's DatasetRecordSourceType values. */
export const RECORD_SOURCE_TYPES = ['UNSPECIFIED', 'TRACE', 'HUMAN', 'DOCUMENT', 'CODE'] as const;
export type RecordSourceType = (typeof RECORD_SOURCE_TYPES)[number];

/** An evaluation dataset's metadata (its records are read a page at a time). */
export interface EvaluationDataset {
  id: string;
  name: string;
  digest: string;
  /** JSON text: the field types seen in records, or null before the first upsert. */
  schema: string | null;
  /** JSON text: `{"num_records": n}`, or null while the dataset has no records. */
  profile: string | null;
  createdBy: string | null;
  lastUpdatedBy: string | null;
  createdAt: number;
  updatedAt: number;
  tags: Record<string, string>;
  /** The experiments it belongs to, oldest link first. */
  experimentIds: string[];
}

/**
 * One record. The JSON fields are JSON text as stored (Python's json.dumps form), so a
 * page of records is sent without parsing and re-serialising each one.
 */
export interface EvaluationDatasetRecord {
  id: string;
  datasetId: string;
  inputs: string;
  /** null when the record was upserted with `"outputs": null`. */
  outputs: string | null;
  expectations: string | null;
  tags: string;
  /** `{"source_type": …, "source_data": {…}}`, or null. */
  source: string | null;
  sourceId: string | null;
  sourceType: string | null;
  createdBy: string | null;
  lastUpdatedBy: string | null;
  createdAt: number;
  updatedAt: number;
}

/** A record of an upsert request, checked and in stored form. */
export interface CheckedRecord {
  /** sha256 of the inputs as `json.dumps(inputs, sort_keys=True)`: MLflow's input_hash. */
  inputHash: string;
  inputs: string;
  /** undefined when the request left `outputs` out (an insert then stores `{}`, as MLflow). */
  outputs: string | null | undefined;
  expectations: Record<string, unknown> | null;
  tags: Record<string, unknown> | null;
  source: string | null;
  sourceId: string | null;
  sourceType: RecordSourceType | null;
  /** The record's `mlflow.user` tag, when it is a string. */
  user: string | null;
  /** The record as sent, for the dataset schema. */
  raw: Record<string, unknown>;
}

/** Options of a dataset search. */
export interface SearchEvaluationDatasetsOptions {
  experimentIds?: readonly unknown[];
  filter?: string | undefined;
  orderBy?: readonly string[];
  maxResults?: number | undefined;
  offset?: number;
}

const notFound = (id: string) =>
  new MobiusError('NOT_FOUND', `Evaluation dataset with id '${id}' not found`);

/** Rows per query when reading records or hashes in chunks (well under every parameter limit). */
const CHUNK = 500;

/** Creates, searches, tags and deletes evaluation datasets, and upserts and pages their records. */
export class EvaluationDatasetService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /**
   * Creates a dataset, in the given experiments (which must exist), with tags; its
   * creator is the `mlflow.user` tag.
   *
   * @example
   * await datasets.create({ name: 'qa', experimentIds: ['1'], tags: { team: 'ml' } });
   */
  async create(input: {
    name: unknown;
    experimentIds?: readonly unknown[];
    tags?: unknown;
  }): Promise<EvaluationDataset> {
    const name = checkDatasetName(input.name);
    const experimentIds = checkExperimentIds(input.experimentIds ?? []);
    const tags = checkTags(input.tags ?? {});
    const id = `d-${randomUUID().replaceAll('-', '')}`;
    const now = this.clock.now();
    const user = tags[MLFLOW_USER_TAG] ?? null;
    await this.store.write(async (trx) => {
      await mustAllExist(trx, experimentIds);
      await trx
        .insertInto('evaluation_dataset')
        .values({
          id,
          name,
          digest: datasetDigest(name, now),
          schema: null,
          profile: null,
          created_by: user,
          last_updated_by: user,
          created_at: now,
          updated_at: now,
        })
        .execute();
      const tagRows = Object.entries(tags).map(([key, value]) => ({ dataset_id: id, key, value }));
      if (tagRows.length > 0)
        await trx.insertInto('evaluation_dataset_tag').values(tagRows).execute();
      if (experimentIds.length > 0)
        await trx
          .insertInto('evaluation_dataset_experiment')
          .values(experimentIds.map((e) => ({ dataset_id: id, experiment_id: e, created_at: now })))
          .execute();
    });
    return this.get(id);
  }

  /** The dataset with `id`; NOT_FOUND otherwise. */
  async get(id: string): Promise<EvaluationDataset> {
    const [dataset] = await this.#load(this.store.db, [id]);
    if (dataset === undefined) throw notFound(id);
    return dataset;
  }

  /** Deletes a dataset with its records, tags and experiment links; no-op when absent, as in MLflow. */
  async delete(id: string): Promise<void> {
    await this.store.write((trx) =>
      trx.deleteFrom('evaluation_dataset').where('id', '=', id).execute(),
    );
  }

  /**
   * A page of datasets: in any of `experimentIds` (all when none), matching the filter,
   * in the order asked (newest first by default). `nextOffset` is set when more follow.
   */
  async search(
    options: SearchEvaluationDatasetsOptions = {},
  ): Promise<{ datasets: EvaluationDataset[]; nextOffset?: number }> {
    const maxResults = options.maxResults ?? limits.SEARCH_EVAL_DATASETS_DEFAULT;
    if (
      !Number.isSafeInteger(maxResults) ||
      maxResults < 1 ||
      maxResults > limits.SEARCH_EVAL_DATASETS_MAX
    )
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `Invalid value ${maxResults} for parameter 'max_results' supplied. It must be between 1 and ${limits.SEARCH_EVAL_DATASETS_MAX}.`,
      );
    const experimentIds = checkExperimentIds(options.experimentIds ?? []);
    const filter = parseDatasetFilter(options.filter);
    const orders = parseDatasetOrderBy(options.orderBy ?? []);
    const offset = options.offset ?? 0;
    let query = this.store.db.selectFrom('evaluation_dataset').select('evaluation_dataset.id');
    if (experimentIds.length > 0)
      query = query.where((eb) =>
        eb.exists(
          eb
            .selectFrom('evaluation_dataset_experiment as l')
            .select('l.dataset_id')
            .whereRef('l.dataset_id', '=', 'evaluation_dataset.id')
            .where('l.experiment_id', 'in', experimentIds),
        ),
      );
    if (filter !== undefined) query = query.where(datasetFilterSql(filter));
    for (const order of orders)
      query = query.orderBy(datasetOrderSql(this.store.dialect, order), order.direction);
    const rows = await query
      .limit(maxResults + 1)
      .offset(offset)
      .execute();
    const datasets = await this.#load(
      this.store.db,
      rows.slice(0, maxResults).map((r) => r.id),
    );
    return rows.length > maxResults ? { datasets, nextOffset: offset + maxResults } : { datasets };
  }

  /**
   * Sets tags, keeping the others (MLflow's set_dataset_tags): a null value is skipped,
   * numbers and booleans are stored as Python's str() writes them.
   */
  async setTags(id: string, tags: unknown): Promise<void> {
    const checked = checkTags(tags);
    await this.store.write(async (trx) => {
      await mustExist(trx, id);
      for (const [key, value] of Object.entries(checked)) {
        await trx
          .insertInto('evaluation_dataset_tag')
          .values({ dataset_id: id, key, value })
          .onConflict((oc) => oc.columns(['dataset_id', 'key']).doUpdateSet({ value }))
          .execute();
      }
    });
  }

  /** Removes a tag; a tag that is not set is a no-op, as in MLflow. NOT_FOUND for an unknown dataset. */
  async deleteTag(id: string, key: string): Promise<void> {
    await this.store.write(async (trx) => {
      await mustExist(trx, id);
      await trx
        .deleteFrom('evaluation_dataset_tag')
        .where('dataset_id', '=', id)
        .where('key', '=', key)
        .execute();
    });
  }

  /** The experiments the dataset belongs to. */
  async experimentIds(id: string): Promise<string[]> {
    return (await this.get(id)).experimentIds;
  }

  /** Links the dataset to more experiments (each must exist); links it already has are kept. */
  async addToExperiments(
    id: string,
    experimentIds: readonly unknown[],
  ): Promise<EvaluationDataset> {
    const ids = checkExperimentIds(experimentIds);
    const now = this.clock.now();
    await this.store.write(async (trx) => {
      await mustExist(trx, id);
      await mustAllExist(trx, ids);
      if (ids.length > 0)
        await trx
          .insertInto('evaluation_dataset_experiment')
          .values(ids.map((e) => ({ dataset_id: id, experiment_id: e, created_at: now })))
          .onConflict((oc) => oc.doNothing())
          .execute();
      await touch(trx, id, now);
    });
    return this.get(id);
  }

  /** Unlinks the dataset from experiments; ids it is not linked to are ignored, as in MLflow. */
  async removeFromExperiments(
    id: string,
    experimentIds: readonly unknown[],
  ): Promise<EvaluationDataset> {
    const ids = checkExperimentIds(experimentIds);
    const now = this.clock.now();
    await this.store.write(async (trx) => {
      await mustExist(trx, id);
      if (ids.length === 0) return;
      const removed = await trx
        .deleteFrom('evaluation_dataset_experiment')
        .where('dataset_id', '=', id)
        .where('experiment_id', 'in', ids)
        .executeTakeFirst();
      if (removed.numDeletedRows > 0n) await touch(trx, id, now);
    });
    return this.get(id);
  }

  /**
   * Inserts records, or merges them into the record with the same inputs (MLflow's
   * upsert_dataset_records), in one transaction; every record is checked first, so a
   * malformed one stores nothing. Counts what was inserted and what was updated.
   *
   * @example
   * await datasets.upsertRecords(id, [{ inputs: { q: 'What is MLflow?' }, expectations: { a: '…' } }]);
   */
  async upsertRecords(
    id: string,
    records: unknown,
  ): Promise<{ inserted: number; updated: number }> {
    const checked = checkRecords(records);
    return this.store.write(async (trx) => {
      const now = this.clock.now();
      // Updating the dataset row first takes its row lock on PostgreSQL, so concurrent
      // upserts into one dataset queue here instead of racing on the same new inputs.
      if (!(await touch(trx, id, now))) throw notFound(id);
      const dataset = await trx
        .selectFrom('evaluation_dataset')
        .select(['name', 'schema'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();

      const hashes = [...new Set(checked.map((r) => r.inputHash))];
      const byHash = new Map<string, RecordState>();
      for (let i = 0; i < hashes.length; i += CHUNK) {
        const rows = await trx
          .selectFrom('evaluation_dataset_record')
          .selectAll()
          .where('dataset_id', '=', id)
          .where('input_hash', 'in', hashes.slice(i, i + CHUNK))
          .execute();
        for (const row of rows)
          byHash.set(row.input_hash, { kind: 'existing', changed: false, row });
      }

      let inserted = 0;
      let updated = 0;
      let updatedBy: string | null = null;
      for (const [index, record] of checked.entries()) {
        if (record.user !== null) updatedBy = record.user;
        const state = byHash.get(record.inputHash);
        if (state === undefined) {
          byHash.set(record.inputHash, { kind: 'new', row: newRecordRow(id, record, now) });
          inserted++;
        } else {
          mergeRecord(state.row, record, now, index);
          if (state.kind === 'existing') state.changed = true;
          updated++;
        }
      }

      const fresh = [...byHash.values()].flatMap((s) => (s.kind === 'new' ? [s.row] : []));
      await this.store.insertMany(trx, 'evaluation_dataset_record', fresh);
      for (const state of byHash.values()) {
        if (state.kind !== 'existing' || !state.changed) continue;
        const {
          id: recordId,
          outputs,
          expectations,
          tags,
          last_updated_by,
          updated_at,
        } = state.row;
        await trx
          .updateTable('evaluation_dataset_record')
          .set({ outputs, expectations, tags, last_updated_by, updated_at })
          .where('id', '=', recordId)
          .execute();
      }

      const schema = mergeSchema(
        dataset.schema,
        checked.map((r) => r.raw),
      );
      const count = await countRecords(trx, id);
      await trx
        .updateTable('evaluation_dataset')
        .set({
          last_updated_by: updatedBy,
          digest: datasetDigest(dataset.name, now),
          ...(schema === null ? {} : { schema: pythonJsonDumps(schema) }),
          ...(count > 0 ? { profile: profileJson(count) } : {}),
        })
        .where('id', '=', id)
        .execute();
      return { inserted, updated };
    });
  }

  /**
   * A page of records in (created, id) order, after `pageToken`. A page ends at
   * `maxResults` records or once it holds EVAL_DATASET_RECORDS_PAGE_BYTES, whichever
   * comes first; `nextPageToken` is set when more follow.
   */
  async records(
    id: string,
    options: { maxResults?: number | undefined; pageToken?: string | undefined } = {},
  ): Promise<{ records: EvaluationDatasetRecord[]; nextPageToken?: string }> {
    const maxResults = options.maxResults ?? limits.EVAL_DATASET_RECORDS_PAGE_DEFAULT;
    if (
      !Number.isSafeInteger(maxResults) ||
      maxResults < 1 ||
      maxResults > limits.EVAL_DATASET_RECORDS_PAGE_MAX
    )
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `Invalid value ${maxResults} for parameter 'max_results' supplied. It must be between 1 and ${limits.EVAL_DATASET_RECORDS_PAGE_MAX}.`,
      );
    let cursor = decodeRecordCursor(options.pageToken);
    await this.get(id);
    const page: Row<'evaluation_dataset_record'>[] = [];
    let bytes = 0;
    for (;;) {
      const want = Math.min(CHUNK, maxResults - page.length) + 1;
      let query = this.store.db
        .selectFrom('evaluation_dataset_record')
        .selectAll()
        .where('dataset_id', '=', id);
      if (cursor !== undefined) {
        const { created, recordId } = cursor;
        query = query.where((eb) =>
          eb.or([
            eb('created_at', '>', created),
            eb.and([eb('created_at', '=', created), eb('id', '>', recordId)]),
          ]),
        );
      }
      const rows = await query.orderBy('created_at').orderBy('id').limit(want).execute();
      for (const row of rows) {
        if (
          page.length >= maxResults ||
          (page.length > 0 && bytes >= limits.EVAL_DATASET_RECORDS_PAGE_BYTES)
        ) {
          const last = page[page.length - 1]!;
          return {
            records: page.map(toRecord),
            nextPageToken: encodeRecordCursor(last.created_at, last.id),
          };
        }
        page.push(row);
        bytes += recordBytes(row);
      }
      if (rows.length < want) return { records: page.map(toRecord) };
      const last = page[page.length - 1]!;
      cursor = { created: last.created_at, recordId: last.id };
    }
  }

  /**
   * Deletes records by id; ids not in the dataset are ignored. Stamps the dataset (time,
   * digest, profile) when any went, so the digest tells the contents apart.
   */
  async deleteRecords(id: string, recordIds: readonly unknown[]): Promise<number> {
    if (recordIds.length > limits.MAX_EVAL_DATASET_RECORDS_PER_REQUEST)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${recordIds.length} record ids in one request; the limit is ${limits.MAX_EVAL_DATASET_RECORDS_PER_REQUEST}`,
      );
    const ids = recordIds.map((r, i) => {
      if (typeof r !== 'string' || r === '')
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `dataset_record_ids[${i}] must be a record id string, not ${JSON.stringify(r)}`,
        );
      return r;
    });
    return this.store.write(async (trx) => {
      const dataset = await trx
        .selectFrom('evaluation_dataset')
        .select('name')
        .where('id', '=', id)
        .executeTakeFirst();
      if (dataset === undefined) throw notFound(id);
      let deleted = 0;
      const unique = [...new Set(ids)];
      for (let i = 0; i < unique.length; i += CHUNK) {
        const result = await trx
          .deleteFrom('evaluation_dataset_record')
          .where('dataset_id', '=', id)
          .where('id', 'in', unique.slice(i, i + CHUNK))
          .executeTakeFirst();
        deleted += Number(result.numDeletedRows);
      }
      if (deleted > 0) {
        const now = this.clock.now();
        const count = await countRecords(trx, id);
        await trx
          .updateTable('evaluation_dataset')
          .set({
            updated_at: now,
            digest: datasetDigest(dataset.name, now),
            profile: count > 0 ? profileJson(count) : null,
          })
          .where('id', '=', id)
          .execute();
      }
      return deleted;
    });
  }

  /** Datasets by id with tags and experiments, in the order of `ids`; unknown ids are left out. */
  async #load(db: Kysely<Database>, ids: string[]): Promise<EvaluationDataset[]> {
    if (ids.length === 0) return [];
    const [rows, tags, links] = await Promise.all([
      db.selectFrom('evaluation_dataset').selectAll().where('id', 'in', ids).execute(),
      db
        .selectFrom('evaluation_dataset_tag')
        .selectAll()
        .where('dataset_id', 'in', ids)
        .orderBy('key')
        .execute(),
      db
        .selectFrom('evaluation_dataset_experiment')
        .select(['dataset_id', 'experiment_id'])
        .where('dataset_id', 'in', ids)
        .orderBy('created_at')
        .orderBy((eb) => eb.fn('length', ['experiment_id']))
        .orderBy('experiment_id')
        .execute(),
    ]);
    const byId = new Map(
      rows.map((r): [string, EvaluationDataset] => [
        r.id,
        {
          id: r.id,
          name: r.name,
          digest: r.digest,
          schema: r.schema,
          profile: r.profile,
          createdBy: r.created_by,
          lastUpdatedBy: r.last_updated_by,
          createdAt: Number(r.created_at),
          updatedAt: Number(r.updated_at),
          tags: {},
          experimentIds: [],
        },
      ]),
    );
    for (const t of tags) {
      const d = byId.get(t.dataset_id);
      if (d !== undefined) d.tags[t.key] = t.value;
    }
    for (const l of links) byId.get(l.dataset_id)?.experimentIds.push(l.experiment_id);
    return ids.flatMap((id) => byId.get(id) ?? []);
  }
}

/** What an upsert knows of a record: one already stored (changed or not) or one it adds. */
type RecordState =
  | { kind: 'existing'; changed: boolean; row: Row<'evaluation_dataset_record'> }
  | { kind: 'new'; row: Row<'evaluation_dataset_record'> };

/** MLflow's dataset digest: the first 8 hex digits of sha256 of `name:last_update_time`. */
export function datasetDigest(name: string, updatedAt: number): string {
  return sha256Hex(`${name}:${updatedAt}`).slice(0, 8);
}

function profileJson(count: number): string {
  return pythonJsonDumps({ num_records: count });
}

async function countRecords(trx: Kysely<Database>, id: string): Promise<number> {
  const row = await trx
    .selectFrom('evaluation_dataset_record')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('dataset_id', '=', id)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Sets the dataset's last update time; false when there is no such dataset. */
async function touch(trx: Kysely<Database>, id: string, now: number): Promise<boolean> {
  const stamped = await trx
    .updateTable('evaluation_dataset')
    .set({ updated_at: now })
    .where('id', '=', id)
    .executeTakeFirst();
  return stamped.numUpdatedRows > 0n;
}

async function mustExist(trx: Kysely<Database>, id: string): Promise<void> {
  const row = await trx
    .selectFrom('evaluation_dataset')
    .select('id')
    .where('id', '=', id)
    .executeTakeFirst();
  if (row === undefined) throw notFound(id);
}

/** NOT_FOUND naming the first experiment that does not exist (deleted ones do, as in MLflow). */
async function mustAllExist(trx: Kysely<Database>, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const found = new Set<string>();
  for (let i = 0; i < ids.length; i += CHUNK) {
    const rows = await trx
      .selectFrom('experiment')
      .select('id')
      .where('id', 'in', ids.slice(i, i + CHUNK))
      .execute();
    for (const r of rows) found.add(r.id);
  }
  const missing = ids.find((e) => !found.has(e));
  if (missing !== undefined)
    throw new MobiusError('NOT_FOUND', `No Experiment with id=${missing} exists`);
}

function newRecordRow(
  datasetId: string,
  r: CheckedRecord,
  now: number,
): Row<'evaluation_dataset_record'> {
  return {
    id: `dr-${randomUUID().replaceAll('-', '')}`,
    dataset_id: datasetId,
    input_hash: r.inputHash,
    inputs: r.inputs,
    // MLflow stores `{}` for outputs the request left out, and null for an explicit null.
    outputs: r.outputs === undefined ? '{}' : r.outputs,
    expectations: r.expectations === null ? null : pythonJsonDumps(r.expectations),
    tags: pythonJsonDumps(r.tags ?? {}),
    source: r.source,
    source_id: r.sourceId,
    source_type: r.sourceType,
    created_by: r.user,
    last_updated_by: r.user,
    created_at: now,
    updated_at: now,
  };
}

/**
 * Merges an upserted record into the stored one with the same inputs, as MLflow's
 * SqlEvaluationDatasetRecord.merge: outputs are replaced when given, expectations and
 * tags merged key by key when non-empty, the source and creation kept.
 */
function mergeRecord(
  row: Row<'evaluation_dataset_record'>,
  r: CheckedRecord,
  now: number,
  index: number,
): void {
  if (r.outputs !== undefined) row.outputs = r.outputs;
  if (r.expectations !== null && Object.keys(r.expectations).length > 0)
    row.expectations = pythonJsonDumps({ ...parseObject(row.expectations), ...r.expectations });
  if (r.tags !== null && Object.keys(r.tags).length > 0)
    row.tags = pythonJsonDumps({ ...parseObject(row.tags), ...r.tags });
  if (r.user !== null) row.last_updated_by = r.user;
  row.updated_at = now;
  const size = recordBytes(row);
  if (size > limits.MAX_EVAL_DATASET_RECORD_BYTES)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `records[${index}] merged into the record with the same inputs makes it ${size} bytes as JSON; the limit is ${limits.MAX_EVAL_DATASET_RECORD_BYTES}`,
    );
}

/** A stored JSON object column, or {} when null or (never written by us) not an object. */
function parseObject(text: string | null): Record<string, unknown> {
  if (text === null) return {};
  const value: unknown = JSON.parse(text);
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function recordBytes(row: Row<'evaluation_dataset_record'>): number {
  return (
    row.inputs.length +
    (row.outputs?.length ?? 0) +
    (row.expectations?.length ?? 0) +
    row.tags.length +
    (row.source?.length ?? 0)
  );
}

function toRecord(row: Row<'evaluation_dataset_record'>): EvaluationDatasetRecord {
  return {
    id: row.id,
    datasetId: row.dataset_id,
    inputs: row.inputs,
    outputs: row.outputs,
    expectations: row.expectations,
    tags: row.tags,
    source: row.source,
    sourceId: row.source_id,
    sourceType: row.source_type,
    createdBy: row.created_by,
    lastUpdatedBy: row.last_updated_by,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** Record page tokens: base64url JSON `{"t": created, "id": record id}`, opaque to clients. */
function encodeRecordCursor(created: number, recordId: string): string {
  return Buffer.from(JSON.stringify({ t: created, id: recordId }), 'utf8').toString('base64url');
}

function decodeRecordCursor(
  token: string | undefined,
): { created: number; recordId: string } | undefined {
  if (token === undefined || token === '') return undefined;
  const bad = () =>
    new MobiusError(
      'INVALID_ARGUMENT',
      'page_token is not one this server issued; pass the next_page_token of the previous page unchanged',
    );
  if (token.length > 300 || !/^[A-Za-z0-9_-]+$/.test(token)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  const { t, id } = (parsed ?? {}) as { t?: unknown; id?: unknown };
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || typeof id !== 'string') throw bad();
  return { created: t, recordId: id };
}

// Checks: everything a request brings is checked here, before a transaction starts.

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A dataset name: a non-empty string of at most MAX_EVAL_DATASET_NAME_LENGTH characters, no control characters. */
export function checkDatasetName(name: unknown): string {
  if (typeof name !== 'string' || name.trim() === '')
    throw new MobiusError('INVALID_ARGUMENT', 'evaluation dataset name must be a non-empty string');
  const normalised = name.normalize('NFC');
  if (normalised.length > limits.MAX_EVAL_DATASET_NAME_LENGTH)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `evaluation dataset name is ${normalised.length} characters; the limit is ${limits.MAX_EVAL_DATASET_NAME_LENGTH}`,
    );
  if (/\p{Cc}/u.test(normalised))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      'evaluation dataset name contains control characters; remove them',
    );
  return normalised;
}

/** Experiment ids of a request: strings (or integers, as older clients send), de-duplicated. */
export function checkExperimentIds(ids: readonly unknown[]): string[] {
  if (ids.length > limits.MAX_EVAL_DATASET_EXPERIMENTS_PER_REQUEST)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${ids.length} experiment ids in one request; the limit is ${limits.MAX_EVAL_DATASET_EXPERIMENTS_PER_REQUEST}`,
    );
  const out = ids.map((v, i) => {
    if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
    if (typeof v !== 'string' || v === '')
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `experiment_ids[${i}] must be an experiment id string, not ${JSON.stringify(v)}`,
      );
    return v;
  });
  return [...new Set(out)];
}

/**
 * Dataset tags: an object of string keys; values are strings, or numbers and booleans
 * stored as Python's str() writes them (MLflow stores str(value)); null values are skipped.
 */
export function checkTags(tags: unknown): Record<string, string> {
  if (!isObject(tags))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `tags must be a JSON object of key to value, not ${JSON.stringify(tags)?.slice(0, 100)}`,
    );
  const entries = Object.entries(tags);
  if (entries.length > limits.MAX_EVAL_DATASET_TAGS_PER_REQUEST)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${entries.length} tags in one request; the limit is ${limits.MAX_EVAL_DATASET_TAGS_PER_REQUEST}`,
    );
  const out: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (key === '' || key.length > limits.MAX_EVAL_DATASET_TAG_KEY_LENGTH)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `tag key '${key.slice(0, 40)}' must be 1 to ${limits.MAX_EVAL_DATASET_TAG_KEY_LENGTH} characters`,
      );
    if (value === null || value === undefined) continue;
    let text: string;
    if (typeof value === 'string') text = value;
    else if (typeof value === 'boolean') text = value ? 'True' : 'False';
    else if (typeof value === 'number') text = pythonJsonDumps(value);
    else
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `tag '${key}' has a ${Array.isArray(value) ? 'list' : 'object'} value; tag values are strings`,
      );
    if (text.length > limits.MAX_EVAL_DATASET_TAG_VALUE_LENGTH)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `tag '${key}' has a value of ${text.length} characters; the limit is ${limits.MAX_EVAL_DATASET_TAG_VALUE_LENGTH}`,
      );
    out[key] = text;
  }
  return out;
}

/**
 * Checks the records of an upsert, as MLflow reads them: `inputs` an object (absent is
 * {}), `expectations` and `tags` objects or null, `outputs` any JSON, `source` an object
 * `{source_type, source_data?}` or empty; other fields are ignored, as MLflow ignores
 * them (a round trip through to_df() carries ids and times along).
 */
export function checkRecords(records: unknown): CheckedRecord[] {
  if (!Array.isArray(records))
    throw new MobiusError('INVALID_ARGUMENT', 'records must be a JSON list of record objects');
  if (records.length > limits.MAX_EVAL_DATASET_RECORDS_PER_REQUEST)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${records.length} records in one request; the limit is ${limits.MAX_EVAL_DATASET_RECORDS_PER_REQUEST}: send them in several`,
    );
  return records.map((record: unknown, i) => checkRecord(record, i));
}

function checkRecord(record: unknown, i: number): CheckedRecord {
  const at = `records[${i}]`;
  const fail = (message: string) => new MobiusError('INVALID_ARGUMENT', `${at}${message}`);
  if (!isObject(record)) throw fail(' must be a JSON object with an inputs object');
  const inputs = record.inputs ?? {};
  if (!isObject(inputs)) throw fail('.inputs must be a JSON object');
  const objectOrNull = (field: string): Record<string, unknown> | null => {
    const v = record[field];
    if (v === undefined || v === null) return null;
    if (!isObject(v)) throw fail(`.${field} must be a JSON object`);
    return v;
  };
  const expectations = objectOrNull('expectations');
  const tags = objectOrNull('tags');
  const user = tags?.[MLFLOW_USER_TAG];

  let source: string | null = null;
  let sourceId: string | null = null;
  let sourceType: RecordSourceType | null = null;
  const rawSource = record.source;
  // MLflow keeps a source only when it is truthy; an empty object means none.
  if (
    rawSource !== undefined &&
    rawSource !== null &&
    !(isObject(rawSource) && Object.keys(rawSource).length === 0)
  ) {
    if (!isObject(rawSource))
      throw fail('.source must be a JSON object {"source_type": …, "source_data": {…}}');
    const extra = Object.keys(rawSource).filter((k) => k !== 'source_type' && k !== 'source_data');
    if (extra.length > 0)
      throw fail(
        `.source has unknown field(s) ${extra.join(', ')}: use source_type and source_data`,
      );
    const type = rawSource.source_type;
    const upper = typeof type === 'string' ? type.toUpperCase() : undefined;
    sourceType = RECORD_SOURCE_TYPES.find((t) => t === upper) ?? null;
    if (sourceType === null)
      throw fail(
        `.source.source_type ${JSON.stringify(type)} is not one of ${RECORD_SOURCE_TYPES.join(', ')}`,
      );
    const data = rawSource.source_data ?? {};
    if (!isObject(data)) throw fail('.source.source_data must be a JSON object');
    source = pythonJsonDumps({ source_type: sourceType, source_data: data });
    // A trace names its record by trace id, anything else by source_id (DatasetRecord).
    const idValue = sourceType === 'TRACE' ? data.trace_id : data.source_id;
    sourceId =
      typeof idValue === 'string' ? idValue : typeof idValue === 'number' ? String(idValue) : null;
  }

  const inputsText = pythonJsonDumps(inputs);
  const outputs =
    'outputs' in record
      ? record.outputs === null
        ? null
        : pythonJsonDumps(record.outputs)
      : undefined;
  const size =
    inputsText.length +
    (outputs?.length ?? 0) +
    (expectations === null ? 0 : pythonJsonDumps(expectations).length) +
    (tags === null ? 2 : pythonJsonDumps(tags).length) +
    (source?.length ?? 0);
  if (size > limits.MAX_EVAL_DATASET_RECORD_BYTES)
    throw fail(` is ${size} bytes as JSON; the limit is ${limits.MAX_EVAL_DATASET_RECORD_BYTES}`);
  return {
    inputHash: sha256Hex(pythonJsonDumps(inputs, { sortKeys: true })),
    inputs: inputsText,
    outputs,
    expectations,
    tags,
    source,
    sourceId,
    sourceType,
    user: typeof user === 'string' ? user : null,
    raw: record,
  };
}

/** MLflow's _infer_field_type, over parsed JSON (where 1.0 has become 1, an "integer"). */
function fieldType(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'float';
  if (typeof value === 'string') return 'string';
  if (Array.isArray(value)) return 'array';
  return 'object';
}

/**
 * The dataset schema after an upsert (MLflow's _update_dataset_schema): the type of
 * every inputs, outputs and expectations field seen first, kept once seen. Null when
 * there are neither records nor a schema yet.
 */
export function mergeSchema(
  existing: string | null,
  records: readonly Record<string, unknown>[],
): Record<string, unknown> | null {
  if (records.length === 0 && existing === null) return null;
  const schema: Record<string, unknown> =
    existing === null
      ? { inputs: {}, outputs: {}, expectations: {}, version: '1.0' }
      : parseObject(existing);
  const section = (name: string): Record<string, unknown> | undefined => {
    const s = schema[name];
    if (s === undefined) {
      const created: Record<string, unknown> = {};
      schema[name] = created;
      return created;
    }
    return isObject(s) ? s : undefined;
  };
  const addFields = (name: string, value: unknown) => {
    if (!isObject(value) || Object.keys(value).length === 0) return;
    const target = section(name);
    if (target === undefined) return;
    for (const [key, v] of Object.entries(value)) if (!(key in target)) target[key] = fieldType(v);
  };
  for (const record of records) {
    addFields('inputs', record.inputs);
    const outputs = record.outputs;
    if (outputs !== undefined && outputs !== null) {
      if (isObject(outputs)) addFields('outputs', outputs);
      else {
        // Outputs that are not an object (a string answer) give the section itself a type.
        const current = schema.outputs;
        if (current === undefined || (isObject(current) && Object.keys(current).length === 0))
          schema.outputs = fieldType(outputs);
      }
    }
    addFields('expectations', record.expectations);
  }
  return schema;
}
