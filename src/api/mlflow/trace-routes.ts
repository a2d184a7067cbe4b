/**
 * MLflow's trace endpoints over Mobius' trace domain (src/tracking/traces): MLflow 3's
 * under /api/3.0/mlflow (start, get info, get with spans, search, batch get, delete,
 * tags), MLflow 2's under /api/2.0/mlflow (start/end, get info, search, tags, delete,
 * link-to-run), and the UI's `get-trace-artifact` download of a trace's spans.
 */
import type { FastifyInstance } from 'fastify';
import { MobiusError } from '../../core/index.js';
import type { MobiusContext } from '../../context/index.js';
import type { TraceInfo } from '../../tracking/index.js';
import { requireRole } from '../auth.js';
import { mlflowRoute } from './tracking-routes.js';
import {
  otelSpanJson,
  parseDuration,
  parseStringMap,
  parseTimestamp,
  parseTraceState,
  traceInfoV2Json,
  traceInfoV3Json,
} from './trace-wire.js';
import { invalidValue, missingValue, parseKeyValues, type Fields } from './wire.js';

const V2 = ['/api/2.0/mlflow/', '/ajax-api/2.0/mlflow/'] as const;
const V3 = ['/api/3.0/mlflow/', '/ajax-api/3.0/mlflow/'] as const;

/** `[{key, value}]` → record (MLflow 2's TraceRequestMetadata and TraceTag lists). */
function pairs(f: Fields, name: string): Record<string, string> {
  return Object.fromEntries(parseKeyValues(f.list(name), name).map((kv) => [kv.key, kv.value]));
}

/** A list of string ids from a request. */
function ids(f: Fields, name: string): string[] {
  return f.list(name).map((v, i) => {
    if (typeof v !== 'string' || v === '') throw invalidValue(`${name}[${i}]`, v, 'a string');
    return v;
  });
}

/** An optional boolean field (query strings send "true"/"false"). */
function bool(f: Fields, name: string): boolean {
  const v = f.raw(name);
  if (v === undefined || v === null || v === '') return false;
  if (v === true || v === 'true' || v === 'True') return true;
  if (v === false || v === 'false' || v === 'False') return false;
  throw invalidValue(name, v, 'a boolean');
}

/** All trace endpoints. */
export function registerMlflowTraceRoutes(app: FastifyInstance, ctx: MobiusContext): void {
  const { traces } = ctx.tracking;
  /** One page of a trace search (MLflow 2 and 3 alike), each trace in `toJson`'s wire form. */
  const searchPage = async (
    f: Fields,
    experimentIds: string[],
    toJson: (info: TraceInfo) => unknown,
  ): Promise<{ traces: unknown[]; next_page_token?: string }> => {
    const page = await traces.search({
      experimentIds,
      filter: f.str('filter', 'optional'),
      orderBy: f.list('order_by').map(String),
      maxResults: f.int('max_results'),
      pageToken: f.str('page_token', 'optional'),
    });
    return {
      traces: page.traces.map(toJson),
      ...(page.nextPageToken === undefined ? {} : { next_page_token: page.nextPageToken }),
    };
  };

  // ---- MLflow 3 ----
  mlflowRoute(
    app,
    ['POST'],
    'traces',
    async (f) => {
      const trace = f.raw('trace');
      if (typeof trace !== 'object' || trace === null) throw missingValue('trace');
      const info = (trace as { trace_info?: unknown }).trace_info;
      if (typeof info !== 'object' || info === null) throw missingValue('trace.trace_info');
      const i = info as Record<string, unknown>;
      const location = i.trace_location as
        { mlflow_experiment?: { experiment_id?: unknown } } | undefined;
      const experimentId = location?.mlflow_experiment?.experiment_id;
      if (typeof experimentId !== 'string' || experimentId === '')
        throw missingValue('trace.trace_info.trace_location.mlflow_experiment.experiment_id');
      const text = (name: string): string | undefined => {
        const v = i[name];
        if (v === undefined || v === null || v === '') return undefined;
        if (typeof v !== 'string') throw invalidValue(`trace.trace_info.${name}`, v, 'a string');
        return v;
      };
      const traceId = text('trace_id');
      if (traceId === undefined) throw missingValue('trace.trace_info.trace_id');
      const created = await traces.start({
        traceId,
        experimentId,
        clientRequestId: text('client_request_id'),
        requestTime:
          i.request_time === undefined
            ? 0
            : parseTimestamp(i.request_time, 'trace.trace_info.request_time'),
        executionDuration:
          i.execution_duration === undefined
            ? null
            : parseDuration(i.execution_duration, 'trace.trace_info.execution_duration'),
        state: parseTraceState(i.state, 'trace.trace_info.state'),
        requestPreview: text('request_preview'),
        responsePreview: text('response_preview'),
        metadata: parseStringMap(i.trace_metadata, 'trace.trace_info.trace_metadata'),
        tags: parseStringMap(i.tags, 'trace.trace_info.tags'),
      });
      return { trace: { trace_info: traceInfoV3Json(created) } };
    },
    'editor',
    V3,
  );
  mlflowRoute(
    app,
    ['GET'],
    'traces/get',
    async (f) => {
      const trace = await traces.get(f.str('trace_id'), { allowPartial: bool(f, 'allow_partial') });
      return {
        trace: { trace_info: traceInfoV3Json(trace.info), spans: trace.spans.map(otelSpanJson) },
      };
    },
    'viewer',
    V3,
  );
  mlflowRoute(
    app,
    ['GET'],
    'traces/batchGet',
    async (f) => {
      const found = await traces.getMany(ids(f, 'trace_ids'));
      return {
        traces: found.map((t) => ({
          trace_info: traceInfoV3Json(t.info),
          spans: t.spans.map(otelSpanJson),
        })),
      };
    },
    'viewer',
    V3,
  );
  mlflowRoute(
    app,
    ['POST'],
    'traces/batchGetInfos',
    async (f) => ({
      trace_infos: (await traces.getInfos(ids(f, 'trace_ids'))).map(traceInfoV3Json),
    }),
    'viewer',
    V3,
  );
  mlflowRoute(
    app,
    ['GET'],
    'traces/:trace_id',
    async (f) => ({
      trace: { trace_info: traceInfoV3Json(await traces.getInfo(f.str('trace_id'))) },
    }),
    'viewer',
    V3,
  );
  mlflowRoute(
    app,
    ['POST'],
    'traces/search',
    async (f) => {
      const experimentIds = f.list('locations').map((l, i) => {
        const id = (l as { mlflow_experiment?: { experiment_id?: unknown } } | null)
          ?.mlflow_experiment?.experiment_id;
        if (typeof id !== 'string' || id === '')
          throw invalidValue(`locations[${i}]`, l, 'an MLflow experiment location');
        return id;
      });
      if (experimentIds.length === 0) throw missingValue('locations');
      return searchPage(f, experimentIds, traceInfoV3Json);
    },
    'viewer',
    V3,
  );

  // ---- MLflow 2 ----
  mlflowRoute(
    app,
    ['POST'],
    'traces',
    async (f) => {
      const info = await traces.startV2({
        experimentId: f.str('experiment_id'),
        timestampMs: f.int('timestamp_ms') ?? ctx.clock.now(),
        metadata: pairs(f, 'request_metadata'),
        tags: pairs(f, 'tags'),
      });
      return { trace_info: traceInfoV2Json(info) };
    },
    'editor',
    V2,
  );
  mlflowRoute(
    app,
    ['PATCH'],
    'traces/:request_id',
    async (f) => {
      const info = await traces.endV2(f.str('request_id'), {
        timestampMs: f.int('timestamp_ms') ?? ctx.clock.now(),
        state: parseTraceState(f.raw('status'), 'status', true),
        metadata: pairs(f, 'request_metadata'),
        tags: pairs(f, 'tags'),
      });
      return { trace_info: traceInfoV2Json(info) };
    },
    'editor',
    V2,
  );
  mlflowRoute(
    app,
    ['GET'],
    'traces/:request_id/info',
    async (f) => ({ trace_info: traceInfoV2Json(await traces.getInfo(f.str('request_id'))) }),
    'viewer',
    V2,
  );
  mlflowRoute(
    app,
    ['GET'],
    'traces',
    async (f) => {
      const experimentIds = ids(f, 'experiment_ids');
      if (experimentIds.length === 0) throw missingValue('experiment_ids');
      return searchPage(f, experimentIds, traceInfoV2Json);
    },
    'viewer',
    V2,
  );
  mlflowRoute(
    app,
    ['POST'],
    'traces/link-to-run',
    async (f) => void (await traces.linkToRun(ids(f, 'trace_ids'), f.str('run_id'))),
    'editor',
    V2,
  );

  // ---- both ----
  for (const prefixes of [V2, V3]) {
    const idParam = prefixes === V2 ? 'request_id' : 'trace_id';
    mlflowRoute(
      app,
      ['PATCH'],
      `traces/:${idParam}/tags`,
      async (f) =>
        void (await traces.setTag(f.str(idParam), f.str('key'), f.str('value', 'optional') ?? '')),
      'editor',
      prefixes,
    );
    mlflowRoute(
      app,
      ['DELETE'],
      `traces/:${idParam}/tags`,
      async (f) => void (await traces.deleteTag(f.str(idParam), f.str('key'))),
      'editor',
      prefixes,
    );
    mlflowRoute(
      app,
      ['POST'],
      'traces/delete-traces',
      async (f) => {
        const traceIds = ids(f, 'request_ids');
        const deleted = await traces.delete({
          experimentId: f.str('experiment_id'),
          traceIds,
          maxTimestampMillis: f.int('max_timestamp_millis'),
          maxTraces: f.int('max_traces'),
        });
        return { traces_deleted: deleted };
      },
      'editor',
      prefixes,
    );
  }

  // The UI's download of a trace's spans, as MLflow's `traces.json` ({"spans": [...]}).
  for (const prefix of ['/ajax-api/2.0/mlflow/', '/ajax-api/3.0/mlflow/']) {
    app.get(`${prefix}get-trace-artifact`, { schema: { hide: true } }, async (request, reply) => {
      requireRole(request, 'viewer');
      const query = request.query as Record<string, unknown>;
      const id = query.request_id;
      if (typeof id !== 'string' || id === '')
        throw new MobiusError(
          'INVALID_ARGUMENT',
          'Request must include the "request_id" query parameter.',
        );
      if (query.path !== undefined)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          'trace attachments are not served yet; ask for the trace data without a path',
        );
      const trace = await traces.get(id, { allowPartial: true });
      return reply
        .header('content-type', 'application/octet-stream')
        .header('content-disposition', 'attachment; filename=traces.json')
        .header('x-content-type-options', 'nosniff')
        .send(JSON.stringify({ spans: trace.spans }));
    });
  }
}
