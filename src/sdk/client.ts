/**
 * The Mobius client: HTTP over Node's global fetch against `/api/v1/`, with the server's
 * `{code, message}` errors turned back into MobiusErrors, and retries with backoff for
 * the calls that are safe to repeat.
 */
import {
  ERROR_CODES,
  MobiusError,
  isMobiusError,
  unpackPoints,
  type ErrorCode,
  type PackedPoints,
} from '../core/index.js';
import { captureCodeIdentity } from './code-identity.js';
import { RunHandle, type RunHandleOptions } from './run.js';
import type { ModelVersion, RunComparison, RunData } from './types.js';

/** How a client retries: attempts in all, and the backoff between them. */
export interface RetryPolicy {
  /** Tries in all, the first included; default 5. */
  attempts: number;
  /** First wait; doubles each time (with jitter) up to maxDelayMs. Default 200 ms. */
  baseDelayMs: number;
  /** Default 5000 ms. */
  maxDelayMs: number;
}

export interface MobiusClientOptions {
  /** The server, e.g. `http://127.0.0.1:4600`. */
  url: string;
  /** An API token, sent as `Authorization: Bearer …`. */
  token?: string | undefined;
  retry?: Partial<RetryPolicy>;
  /** The fetch to use; default the global one. For proxies or instrumentation. */
  fetch?: typeof fetch;
}

export interface StartRunOptions extends RunHandleOptions {
  /** Experiment name; created if it does not exist. */
  experiment: string;
  name?: string;
  tags?: Record<string, string>;
  /**
   * Record commit, dirty-diff hash, lockfile hash and runtime as tags (see
   * code-identity.ts); default true. `cwd` says where the checkout is.
   */
  codeIdentity?: boolean;
  cwd?: string;
}

/** What a request may do on failure. */
interface CallOptions {
  /** Repeat on network errors and 5xx/429 (only for calls that are safe to repeat). */
  retry?: boolean;
  headers?: Record<string, string>;
  /** Ask for bytes instead of JSON: a successful answer resolves to its body as a Uint8Array. */
  bytes?: boolean;
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 5000 };

/**
 * A client of one Mobius server.
 *
 * @example
 * const client = new MobiusClient({ url: 'http://127.0.0.1:4600', token: process.env.MOBIUS_TOKEN });
 * const run = await client.startRun({ experiment: 'churn' });
 * run.logMetrics({ loss: 0.42 }, { step: 1 });
 * await run.end();
 */
export class MobiusClient {
  readonly url: string;
  readonly #token: string | undefined;
  readonly #retry: RetryPolicy;
  readonly #fetch: typeof fetch;

  constructor(options: MobiusClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch (cause) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `'${options.url}' is not a URL; give the server like http://127.0.0.1:4600`,
        { cause },
      );
    }
    this.url = parsed.origin + parsed.pathname.replace(/\/+$/, '');
    this.#token = options.token;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /**
   * Starts a run in `experiment` (created when missing), with code-identity tags.
   *
   * @example
   * const run = await client.startRun({ experiment: 'churn', name: 'baseline', tags: { team: 'growth' } });
   */
  async startRun(options: StartRunOptions): Promise<RunHandle> {
    const experimentId = await this.ensureExperiment(options.experiment);
    const identity =
      options.codeIdentity === false
        ? {}
        : await captureCodeIdentity(options.cwd === undefined ? {} : { cwd: options.cwd });
    const run = await this.request<RunData>('POST', '/api/v1/runs', {
      experimentId,
      ...(options.name === undefined ? {} : { name: options.name }),
      // The caller's tags win over captured ones of the same name.
      tags: { ...identity, ...options.tags },
      startTime: Date.now(),
    });
    return new RunHandle(this, run, options);
  }

  /** The id of experiment `name`, creating it when it does not exist yet. */
  async ensureExperiment(name: string): Promise<string> {
    const find = async () =>
      (
        await this.request<{ experiments: { id: string }[] }>(
          'GET',
          `/api/v1/experiments?name=${encodeURIComponent(name)}`,
          undefined,
          { retry: true },
        )
      ).experiments[0]?.id;
    const existing = await find();
    if (existing !== undefined) return existing;
    try {
      return (await this.request<{ id: string }>('POST', '/api/v1/experiments', { name })).id;
    } catch (error) {
      // Another process created it between our look and our create.
      if (isMobiusError(error) && error.code === 'ALREADY_EXISTS') {
        const raced = await find();
        if (raced !== undefined) return raced;
      }
      throw error;
    }
  }

  /**
   * Registers the next version of model `name` (creating the model if needed) from a
   * file or directory a run uploaded as an artifact.
   *
   * @example
   * const v = await client.registerModel('churn-model', { runId: run.id, artifactPath: 'model' });
   */
  async registerModel(
    name: string,
    source: { runId: string; artifactPath: string; description?: string },
  ): Promise<ModelVersion> {
    const path = `/api/v1/models/${encodeURIComponent(name)}`;
    try {
      await this.request('GET', path, undefined, { retry: true });
    } catch (error) {
      if (!isMobiusError(error) || error.code !== 'NOT_FOUND') throw error;
      try {
        await this.request('POST', '/api/v1/models', { name });
      } catch (created) {
        if (!isMobiusError(created) || created.code !== 'ALREADY_EXISTS') throw created;
      }
    }
    return this.request<ModelVersion>('POST', `${path}/versions`, source);
  }

  /** Points `alias` of model `name` at `version` (moving it if it named another). */
  async setAlias(
    name: string,
    alias: string,
    version: number,
    options: { force?: boolean; reason?: string } = {},
  ): Promise<ModelVersion> {
    return this.request<ModelVersion>(
      'PUT',
      `/api/v1/models/${encodeURIComponent(name)}/aliases/${encodeURIComponent(alias)}`,
      { version, ...options },
      { retry: true },
    );
  }

  /** Deletes an alias (nothing happens if it is not set). */
  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.request(
      'DELETE',
      `/api/v1/models/${encodeURIComponent(name)}/aliases/${encodeURIComponent(alias)}`,
      undefined,
      { retry: true },
    );
  }

  /**
   * Runs of experiments matching an MLflow filter, e.g. `metrics.acc > 0.9 and params.opt = 'adam'`.
   *
   * @example
   * const { runs } = await client.searchRuns({ experimentIds: [run.experimentId], filter: 'metrics.acc > 0.9' });
   */
  async searchRuns(query: {
    experimentIds: string[];
    filter?: string;
    orderBy?: string[];
    maxResults?: number;
    pageToken?: string;
  }): Promise<{ runs: RunData[]; nextPageToken?: string }> {
    const q = new URLSearchParams();
    for (const id of query.experimentIds) q.append('experimentId', id);
    for (const o of query.orderBy ?? []) q.append('orderBy', o);
    if (query.filter !== undefined) q.set('filter', query.filter);
    if (query.maxResults !== undefined) q.set('maxResults', String(query.maxResults));
    if (query.pageToken !== undefined) q.set('pageToken', query.pageToken);
    return this.request('GET', `/api/v1/runs?${q.toString()}`, undefined, { retry: true });
  }

  /** Runs side by side: params, tags, metrics (latest, min, max), and which differ. */
  async compareRuns(runIds: string[]): Promise<RunComparison> {
    const q = new URLSearchParams(runIds.map((id): [string, string] => ['ids', id]));
    return this.request('GET', `/api/v1/runs/compare?${q.toString()}`, undefined, {
      retry: true,
    });
  }

  /**
   * Every point of one metric of a run, in history order (step, then timestamp, then the
   * order logged), as float64 columns: fetched packed, so a 100,000-point history is one
   * 2.4 MB body and three views over it, no object per point.
   */
  async metricHistory(runId: string, key: string): Promise<PackedPoints> {
    const bytes = await this.request<Uint8Array>(
      'GET',
      `/api/v1/runs/${encodeURIComponent(runId)}/metrics/${encodeURIComponent(key)}/history`,
      undefined,
      { retry: true, bytes: true },
    );
    return unpackPoints(bytes);
  }

  /** A run as the server has it now. */
  async getRun(id: string): Promise<RunData> {
    return this.request<RunData>('GET', `/api/v1/runs/${encodeURIComponent(id)}`, undefined, {
      retry: true,
    });
  }

  /**
   * One JSON call. `body` may be a JSON value, or a function giving a fresh fetch body per
   * attempt (streams cannot be sent twice). Throws MobiusError with the server's code.
   */
  async request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
    options: CallOptions = {},
  ): Promise<T> {
    const attempts = options.retry === true ? Math.max(1, this.#retry.attempts) : 1;
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = { ...options.headers };
      if (options.bytes === true) headers.accept = 'application/octet-stream';
      if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
      let payload: RequestInit['body'] | null = null;
      let duplex: { duplex?: 'half' } = {};
      if (typeof body === 'function') {
        const made = (
          body as () => { body: RequestInit['body']; headers: Record<string, string> }
        )();
        payload = made.body;
        Object.assign(headers, made.headers);
        duplex = { duplex: 'half' }; // Node's fetch needs it for a streamed request body
      } else if (body !== undefined) {
        headers['content-type'] = 'application/json';
        payload = JSON.stringify(body);
      }
      let response: Response;
      try {
        response = await this.#fetch(this.url + path, {
          method,
          headers,
          body: payload,
          redirect: 'error',
          ...duplex,
        });
      } catch (cause) {
        if (attempt < attempts) {
          await this.#backoff(attempt);
          continue;
        }
        throw new MobiusError(
          'UNAVAILABLE',
          `cannot reach the Mobius server at ${this.url} (${method} ${path}, ${attempt} ${attempt === 1 ? 'try' : 'tries'}): ${(cause as Error).message}`,
          { cause },
        );
      }
      if ((response.status >= 500 || response.status === 429) && attempt < attempts) {
        await response.body?.cancel();
        await this.#backoff(attempt);
        continue;
      }
      if (response.ok && options.bytes === true)
        return new Uint8Array(await response.arrayBuffer()) as T;
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        throw new MobiusError(
          'UNAVAILABLE',
          `${this.url} answered ${method} ${path} with ${response.status} and a body that is not JSON; is the URL a Mobius server?`,
        );
      }
      if (response.ok) return parsed as T;
      const error = parsed as { code?: string; message?: string } | undefined;
      const code = (ERROR_CODES as readonly string[]).includes(error?.code ?? '')
        ? (error!.code as ErrorCode)
        : response.status >= 500
          ? 'UNAVAILABLE'
          : 'INTERNAL';
      throw new MobiusError(code, error?.message ?? `${method} ${path}: HTTP ${response.status}`);
    }
  }

  /** Waits before try `attempt + 1`: exponential, full jitter, capped. */
  async #backoff(attempt: number): Promise<void> {
    const ceiling = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** (attempt - 1));
    await new Promise((done) => setTimeout(done, Math.round(ceiling * (0.5 + Math.random() / 2))));
  }
}
