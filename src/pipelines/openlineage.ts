/**
 * OpenLineage for pipelines: each pipeline run and each step run becomes a run of an
 * OpenLineage job, reported as RunEvents (START, then COMPLETE or FAIL) to an HTTP
 * collector (Marquez, any `/api/v1/lineage` endpoint) or appended to an NDJSON file.
 *
 * - Jobs: the pipeline is job `<pipeline>`, each step job `<pipeline>.<step>`, both in the
 *   configured namespace; step events carry the `parent` facet naming the pipeline run.
 * - Run ids: OpenLineage wants UUIDs, Mobius has ULIDs. `openLineageRunId` maps one to
 *   the other deterministically (a ULID's 48-bit time and 80 random bits laid into a
 *   UUIDv7, which is time-ordered as OpenLineage recommends), so events sent twice for the
 *   same run, or rebuilt later from the store, name the same run.
 * - Datasets: a step output is `<pipeline>.<step>.<output>` in the namespace (the name a
 *   downstream step reads it by), a `file:` input is namespace `file` with its absolute
 *   path (OpenLineage's naming for local files), a Mobius dataset is `dataset:<name>`.
 *   Each carries the `version` facet with its content hash (sha256), so a consumer sees
 *   which bytes a run read and wrote.
 * - Quality: assertions a check step made about an input travel as that input's
 *   `dataQualityAssertions` facet (`dataQualityAssertionsFacet`).
 *
 * Lineage is an observer: events are queued and sent one after another (a run's START
 * before its COMPLETE), each POST bounded by a timeout; a failure is logged, never thrown
 * into the pipeline. The pipeline's own finish waits for the queue, so when `run` returns
 * every event was delivered or logged as not.
 */
import { createHash } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import {
  MobiusError,
  VERSION,
  isId,
  limits,
  type Logger,
  type OpenLineageConfig,
} from '../core/index.js';
import type {
  AssertionResult,
  BlobRef,
  PipelineFinishedEvent,
  PipelineListener,
  PipelineStartedEvent,
  ResolvedInput,
  StepFinishedEvent,
  StepStartedEvent,
} from './listener.js';

/** The OpenLineage spec version these events follow, and the schema URLs they name. */
export const OPENLINEAGE_RUN_EVENT_SCHEMA =
  'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent';
const FACET_SCHEMA = {
  parent: 'https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet',
  errorMessage:
    'https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet',
  jobType: 'https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet',
  version:
    'https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet',
  dataQualityAssertions:
    'https://openlineage.io/spec/facets/1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet',
} as const;

/** Who made the events: a URI naming Mobius and its version. */
export const OPENLINEAGE_PRODUCER = `urn:mobius:${VERSION}`;

interface BaseFacet {
  _producer: string;
  _schemaURL: string;
}

/** A dataset as OpenLineage names it, with its facets. */
export interface OpenLineageDataset {
  namespace: string;
  name: string;
  facets?: { version?: BaseFacet & { datasetVersion: string } };
  inputFacets?: { dataQualityAssertions?: DataQualityAssertionsFacet };
}

/** The `dataQualityAssertions` input facet. */
export interface DataQualityAssertionsFacet extends BaseFacet {
  assertions: AssertionResult[];
}

/** The RunEvents Mobius sends (the subset of OpenLineage 2-0-2 it fills). */
export interface OpenLineageRunEvent {
  eventType: 'START' | 'COMPLETE' | 'FAIL';
  eventTime: string;
  producer: string;
  schemaURL: string;
  run: {
    runId: string;
    facets: {
      parent?: BaseFacet & {
        run: { runId: string };
        job: { namespace: string; name: string };
      };
      errorMessage?: BaseFacet & { message: string; programmingLanguage: string };
    };
  };
  job: {
    namespace: string;
    name: string;
    facets: {
      jobType: BaseFacet & { processingType: 'BATCH'; integration: 'MOBIUS'; jobType: string };
    };
  };
  inputs: OpenLineageDataset[];
  outputs: OpenLineageDataset[];
}

// Crockford base32, the ULID alphabet (newId writes it lower-case).
const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * The OpenLineage run id (a UUID) of a Mobius run id. A ULID keeps its 48-bit millisecond
 * time and 74 of its 80 random bits, with the version (7) and variant bits set: a valid,
 * time-ordered UUIDv7, the same every time for the same id. Any other id string is hashed
 * (sha256) into a UUIDv8.
 *
 * @example
 * openLineageRunId('01jd0h7x8k3m5n9p2q4r6s8t0v') // '0193...-...-7...-...'
 */
export function openLineageRunId(mobiusId: string): string {
  let bytes: Buffer;
  let version: number;
  if (isId(mobiusId)) {
    let value = 0n;
    for (const char of mobiusId) value = (value << 5n) | BigInt(CROCKFORD.indexOf(char));
    bytes = Buffer.from(value.toString(16).padStart(32, '0'), 'hex');
    version = 0x70;
  } else {
    bytes = createHash('sha256').update(mobiusId).digest().subarray(0, 16);
    version = 0x80;
  }
  bytes[6] = (bytes[6]! & 0x0f) | version;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The `dataQualityAssertions` input facet for a check's results — the seam quality gates
 * plug into: a gate step's expectation results become `{ assertion, success, column? }`.
 *
 * @example
 * dataQualityAssertionsFacet([{ assertion: 'not_null', success: true, column: 'id' }])
 */
export function dataQualityAssertionsFacet(
  results: readonly AssertionResult[],
  producer: string = OPENLINEAGE_PRODUCER,
): DataQualityAssertionsFacet {
  return {
    _producer: producer,
    _schemaURL: FACET_SCHEMA.dataQualityAssertions,
    // Only the facet's own fields, so a wider object passed in never leaks into the event.
    assertions: results.map((r) => ({
      assertion: r.assertion,
      success: r.success,
      ...(r.column === undefined ? {} : { column: r.column }),
      ...(r.severity === undefined ? {} : { severity: r.severity }),
      ...(r.name === undefined ? {} : { name: r.name }),
      ...(r.expected === undefined ? {} : { expected: r.expected }),
      ...(r.actual === undefined ? {} : { actual: r.actual }),
    })),
  };
}

/** Builds RunEvents from pipeline and step events. Pure: no I/O. */
export class OpenLineageEvents {
  constructor(
    readonly namespace: string,
    readonly producer: string = OPENLINEAGE_PRODUCER,
  ) {}

  /** START of a pipeline run. */
  pipelineStarted(e: PipelineStartedEvent): OpenLineageRunEvent {
    return this.#event('START', e.at, e.pipelineRunId, e.pipeline, 'DAG', {}, [], []);
  }

  /** COMPLETE or FAIL of a pipeline run. */
  pipelineFinished(e: PipelineFinishedEvent): OpenLineageRunEvent {
    const failed = e.status === 'failed';
    return this.#event(
      failed ? 'FAIL' : 'COMPLETE',
      e.at,
      e.pipelineRunId,
      e.pipeline,
      'DAG',
      failed ? this.#error(e.error ?? 'the pipeline run failed', 'TypeScript') : {},
      [],
      [],
    );
  }

  /** START of a step run: its inputs with their versions, its outputs by name. */
  stepStarted(e: StepStartedEvent): OpenLineageRunEvent {
    return this.#event(
      'START',
      e.at,
      e.stepRunId,
      `${e.pipeline}.${e.step}`,
      'TASK',
      this.#parent(e),
      e.inputs.map((i) => this.#input(e.pipeline, i)),
      e.outputNames.map((o) => this.#output(e.pipeline, e.step, o, undefined)),
    );
  }

  /** COMPLETE (succeeded or cached) or FAIL (failed or killed) of a step run. */
  stepFinished(e: StepFinishedEvent): OpenLineageRunEvent {
    const ok = e.status === 'succeeded' || e.status === 'cached';
    const inputs = e.inputs.map((i) => this.#input(e.pipeline, i));
    for (const a of e.assertions ?? []) {
      const at = e.inputs.findIndex((i) => i.name === a.input);
      if (at < 0)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `step '${e.step}': assertions name input '${a.input}', which the step does not have`,
        );
      inputs[at]!.inputFacets = {
        dataQualityAssertions: dataQualityAssertionsFacet(a.results, this.producer),
      };
    }
    const names = new Set([...e.outputNames, ...Object.keys(e.outputs)]);
    return this.#event(
      ok ? 'COMPLETE' : 'FAIL',
      e.at,
      e.stepRunId,
      `${e.pipeline}.${e.step}`,
      'TASK',
      {
        ...this.#parent(e),
        ...(ok ? {} : this.#error(e.error ?? `step ${e.status}`, programmingLanguage(e))),
      },
      inputs,
      [...names].map((o) => this.#output(e.pipeline, e.step, o, e.outputs[o])),
    );
  }

  #event(
    eventType: OpenLineageRunEvent['eventType'],
    at: number,
    mobiusRunId: string,
    jobName: string,
    jobType: string,
    runFacets: OpenLineageRunEvent['run']['facets'],
    inputs: OpenLineageDataset[],
    outputs: OpenLineageDataset[],
  ): OpenLineageRunEvent {
    return {
      eventType,
      eventTime: new Date(at).toISOString(),
      producer: this.producer,
      schemaURL: OPENLINEAGE_RUN_EVENT_SCHEMA,
      run: { runId: openLineageRunId(mobiusRunId), facets: runFacets },
      job: {
        namespace: this.namespace,
        name: jobName,
        facets: {
          jobType: {
            ...this.#base('jobType'),
            processingType: 'BATCH',
            integration: 'MOBIUS',
            jobType,
          },
        },
      },
      inputs,
      outputs,
    };
  }

  #base(facet: keyof typeof FACET_SCHEMA): BaseFacet {
    return { _producer: this.producer, _schemaURL: FACET_SCHEMA[facet] };
  }

  #parent(e: StepStartedEvent): OpenLineageRunEvent['run']['facets'] {
    return {
      parent: {
        ...this.#base('parent'),
        run: { runId: openLineageRunId(e.pipelineRunId) },
        job: { namespace: this.namespace, name: e.pipeline },
      },
    };
  }

  #error(message: string, language: string): OpenLineageRunEvent['run']['facets'] {
    return {
      errorMessage: { ...this.#base('errorMessage'), message, programmingLanguage: language },
    };
  }

  #versioned(namespace: string, name: string, blob: BlobRef | undefined): OpenLineageDataset {
    return {
      namespace,
      name,
      ...(blob === undefined
        ? {}
        : { facets: { version: { ...this.#base('version'), datasetVersion: blob.sha256 } } }),
    };
  }

  #input(pipeline: string, input: ResolvedInput): OpenLineageDataset {
    const { ref } = input;
    switch (ref.kind) {
      case 'step':
        return this.#versioned(this.namespace, `${pipeline}.${ref.step}.${ref.output}`, input.blob);
      case 'file':
        return this.#versioned('file', input.path ?? ref.path, input.blob);
      case 'dataset':
        return this.#versioned(this.namespace, `dataset:${ref.name}`, input.blob);
    }
  }

  #output(
    pipeline: string,
    step: string,
    output: string,
    blob: BlobRef | undefined,
  ): OpenLineageDataset {
    return this.#versioned(this.namespace, `${pipeline}.${step}.${output}`, blob);
  }
}

/** What the error facet calls the language of the code that failed. */
function programmingLanguage(e: StepStartedEvent): string {
  switch (e.run.kind) {
    case 'function':
      return 'TypeScript';
    case 'shell':
      return 'shell';
    case 'command':
      // The program the step ran (python3, Rscript, …): the closest thing to a language.
      return basename(e.run.argv[0] ?? 'command');
    case 'check':
      // A quality gate runs Mobius's expectation suite, not user code.
      return 'Mobius expectation suite';
  }
}

/** Delivers one event; throws when it could not. */
export interface OpenLineageTransport {
  send(event: OpenLineageRunEvent): Promise<void>;
}

export interface HttpTransportOptions {
  /** The collector's base URL, e.g. http://localhost:5000. */
  url: string;
  /** Path under `url`; OpenLineage's is api/v1/lineage. */
  endpoint?: string;
  /** Sent as a bearer token. */
  apiKey?: string;
  timeoutMs?: number;
  /** Injected in tests; the global fetch otherwise. */
  fetch?: typeof fetch;
}

/** POSTs each event as JSON to `<url>/<endpoint>`, with a bounded timeout. */
export class HttpTransport implements OpenLineageTransport {
  readonly target: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: HttpTransportOptions) {
    this.target = `${options.url.replace(/\/+$/, '')}/${(options.endpoint ?? 'api/v1/lineage').replace(/^\/+/, '')}`;
    this.#headers = {
      'content-type': 'application/json',
      ...(options.apiKey === undefined ? {} : { authorization: `Bearer ${options.apiKey}` }),
    };
    this.#timeoutMs = options.timeoutMs ?? limits.OPENLINEAGE_TIMEOUT_MS;
    this.#fetch = options.fetch ?? fetch;
  }

  async send(event: OpenLineageRunEvent): Promise<void> {
    let response: Response;
    try {
      response = await this.#fetch(this.target, {
        method: 'POST',
        headers: this.#headers,
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(this.#timeoutMs),
        // A redirect could carry the bearer token elsewhere; a collector has no reason to.
        redirect: 'error',
      });
    } catch (cause) {
      const timedOut = (cause as { name?: unknown }).name === 'TimeoutError';
      throw new MobiusError(
        'UNAVAILABLE',
        timedOut
          ? `OpenLineage endpoint ${this.target} did not answer within ${this.#timeoutMs} ms`
          : `OpenLineage endpoint ${this.target} could not be reached: ${(cause as Error).message}`,
        { cause },
      );
    }
    const body = await response.text().catch(() => '');
    if (!response.ok)
      throw new MobiusError(
        'UNAVAILABLE',
        `OpenLineage endpoint ${this.target} answered ${response.status}: ${body.slice(0, 300)}`,
      );
  }
}

/** Appends each event as one JSON line to a file (created with its directory). */
export class FileTransport implements OpenLineageTransport {
  #ready: Promise<unknown> | undefined;

  constructor(readonly path: string) {}

  async send(event: OpenLineageRunEvent): Promise<void> {
    this.#ready ??= mkdir(dirname(this.path), { recursive: true });
    await this.#ready;
    // One write per line, and the emitter sends one event at a time: lines never interleave.
    await appendFile(this.path, `${JSON.stringify(event)}\n`);
  }
}

export interface OpenLineageEmitterOptions {
  transport: OpenLineageTransport;
  namespace: string;
  producer?: string;
  logger?: Pick<Logger, 'warn'>;
  /** Epoch ms, for the pause after repeated failures; tests pass a manual clock. */
  now?: () => number;
}

/**
 * The pipeline listener that reports runs as OpenLineage RunEvents. Step events are
 * built when the runner reports them and sent in order through one queue.
 *
 * @example
 * new PipelineService({ ...deps, listeners: [new OpenLineageEmitter({ transport: new FileTransport('lineage.ndjson'), namespace: 'mobius' })] })
 */
export class OpenLineageEmitter implements PipelineListener {
  readonly events: OpenLineageEvents;
  readonly #transport: OpenLineageTransport;
  readonly #logger: Pick<Logger, 'warn'> | undefined;
  readonly #now: () => number;
  #tail: Promise<void> = Promise.resolve();
  #queued = 0;
  #failuresInARow = 0;
  #pausedUntil = 0;
  readonly #counts = { sent: 0, failed: 0, dropped: 0 };

  constructor(options: OpenLineageEmitterOptions) {
    this.events = new OpenLineageEvents(options.namespace, options.producer);
    this.#transport = options.transport;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Events sent; not delivered (each logged); and dropped unsent — the queue was full, or
   * the collector had failed OPENLINEAGE_PAUSE_AFTER_FAILURES times in a row.
   */
  get counts(): Readonly<{ sent: number; failed: number; dropped: number }> {
    return { ...this.#counts };
  }

  pipelineStarted(e: PipelineStartedEvent): void {
    this.#enqueue(this.events.pipelineStarted(e));
  }

  /** Queues the pipeline's last event and waits until everything queued is sent or logged. */
  async pipelineFinished(e: PipelineFinishedEvent): Promise<void> {
    this.#enqueue(this.events.pipelineFinished(e));
    await this.flush();
  }

  stepStarted(e: StepStartedEvent): void {
    this.#enqueue(this.events.stepStarted(e));
  }

  stepFinished(e: StepFinishedEvent): void {
    let event: OpenLineageRunEvent;
    try {
      event = this.events.stepFinished(e);
    } catch (error) {
      // Assertions about an input the step does not have: the run's end is still reported.
      this.#logger?.warn(
        { err: error, job: `${e.pipeline}.${e.step}` },
        `OpenLineage: ${(error as Error).message}; the event is sent without them`,
      );
      event = this.events.stepFinished({ ...e, assertions: [] });
    }
    this.#enqueue(event);
  }

  /** Resolves when every event queued so far has been sent or logged as not. */
  flush(): Promise<void> {
    return this.#tail;
  }

  #enqueue(event: OpenLineageRunEvent): void {
    if (this.#queued >= limits.MAX_OPENLINEAGE_QUEUED_EVENTS) {
      this.#counts.dropped++;
      if (this.#counts.dropped === 1 || this.#counts.dropped % 1000 === 0)
        this.#logger?.warn(
          { dropped: this.#counts.dropped, job: event.job.name },
          `OpenLineage: ${limits.MAX_OPENLINEAGE_QUEUED_EVENTS} events are waiting for a slow collector; new events are dropped`,
        );
      return;
    }
    this.#queued++;
    this.#tail = this.#tail.then(async () => {
      try {
        // A collector that keeps failing (down, or swallowing requests until the timeout)
        // is left alone for a while: otherwise every queued event would wait out its own
        // timeout and a long run's end would wait for all of them.
        if (this.#now() < this.#pausedUntil) {
          this.#counts.dropped++;
          return;
        }
        await this.#transport.send(event);
        this.#counts.sent++;
        this.#failuresInARow = 0;
      } catch (error) {
        this.#counts.failed++;
        this.#failuresInARow++;
        const pause = this.#failuresInARow >= limits.OPENLINEAGE_PAUSE_AFTER_FAILURES;
        if (pause) {
          this.#pausedUntil = this.#now() + limits.OPENLINEAGE_PAUSE_MS;
          this.#failuresInARow = 0;
        }
        this.#logger?.warn(
          { err: error, eventType: event.eventType, job: event.job.name, runId: event.run.runId },
          `OpenLineage event not delivered (the pipeline goes on): ${(error as Error).message}${pause ? `; events are dropped for the next ${limits.OPENLINEAGE_PAUSE_MS / 1000} s` : ''}`,
        );
      } finally {
        this.#queued--;
      }
    });
  }
}

/**
 * The listener the configuration asks for, or undefined when OpenLineage is off.
 *
 * @example
 * const listener = openLineageListener(config.openlineage, logger);
 */
export function openLineageListener(
  config: OpenLineageConfig,
  logger?: Pick<Logger, 'warn'>,
): OpenLineageEmitter | undefined {
  const transport = ((): OpenLineageTransport | undefined => {
    switch (config.transport) {
      case 'none':
        return undefined;
      case 'http':
        return new HttpTransport({
          url: config.url!,
          endpoint: config.endpoint,
          ...(config.apiKey === undefined ? {} : { apiKey: config.apiKey }),
          timeoutMs: config.timeoutMs,
        });
      case 'file':
        return new FileTransport(config.path!);
    }
  })();
  if (transport === undefined) return undefined;
  return new OpenLineageEmitter({
    transport,
    namespace: config.namespace,
    ...(logger === undefined ? {} : { logger }),
  });
}
