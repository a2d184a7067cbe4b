/**
 * MLflow's wire format (protobuf JSON) in and out. Its Python client encodes int64 as
 * strings and non-finite doubles as "NaN" / "Infinity" / "-Infinity", so both are
 * accepted on the way in and non-finite values are sent back the same way.
 */
import type { FastifyRequest } from 'fastify';
import { MobiusError } from '../../core/index.js';
import type {
  DatasetInput,
  Experiment,
  LoggedModel,
  MetricPoint,
  Run,
  RunInfo,
  RunIo,
} from '../../tracking/index.js';

/** Reads MLflow request fields: the query string on GET, the JSON body otherwise. */
export class Fields {
  readonly #values: Record<string, unknown>;
  readonly #fromQuery: boolean;

  constructor(request: FastifyRequest) {
    const part = (v: unknown) =>
      typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
    // GET carries fields in the query string, other methods in a JSON body; MLflow's
    // client sends DELETE fields as a body too, but a query string is accepted there.
    // Path parameters (`logged-models/{model_id}`) win over fields of the same name.
    const fields =
      request.method === 'GET'
        ? part(request.query)
        : request.method === 'DELETE'
          ? { ...part(request.query), ...part(request.body) }
          : part(request.body);
    this.#values = { ...fields, ...part(request.params) };
    this.#fromQuery = request.method === 'GET';
  }

  /** A string field; INVALID_PARAMETER_VALUE when required and missing. */
  str(name: string): string;
  str(name: string, optional: 'optional'): string | undefined;
  str(name: string, optional?: 'optional'): string | undefined {
    const v = this.#values[name];
    if (v === undefined || v === null || v === '') {
      if (optional === 'optional') return undefined;
      throw missingValue(name);
    }
    if (typeof v !== 'string') throw invalidValue(name, v, 'a string');
    return v;
  }

  /** An int64 field, as number or decimal string. */
  int(name: string): number | undefined {
    const v = this.#values[name];
    if (v === undefined || v === null || v === '') return undefined;
    const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n))
      throw invalidValue(name, v, 'an integer');
    return n;
  }

  /** A double field: a number, a numeric string, or NaN / Infinity / -Infinity. */
  num(name: string): number {
    const v = this.#values[name];
    if (v === undefined || v === null) throw missingValue(name);
    const n = parseDouble(v);
    if (n === undefined) throw invalidValue(name, v, 'a number');
    return n;
  }

  /**
   * A repeated field (array); an empty array when absent. A query string's single value
   * becomes a one-item list; in a JSON body anything but an array is refused.
   */
  list(name: string): unknown[] {
    const v = this.#values[name];
    if (v === undefined || v === null) return [];
    if (Array.isArray(v)) return v;
    if (this.#fromQuery) return [v];
    throw invalidValue(name, v, 'a list');
  }

  /** Every field, as one object (for helpers that read several of them). */
  all(): Record<string, unknown> {
    return { ...this.#values };
  }

  /** The raw value of a field. */
  raw(name: string): unknown {
    return this.#values[name];
  }
}

/** The Python type name MLflow's messages use for a JSON value. */
function pythonType(v: unknown): string {
  if (v === null) return 'NoneType';
  if (Array.isArray(v)) return 'list';
  switch (typeof v) {
    case 'string':
      return 'str';
    case 'number':
      return Number.isInteger(v) ? 'int' : 'float';
    case 'boolean':
      return 'bool';
    default:
      return 'dict';
  }
}

/**
 * MLflow's message for a field of the wrong type ("Invalid value … for parameter '…'
 * supplied"), which its own tests and some clients match on, plus what was expected.
 */
export function invalidValue(name: string, value: unknown, expected: string): MobiusError {
  return new MobiusError(
    'INVALID_ARGUMENT',
    `Invalid value ${JSON.stringify(value)} for parameter '${name}' supplied. Hint: Value was of type '${pythonType(value)}'; expected ${expected}.`,
  );
}

/** MLflow's message for a required field that is absent. */
export function missingValue(name: string): MobiusError {
  return new MobiusError('INVALID_ARGUMENT', `Missing value for required parameter '${name}'.`);
}

/** Parses a protobuf-JSON double. */
export function parseDouble(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

/** A double as protobuf JSON writes it. */
export function double(value: number): number | string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  return value;
}

/** `{key, value}` pairs from a record. */
export function keyValues(record: Record<string, string>): { key: string; value: string }[] {
  return Object.entries(record).map(([key, value]) => ({ key, value }));
}

/** Validates a list of `{key, value}` objects from a request; a missing value is "". */
export function parseKeyValues(items: unknown[], what: string): { key: string; value: string }[] {
  return items.map((item, i) => {
    const at = `${what}[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw invalidValue(at, item, '{"key": string, "value": string}');
    const { key, value } = item as { key?: unknown; value?: unknown };
    if (key === undefined || key === null) throw missingValue(`${at}.key`);
    if (typeof key !== 'string') throw invalidValue(`${at}.key`, key, 'a string');
    if (value !== undefined && value !== null && typeof value !== 'string')
      throw invalidValue(`${at}.value`, value, 'a string');
    return { key, value: value ?? '' };
  });
}

/** Validates a list of metrics from a request (log-batch); step defaults to 0. */
export function parseMetrics(items: unknown[]): MetricPoint[] {
  return items.map((item, i) => {
    const at = `metrics[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw invalidValue(at, item, 'a metric object');
    const m = item as Record<string, unknown>;
    if (m.key === undefined || m.key === null) throw missingValue(`${at}.key`);
    if (typeof m.key !== 'string') throw invalidValue(`${at}.key`, m.key, 'a string');
    if (m.value === undefined || m.value === null) throw missingValue(`${at}.value`);
    const value = parseDouble(m.value);
    if (value === undefined) throw invalidValue(`${at}.value`, m.value, 'a number');
    return {
      key: m.key,
      value,
      timestamp: int64(m.timestamp, `${at}.timestamp`, true)!,
      step: int64(m.step, `${at}.step`, false) ?? 0,
    };
  });
}

/** What ties a logged metric to a LoggedModel: MLflow 3's `model_id`, `dataset_name`, `dataset_digest`. */
export interface MetricModelLink {
  modelId: string;
  datasetName?: string | undefined;
  datasetDigest?: string | undefined;
}

/**
 * The model link of each metric of a request (log-batch's `metrics[i]`, or log-metric's
 * own fields); undefined where no `model_id` is given.
 */
export function parseMetricModelLinks(
  items: unknown[],
  at: (i: number) => string,
): (MetricModelLink | undefined)[] {
  return items.map((item, i) => {
    const m = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const text = (name: string): string | undefined => {
      const v = m[name];
      if (v === undefined || v === null || v === '') return undefined;
      if (typeof v !== 'string') throw invalidValue(`${at(i)}${name}`, v, 'a string');
      return v;
    };
    const modelId = text('model_id');
    const datasetName = text('dataset_name');
    const datasetDigest = text('dataset_digest');
    return modelId === undefined ? undefined : { modelId, datasetName, datasetDigest };
  });
}

/** An int64 as protobuf JSON sends it (number or decimal string). */
function int64(v: unknown, at: string, required: boolean): number | undefined {
  if (v === undefined || v === null) {
    if (required) throw missingValue(at);
    return undefined;
  }
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw invalidValue(at, v, 'an integer');
  return n;
}

/** An experiment as MLflow's `Experiment` message. */
export function experimentJson(e: Experiment) {
  return {
    experiment_id: e.id,
    name: e.name,
    artifact_location: e.artifactLocation,
    lifecycle_stage: e.lifecycleStage,
    creation_time: e.createdAt,
    last_update_time: e.updatedAt,
    tags: keyValues(e.tags),
  };
}

/** A run's info as MLflow's `RunInfo` message. */
export function runInfoJson(i: RunInfo) {
  return {
    run_id: i.id,
    run_uuid: i.id,
    run_name: i.name ?? '',
    experiment_id: i.experimentId,
    user_id: i.userId ?? '',
    status: i.status,
    start_time: i.startTime,
    ...(i.endTime === null ? {} : { end_time: i.endTime }),
    artifact_uri: i.artifactUri,
    lifecycle_stage: i.lifecycleStage,
  };
}

/** A metric point as MLflow's `Metric` message. */
export function metricJson(m: MetricPoint) {
  return { key: m.key, value: double(m.value), timestamp: m.timestamp, step: m.step };
}

/** A run as MLflow's `Run` message, with what it consumed and produced when known. */
export function runJson(r: Run, io?: RunIo) {
  return {
    info: runInfoJson(r.info),
    data: {
      metrics: r.data.metrics.map(metricJson),
      params: keyValues(r.data.params),
      tags: keyValues(r.data.tags),
    },
    inputs: {
      dataset_inputs: (io?.datasetInputs ?? []).map(datasetInputJson),
      model_inputs: (io?.modelInputs ?? []).map((m) => ({ model_id: m.modelId })),
    },
    outputs: {
      model_outputs: (io?.modelOutputs ?? []).map((m) => ({ model_id: m.modelId, step: m.step })),
    },
  };
}

/** A dataset input as MLflow's `DatasetInput` message. */
function datasetInputJson(i: DatasetInput) {
  const d = i.dataset;
  return {
    tags: i.tags,
    dataset: {
      name: d.name,
      digest: d.digest,
      source_type: d.sourceType,
      source: d.source,
      ...(d.schema == null ? {} : { schema: d.schema }),
      ...(d.profile == null ? {} : { profile: d.profile }),
    },
  };
}

/** Validates MLflow `DatasetInput` messages from a log-inputs request. */
export function parseDatasetInputs(items: unknown[]): DatasetInput[] {
  return items.map((item, i) => {
    const { tags, dataset } = (item ?? {}) as { tags?: unknown; dataset?: unknown };
    if (typeof dataset !== 'object' || dataset === null) {
      throw new MobiusError('INVALID_ARGUMENT', `datasets[${i}].dataset is required`);
    }
    const d = dataset as Record<string, unknown>;
    const text = (name: string, required: boolean): string | undefined => {
      const v = d[name];
      if (v === undefined || v === null) {
        if (required)
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `Missing value for required parameter 'datasets[${i}].dataset.${name}'.`,
          );
        return undefined;
      }
      if (typeof v !== 'string')
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `Invalid value ${JSON.stringify(v)} for parameter 'datasets[${i}].dataset.${name}': expected a string.`,
        );
      return v;
    };
    return {
      dataset: {
        name: text('name', true)!,
        digest: text('digest', true)!,
        sourceType: text('source_type', true)!,
        source: text('source', true)!,
        schema: text('schema', false),
        profile: text('profile', false),
      },
      tags: parseKeyValues(
        Array.isArray(tags) ? tags : tags == null ? [] : [tags],
        `datasets[${i}].tags`,
      ),
    };
  });
}

/** A LoggedModel as MLflow's `LoggedModel` message. */
export function loggedModelJson(m: LoggedModel) {
  return {
    info: {
      model_id: m.id,
      experiment_id: m.experimentId,
      name: m.name,
      creation_timestamp_ms: m.createdAt,
      last_updated_timestamp_ms: m.updatedAt,
      artifact_uri: m.artifactUri,
      status: m.status,
      ...(m.creatorId === null ? {} : { creator_id: m.creatorId }),
      ...(m.modelType === null ? {} : { model_type: m.modelType }),
      ...(m.sourceRunId === null ? {} : { source_run_id: m.sourceRunId }),
      ...(m.statusMessage === null ? {} : { status_message: m.statusMessage }),
      tags: keyValues(m.tags),
    },
    data: {
      params: keyValues(m.params),
      metrics: m.metrics.map((p) => ({
        ...metricJson(p),
        model_id: p.modelId,
        run_id: p.runId,
        ...(p.datasetName === null ? {} : { dataset_name: p.datasetName }),
        ...(p.datasetDigest === null ? {} : { dataset_digest: p.datasetDigest }),
      })),
    },
  };
}
