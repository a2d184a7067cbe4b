/**
 * Traces: MLflow 3's record of one request through a GenAI application — a trace with
 * its tags and metadata, and its spans. Spans arrive over OTLP as they end (logSpans),
 * the client then registers the finished trace (start, MLflow's "StartTraceV3", which
 * it calls at the *end* of a trace); either may come first, and both merge into one
 * trace. MLflow 2's clients start and end a trace in two calls (startV2 / endV2).
 *
 * Behaviour follows MLflow 3.17's SQL store (sqlalchemy_store.py): the same defaults,
 * merges and messages, except where a comment says otherwise.
 */
import { MobiusError, limits } from '../../core/index.js';
import {
  sql,
  type Database,
  type Row,
  type Store,
  type TraceState,
  type Transaction,
} from '../../store/index.js';
import { decodePageToken, encodePageToken } from '../search/index.js';
import { activeExperimentRoot } from '../experiments.js';
import { newRunId } from '../ids.js';
import type { ArtifactService } from '../artifacts.js';
import {
  compileTraceFilter,
  parseTraceFilter,
  parseTraceOrderBy,
  TRACE_NAME_TAG,
} from './trace-filter.js';
import type { IncomingSpan } from './otlp.js';
import { SPAN_ATTRIBUTES, attributeValue, nanosToMillis, type SpanDict } from './span.js';

/** Tags and metadata keys Mobius (like MLflow) writes and reads with meaning. */
export const TRACE_KEYS = {
  /** Where the trace's files (traces.json, attachments) live: `<experiment root>/traces/<id>/artifacts`. */
  artifactLocation: 'mlflow.artifactLocation',
  /** `TRACKING_STORE` once spans are stored in the database rather than as traces.json. */
  spansLocation: 'mlflow.trace.spansLocation',
  /** Set when the client registered the finished trace; spans arriving later no longer move its times. */
  infoFinalized: 'mlflow.trace.infoFinalized',
  /** The run a trace was recorded in. */
  sourceRun: 'mlflow.sourceRun',
  /** JSON with `num_spans`, which tells a partial trace from a complete one. */
  sizeStats: 'mlflow.trace.sizeStats',
} as const;

const SPANS_IN_STORE = 'TRACKING_STORE';
/** Tags only the server writes: changing them would point reads at the wrong spans. */
const SERVER_TAGS = new Set<string>([TRACE_KEYS.artifactLocation, TRACE_KEYS.spansLocation]);
const STATES: readonly TraceState[] = ['OK', 'ERROR', 'IN_PROGRESS', 'STATE_UNSPECIFIED'];

/** A trace without its spans. Times are ms since the epoch. */
export interface TraceInfo {
  traceId: string;
  experimentId: string;
  clientRequestId: string | null;
  requestTime: number;
  executionDuration: number | null;
  state: TraceState;
  requestPreview: string | null;
  responsePreview: string | null;
  metadata: Record<string, string>;
  tags: Record<string, string>;
}

/** A trace and its spans (MLflow's span dicts), spans in start order. */
export interface Trace {
  info: TraceInfo;
  spans: SpanDict[];
}

/** What a client registers as a finished trace (MLflow's StartTraceV3). */
export interface StartTraceInput {
  traceId: string;
  experimentId: string;
  clientRequestId?: string | null | undefined;
  requestTime: number;
  executionDuration?: number | null | undefined;
  state?: TraceState | undefined;
  requestPreview?: string | null | undefined;
  responsePreview?: string | null | undefined;
  metadata?: Record<string, string> | undefined;
  tags?: Record<string, string> | undefined;
}

/** A trace search: experiments, filter, order and a page. */
export interface SearchTracesInput {
  experimentIds: readonly string[];
  filter?: string | undefined;
  orderBy?: readonly string[] | undefined;
  maxResults?: number | undefined;
  pageToken?: string | undefined;
}

/** What delete-traces removes: the traces named, or the oldest ones up to a time. */
export interface DeleteTracesInput {
  experimentId: string;
  traceIds?: readonly string[] | undefined;
  maxTimestampMillis?: number | undefined;
  maxTraces?: number | undefined;
}

/** Records, reads, searches and deletes traces. */
export class TraceService {
  constructor(
    private readonly store: Store,
    private readonly artifacts: ArtifactService,
  ) {}

  /**
   * Stores spans sent over OTLP for an experiment, creating the traces they belong to
   * if the client has not registered them yet, and widening each trace's time span to
   * cover them. All spans are stored in one transaction or none are. Returns the ids of
   * the traces touched.
   *
   * @example
   * await traces.logSpans('1', decodeExportRequest(body, false));
   */
  async logSpans(experimentId: string, spans: readonly IncomingSpan[]): Promise<string[]> {
    const byTrace = new Map<string, IncomingSpan[]>();
    // Traces in id order, so concurrent exports lock rows in one order (no deadlocks).
    for (const span of [...spans].sort((a, b) =>
      a.traceId < b.traceId ? -1 : a.traceId > b.traceId ? 1 : 0,
    )) {
      const list = byTrace.get(span.traceId) ?? [];
      list.push(span);
      byTrace.set(span.traceId, list);
    }
    await this.store.write(async (trx) => {
      let root: string | undefined;
      for (const [traceId, traceSpans] of byTrace) {
        const starts = traceSpans.map((s) => nanosToMillis(s.dict.start_time_unix_nano));
        const ends = traceSpans.flatMap((s) =>
          s.dict.end_time_unix_nano === null ? [] : [nanosToMillis(s.dict.end_time_unix_nano)],
        );
        const minStart = Math.min(...starts);
        const maxEnd = ends.length === 0 ? null : Math.max(...ends);
        const rootSpan = traceSpans.find((s) => s.parentSpanId === null);
        const rootState: TraceState | undefined =
          rootSpan === undefined
            ? undefined
            : rootSpan.dict.status.code === 'STATUS_CODE_ERROR'
              ? 'ERROR'
              : 'OK';
        // Spans of one trace arrive on concurrent requests (MLflow's client exports each as
        // it ends, from a queue of workers), and the trace's registration races them: on
        // PostgreSQL the row is locked for the read-merge-write, and creation tolerates a
        // concurrent creator, so no request fails and no widening is lost.
        const lockRow = () => {
          const q = trx.selectFrom('trace_info').selectAll().where('trace_id', '=', traceId);
          return (this.store.dialect === 'postgres' ? q.forUpdate() : q).executeTakeFirst();
        };
        let existing = await lockRow();
        if (existing === undefined) {
          root ??= await activeExperimentRoot(trx, experimentId);
          const inserted = await trx
            .insertInto('trace_info')
            .values({
              trace_id: traceId,
              experiment_id: experimentId,
              client_request_id: null,
              request_time: minStart,
              execution_duration: maxEnd === null ? null : maxEnd - minStart,
              state: rootState ?? 'IN_PROGRESS',
              ...previews(rootSpan),
            })
            .onConflict((oc) => oc.column('trace_id').doNothing())
            .executeTakeFirst();
          if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0)
            await upsertKeyValues(trx, 'trace_tag', traceId, {
              [TRACE_KEYS.artifactLocation]: traceArtifactLocation(root, traceId),
            });
          else existing = await lockRow();
        }
        if (existing !== undefined) {
          const finalized = await trx
            .selectFrom('trace_metadata')
            .select('value')
            .where('trace_id', '=', traceId)
            .where('key', '=', TRACE_KEYS.infoFinalized)
            .executeTakeFirst();
          const update: Partial<Row<'trace_info'>> = {};
          if (finalized === undefined) {
            const start = Math.min(existing.request_time, minStart);
            const oldEnd =
              existing.execution_duration === null
                ? null
                : existing.request_time + existing.execution_duration;
            const end = maxEnd === null ? oldEnd : Math.max(oldEnd ?? maxEnd, maxEnd);
            update.request_time = start;
            update.execution_duration = end === null ? null : end - start;
          }
          if (
            rootState !== undefined &&
            (existing.state === 'IN_PROGRESS' || existing.state === 'STATE_UNSPECIFIED')
          )
            update.state = rootState;
          const p = previews(rootSpan);
          if (existing.request_preview === null && p.request_preview !== null)
            update.request_preview = p.request_preview;
          if (existing.response_preview === null && p.response_preview !== null)
            update.response_preview = p.response_preview;
          if (Object.keys(update).length > 0)
            await trx
              .updateTable('trace_info')
              .set(update)
              .where('trace_id', '=', traceId)
              .execute();
        }
        for (const span of traceSpans) {
          const type = attributeValue(span.dict.attributes[SPAN_ATTRIBUTES.spanType]);
          const row = {
            trace_id: traceId,
            span_id: span.spanId,
            parent_span_id: span.parentSpanId,
            name: span.dict.name,
            span_type: typeof type === 'string' ? type : null,
            status: spanStatus(span.dict),
            start_time_ms: nanosToMillis(span.dict.start_time_unix_nano),
            end_time_ms:
              span.dict.end_time_unix_nano === null
                ? null
                : nanosToMillis(span.dict.end_time_unix_nano),
            content: JSON.stringify(span.dict),
          };
          await trx
            .insertInto('trace_span')
            .values(row)
            .onConflict((oc) =>
              oc.columns(['trace_id', 'span_id']).doUpdateSet({
                parent_span_id: row.parent_span_id,
                name: row.name,
                span_type: row.span_type,
                status: row.status,
                start_time_ms: row.start_time_ms,
                end_time_ms: row.end_time_ms,
                content: row.content,
              }),
            )
            .execute();
        }
        // Resource attributes of an external OpenTelemetry client (service.name, …) become
        // tags, as on MLflow's server; the SDK's own and MLflow's are not repeated.
        const resourceTags: Record<string, string> = { [TRACE_KEYS.spansLocation]: SPANS_IN_STORE };
        for (const [key, value] of Object.entries(traceSpans[0]?.resource ?? {})) {
          if (key.startsWith('telemetry.sdk.') || key.startsWith('mlflow.') || key === '') continue;
          if (key.length > limits.MAX_TRACE_TAG_KEY_LENGTH) continue;
          const text = typeof value === 'string' ? value : JSON.stringify(value);
          resourceTags[key] = text.slice(0, limits.MAX_TRACE_TAG_VALUE_LENGTH);
        }
        await upsertKeyValues(trx, 'trace_tag', traceId, resourceTags);
      }
    });
    return [...byTrace.keys()];
  }

  /**
   * Registers a finished trace (MLflow's StartTraceV3), or completes one whose spans
   * arrived first: the client's times, state and previews win, tags and metadata merge.
   */
  async start(input: StartTraceInput): Promise<TraceInfo> {
    const traceId = checkTraceId(input.traceId);
    const tags = checkTags(input.tags ?? {});
    const metadata = checkMetadata(input.metadata ?? {});
    const state = input.state ?? 'STATE_UNSPECIFIED';
    if (!STATES.includes(state))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `trace state '${String(state)}' is not one of ${STATES.join(', ')}`,
      );
    metadata[TRACE_KEYS.infoFinalized] = 'true';
    await this.store.write(async (trx) => {
      const root = await activeExperimentRoot(trx, input.experimentId);
      const row = {
        experiment_id: input.experimentId,
        client_request_id: input.clientRequestId ?? null,
        request_time: input.requestTime,
        execution_duration: input.executionDuration ?? null,
        state,
      };
      // Spans sent over OTLP may have created the trace, also concurrently with this.
      const inserted = await trx
        .insertInto('trace_info')
        .values({
          trace_id: traceId,
          ...row,
          request_preview: input.requestPreview ?? null,
          response_preview: input.responsePreview ?? null,
        })
        .onConflict((oc) => oc.column('trace_id').doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) {
        await trx
          .updateTable('trace_info')
          .set({
            ...row,
            ...(input.requestPreview == null ? {} : { request_preview: input.requestPreview }),
            ...(input.responsePreview == null ? {} : { response_preview: input.responsePreview }),
          })
          .where('trace_id', '=', traceId)
          .execute();
      }
      await upsertKeyValues(trx, 'trace_tag', traceId, {
        ...tags,
        [TRACE_KEYS.artifactLocation]: traceArtifactLocation(root, traceId),
      });
      await upsertKeyValues(trx, 'trace_metadata', traceId, metadata);
    });
    return this.getInfo(traceId);
  }

  /** MLflow 2's start-trace: a new trace in progress, with a server-made id. */
  async startV2(input: {
    experimentId: string;
    timestampMs: number;
    metadata?: Record<string, string> | undefined;
    tags?: Record<string, string> | undefined;
  }): Promise<TraceInfo> {
    const traceId = newRunId();
    const tags = checkTags(input.tags ?? {});
    const metadata = checkMetadata(input.metadata ?? {});
    await this.store.write(async (trx) => {
      const root = await activeExperimentRoot(trx, input.experimentId);
      await trx
        .insertInto('trace_info')
        .values({
          trace_id: traceId,
          experiment_id: input.experimentId,
          client_request_id: null,
          request_time: input.timestampMs,
          execution_duration: null,
          state: 'IN_PROGRESS',
          request_preview: null,
          response_preview: null,
        })
        .execute();
      await upsertKeyValues(trx, 'trace_tag', traceId, {
        ...tags,
        [TRACE_KEYS.artifactLocation]: traceArtifactLocation(root, traceId),
      });
      await upsertKeyValues(trx, 'trace_metadata', traceId, metadata);
    });
    return this.getInfo(traceId);
  }

  /** MLflow 2's end-trace: its duration and state, and more tags and metadata merged in. */
  async endV2(
    traceId: string,
    input: {
      timestampMs: number;
      state: TraceState;
      metadata?: Record<string, string> | undefined;
      tags?: Record<string, string> | undefined;
    },
  ): Promise<TraceInfo> {
    const tags = checkTags(input.tags ?? {});
    const metadata = checkMetadata(input.metadata ?? {});
    await this.store.write(async (trx) => {
      const row = await trx
        .selectFrom('trace_info')
        .select('request_time')
        .where('trace_id', '=', traceId)
        .executeTakeFirst();
      if (row === undefined) throw traceNotFound(traceId);
      await trx
        .updateTable('trace_info')
        .set({ execution_duration: input.timestampMs - row.request_time, state: input.state })
        .where('trace_id', '=', traceId)
        .execute();
      await upsertKeyValues(trx, 'trace_tag', traceId, tags);
      await upsertKeyValues(trx, 'trace_metadata', traceId, metadata);
    });
    return this.getInfo(traceId);
  }

  /** A trace's info; NOT_FOUND in MLflow's words when there is none. */
  async getInfo(traceId: string): Promise<TraceInfo> {
    const [info] = await this.#infos([traceId]);
    if (info === undefined) throw traceNotFound(traceId);
    return info;
  }

  /** Trace infos by id, in the order asked; unknown ids are left out. */
  async getInfos(traceIds: readonly string[]): Promise<TraceInfo[]> {
    const infos = await this.#infos(traceIds);
    const byId = new Map(infos.map((i) => [i.traceId, i]));
    return [...new Set(traceIds)].flatMap((id) => byId.get(id) ?? []);
  }

  /**
   * A trace with its spans: from the database when they were sent over OTLP, otherwise
   * from the `traces.json` the client uploaded to the trace's artifact location. Unless
   * `allowPartial`, a trace whose spans have not all arrived is NOT_FOUND, as on MLflow.
   */
  async get(traceId: string, options: { allowPartial?: boolean } = {}): Promise<Trace> {
    const info = await this.getInfo(traceId);
    let spans: SpanDict[];
    if (info.tags[TRACE_KEYS.spansLocation] === SPANS_IN_STORE) {
      const rows = await this.store.db
        .selectFrom('trace_span')
        .select('content')
        .where('trace_id', '=', traceId)
        .orderBy('start_time_ms')
        .orderBy('span_id')
        .execute();
      spans = rows.map((r) => JSON.parse(r.content) as SpanDict);
    } else {
      spans = await this.#spansFromArtifact(info);
    }
    if (options.allowPartial !== true && !isComplete(info, spans))
      throw new MobiusError(
        'NOT_FOUND',
        `Trace with ID ${traceId} is not fully exported yet, please try again later.`,
      );
    return { info, spans };
  }

  /** The spans of traces by id (batch get), with their infos; unknown ids left out. */
  async getMany(traceIds: readonly string[]): Promise<Trace[]> {
    const out: Trace[] = [];
    for (const info of await this.getInfos(traceIds))
      out.push(await this.get(info.traceId, { allowPartial: true }));
    return out;
  }

  /** A page of trace infos, newest first unless ordered otherwise. */
  async search(input: SearchTracesInput): Promise<{ traces: TraceInfo[]; nextPageToken?: string }> {
    const experimentIds = [...new Set(input.experimentIds)];
    if (experimentIds.length === 0)
      throw new MobiusError('INVALID_ARGUMENT', 'search traces needs at least one experiment id');
    const maxResults = input.maxResults ?? limits.SEARCH_TRACES_DEFAULT;
    if (
      !Number.isSafeInteger(maxResults) ||
      maxResults < 1 ||
      maxResults > limits.SEARCH_TRACES_MAX
    )
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `max_results must be between 1 and ${limits.SEARCH_TRACES_MAX}, not ${maxResults}`,
      );
    const comparisons = parseTraceFilter(input.filter);
    const order = parseTraceOrderBy(input.orderBy ?? []);
    const offset = decodePageToken(input.pageToken);
    let query = this.store.db
      .selectFrom('trace_info')
      .select('trace_info.trace_id')
      .where('trace_info.experiment_id', 'in', experimentIds);
    if (comparisons.length > 0)
      query = query.where((eb) => compileTraceFilter(eb, comparisons, this.store.dialect));
    for (const o of order)
      query = query.orderBy(`trace_info.${o.column}`, o.descending ? 'desc' : 'asc');
    const rows = await query
      .limit(maxResults + 1)
      .offset(offset)
      .execute();
    const more = rows.length > maxResults;
    const traces = await this.getInfos(rows.slice(0, maxResults).map((r) => r.trace_id));
    return more ? { traces, nextPageToken: encodePageToken(offset + maxResults) } : { traces };
  }

  /**
   * Deletes the traces named, or the oldest (up to `maxTraces`) started at or before
   * `maxTimestampMillis`, of one experiment; returns how many went.
   */
  async delete(input: DeleteTracesInput): Promise<number> {
    const byIds = input.traceIds !== undefined && input.traceIds.length > 0;
    const byTime = input.maxTimestampMillis !== undefined;
    if (byIds === byTime)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        'Exactly one of `max_timestamp_millis` and `request_ids` must be specified.',
      );
    if (byIds && input.maxTraces !== undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        '`request_ids` can not be specified along with `max_traces`.',
      );
    if (byIds && input.traceIds!.length > limits.MAX_DELETE_TRACE_IDS)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `delete at most ${limits.MAX_DELETE_TRACE_IDS} traces per request, not ${input.traceIds!.length}`,
      );
    if (input.maxTraces !== undefined && input.maxTraces < 1)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `max_traces must be positive, not ${input.maxTraces}`,
      );
    return this.store.write(async (trx) => {
      let select = trx
        .selectFrom('trace_info')
        .select('trace_id')
        .where('experiment_id', '=', input.experimentId);
      if (byIds) select = select.where('trace_id', 'in', [...new Set(input.traceIds)]);
      else {
        select = select
          .where('request_time', '<=', input.maxTimestampMillis!)
          .orderBy('request_time')
          .orderBy('trace_id');
        if (input.maxTraces !== undefined) select = select.limit(input.maxTraces);
      }
      const ids = (await select.execute()).map((r) => r.trace_id);
      let deleted = 0;
      for (let i = 0; i < ids.length; i += limits.MAX_ROWS_PER_INSERT) {
        const chunk = ids.slice(i, i + limits.MAX_ROWS_PER_INSERT);
        // Children first: SQLite enforces the cascades only with foreign keys on, and
        // explicit deletes keep both backends identical either way.
        for (const table of [
          'trace_span',
          'trace_tag',
          'trace_metadata',
          'trace_run_link',
        ] as const)
          await trx.deleteFrom(table).where('trace_id', 'in', chunk).execute();
        const result = await trx
          .deleteFrom('trace_info')
          .where('trace_id', 'in', chunk)
          .executeTakeFirst();
        deleted += Number(result.numDeletedRows);
      }
      return deleted;
    });
  }

  /** Sets a tag; values longer than MLflow's limit are cut to it, as MLflow does. */
  async setTag(traceId: string, key: string, value: string): Promise<void> {
    const [k, v] = checkTag(key, value);
    if (SERVER_TAGS.has(k))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `Tag '${k}' is immutable and cannot be set on a trace.`,
      );
    await this.store.write(async (trx) => {
      await requireTrace(trx, traceId);
      await upsertKeyValues(trx, 'trace_tag', traceId, { [k]: v });
    });
  }

  /** Deletes a tag; NOT_FOUND when the trace has no such tag. */
  async deleteTag(traceId: string, key: string): Promise<void> {
    if (SERVER_TAGS.has(key))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `Tag '${key}' is immutable and cannot be deleted on a trace.`,
      );
    await this.store.write(async (trx) => {
      await requireTrace(trx, traceId);
      const result = await trx
        .deleteFrom('trace_tag')
        .where('trace_id', '=', traceId)
        .where('key', '=', key)
        .executeTakeFirst();
      if (Number(result.numDeletedRows) === 0)
        throw new MobiusError(
          'NOT_FOUND',
          `No trace tag with key '${key}' for trace with ID '${traceId}'`,
        );
    });
  }

  /** Links traces to a run (both must exist); linking twice is one link. */
  async linkToRun(traceIds: readonly string[], runId: string): Promise<void> {
    const ids = [...new Set(traceIds)];
    if (ids.length > limits.MAX_LINK_TRACES)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `Cannot link more than ${limits.MAX_LINK_TRACES} traces to a run in a single request. Provided ${ids.length} traces.`,
      );
    if (ids.length === 0) return;
    await this.store.write(async (trx) => {
      const run = await trx
        .selectFrom('run')
        .select('id')
        .where('id', '=', runId)
        .executeTakeFirst();
      if (run === undefined) throw new MobiusError('NOT_FOUND', `Run with id=${runId} not found`);
      const found = await trx
        .selectFrom('trace_info')
        .select('trace_id')
        .where('trace_id', 'in', ids)
        .execute();
      const missing = ids.filter((id) => !found.some((f) => f.trace_id === id));
      if (missing.length > 0) throw traceNotFound(missing[0]!);
      await trx
        .insertInto('trace_run_link')
        .values(ids.map((trace_id) => ({ trace_id, run_id: runId })))
        .onConflict((oc) => oc.columns(['trace_id', 'run_id']).doNothing())
        .execute();
    });
  }

  /** The run ids each trace is linked to (lineage reads these). */
  async linkedRuns(traceId: string): Promise<string[]> {
    const rows = await this.store.db
      .selectFrom('trace_run_link')
      .select('run_id')
      .where('trace_id', '=', traceId)
      .orderBy('run_id')
      .execute();
    return rows.map((r) => r.run_id);
  }

  async #infos(traceIds: readonly string[]): Promise<TraceInfo[]> {
    const ids = [...new Set(traceIds)];
    if (ids.length === 0) return [];
    const [rows, tags, metadata] = await Promise.all([
      this.store.db.selectFrom('trace_info').selectAll().where('trace_id', 'in', ids).execute(),
      this.store.db.selectFrom('trace_tag').selectAll().where('trace_id', 'in', ids).execute(),
      this.store.db.selectFrom('trace_metadata').selectAll().where('trace_id', 'in', ids).execute(),
    ]);
    const group = (kvs: { trace_id: string; key: string; value: string }[]) => {
      const out = new Map<string, Record<string, string>>();
      for (const kv of kvs) {
        const record = out.get(kv.trace_id) ?? {};
        record[kv.key] = kv.value;
        out.set(kv.trace_id, record);
      }
      return out;
    };
    const tagsOf = group(tags);
    const metadataOf = group(metadata);
    return rows.map((r) => ({
      traceId: r.trace_id,
      experimentId: r.experiment_id,
      clientRequestId: r.client_request_id,
      requestTime: Number(r.request_time),
      executionDuration: r.execution_duration === null ? null : Number(r.execution_duration),
      state: r.state,
      requestPreview: r.request_preview,
      responsePreview: r.response_preview,
      metadata: metadataOf.get(r.trace_id) ?? {},
      tags: tagsOf.get(r.trace_id) ?? {},
    }));
  }

  /** Spans from the trace's traces.json artifact, when the client uploaded one. */
  async #spansFromArtifact(info: TraceInfo): Promise<SpanDict[]> {
    const location = info.tags[TRACE_KEYS.artifactLocation];
    const match = location === undefined ? null : /^mlflow-artifacts:\/*(.*)$/.exec(location);
    if (match === null) return [];
    let file;
    try {
      file = await this.artifacts.open(`${match[1]!.replace(/\/+$/, '')}/traces.json`);
    } catch (error) {
      if ((error as MobiusError).code === 'NOT_FOUND') return [];
      throw error;
    }
    if (file.size > limits.MAX_OTLP_BODY_BYTES * 4)
      throw new MobiusError(
        'RESOURCE_EXHAUSTED',
        `the trace data of ${info.traceId} is too large to read`,
      );
    const chunks: Buffer[] = [];
    for await (const chunk of file.stream) chunks.push(chunk as Buffer);
    try {
      const data = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { spans?: unknown };
      return Array.isArray(data.spans) ? (data.spans as SpanDict[]) : [];
    } catch (cause) {
      throw new MobiusError('INTERNAL', `the trace data of ${info.traceId} is not valid JSON`, {
        cause,
      });
    }
  }
}

/** `<experiment artifact root>/traces/<trace id>/artifacts`, as MLflow's store places it. */
export function traceArtifactLocation(experimentRoot: string, traceId: string): string {
  return `${experimentRoot}/traces/${traceId}/artifacts`;
}

function traceNotFound(traceId: string): MobiusError {
  return new MobiusError('NOT_FOUND', `Trace with ID '${traceId}' not found.`);
}

async function requireTrace(trx: Transaction<Database>, traceId: string): Promise<void> {
  const row = await trx
    .selectFrom('trace_info')
    .select('trace_id')
    .where('trace_id', '=', traceId)
    .executeTakeFirst();
  if (row === undefined) throw traceNotFound(traceId);
}

/** Inserts or overwrites key/value rows of one trace. */
async function upsertKeyValues(
  trx: Transaction<Database>,
  table: 'trace_tag' | 'trace_metadata',
  traceId: string,
  values: Record<string, string>,
): Promise<void> {
  const rows = Object.entries(values).map(([key, value]) => ({ trace_id: traceId, key, value }));
  for (let i = 0; i < rows.length; i += limits.MAX_ROWS_PER_INSERT) {
    await trx
      .insertInto(table)
      .values(rows.slice(i, i + limits.MAX_ROWS_PER_INSERT))
      .onConflict((oc) =>
        oc.columns(['trace_id', 'key']).doUpdateSet({ value: sql`excluded.value` }),
      )
      .execute();
  }
}

function checkTraceId(traceId: string): string {
  if (traceId === '' || traceId.length > 128 || !/^[\w.:\-/]+$/.test(traceId))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `trace id '${traceId.slice(0, 140)}' is not valid: use up to 128 letters, digits, '_', '-', '.', ':' or '/'`,
    );
  return traceId;
}

/** MLflow's trace tag rules: key ≤ 250 characters, value cut to 8,000. */
function checkTag(key: string, value: string): [string, string] {
  if (key === '') throw new MobiusError('INVALID_ARGUMENT', 'a trace tag key must not be empty');
  if (key.length > limits.MAX_TRACE_TAG_KEY_LENGTH)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `trace tag key '${key.slice(0, 40)}…' is ${key.length} characters; the limit is ${limits.MAX_TRACE_TAG_KEY_LENGTH}`,
    );
  return [key, value.slice(0, limits.MAX_TRACE_TAG_VALUE_LENGTH)];
}

function checkTags(tags: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(tags)) {
    const [k, v] = checkTag(key, value);
    // The server decides where spans and files live; a client's value is not kept.
    if (!SERVER_TAGS.has(k)) out[k] = v;
  }
  return out;
}

function checkMetadata(metadata: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (key === '' || key.length > limits.MAX_TRACE_METADATA_KEY_LENGTH)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `trace metadata key '${key.slice(0, 40)}' must be 1 to ${limits.MAX_TRACE_METADATA_KEY_LENGTH} characters`,
      );
    out[key] = value.slice(0, limits.MAX_TRACE_METADATA_VALUE_LENGTH);
  }
  return out;
}

/** The request/response previews a root span gives its trace (its inputs and outputs). */
function previews(root: IncomingSpan | undefined): {
  request_preview: string | null;
  response_preview: string | null;
} {
  // A string input previews as itself, anything else as its JSON (as MLflow's UI shows).
  const cut = (text: string | undefined) => {
    if (text === undefined) return null;
    const value = attributeValue(text);
    return (typeof value === 'string' ? value : text).slice(0, limits.TRACE_PREVIEW_LENGTH);
  };
  return {
    request_preview: cut(root?.dict.attributes[SPAN_ATTRIBUTES.inputs]),
    response_preview: cut(root?.dict.attributes[SPAN_ATTRIBUTES.outputs]),
  };
}

function spanStatus(span: SpanDict): 'OK' | 'ERROR' | 'UNSET' {
  switch (span.status.code) {
    case 'STATUS_CODE_OK':
      return 'OK';
    case 'STATUS_CODE_ERROR':
      return 'ERROR';
    case 'STATUS_CODE_UNSET':
      return 'UNSET';
  }
}

/**
 * Whether all of a trace's spans are here: as many as the client's size stats say it
 * sent, or — without those — a root span, or a trace that is no longer in progress.
 */
function isComplete(info: TraceInfo, spans: readonly SpanDict[]): boolean {
  const stats = attributeValue(info.metadata[TRACE_KEYS.sizeStats]);
  const expected = (stats as { num_spans?: unknown } | undefined)?.num_spans;
  if (typeof expected === 'number') return spans.length >= expected;
  if (spans.length === 0) return info.state !== 'IN_PROGRESS';
  return spans.some((s) => s.parent_span_id === null) || info.state !== 'IN_PROGRESS';
}

export { TRACE_NAME_TAG };
