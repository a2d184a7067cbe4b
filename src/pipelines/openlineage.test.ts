import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeTime } from 'ulidx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../core/index.js';
import type { StepFinishedEvent } from './listener.js';
import {
  FileTransport,
  HttpTransport,
  OpenLineageEmitter,
  OpenLineageEvents,
  dataQualityAssertionsFacet,
  openLineageRunId,
  type OpenLineageRunEvent,
  type OpenLineageTransport,
} from './openlineage.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const events = new OpenLineageEvents('unit');
const sample = (): OpenLineageRunEvent =>
  events.pipelineStarted({
    pipeline: 'p',
    pipelineRunId: newId(),
    at: 1_700_000_000_000,
    params: {},
  });

function finished(overrides: Partial<StepFinishedEvent> = {}): StepFinishedEvent {
  return {
    pipeline: 'p',
    pipelineRunId: newId(),
    step: 'check',
    stepRunId: newId(),
    at: 1_700_000_000_000,
    run: { kind: 'function', fn: () => undefined },
    outputNames: [],
    inputs: [
      {
        name: 'rows',
        ref: { kind: 'step', step: 'prep', output: 'rows' },
        blob: { sha256: 'a'.repeat(64), size: 3 },
      },
    ],
    cached: false,
    status: 'succeeded',
    outputs: {},
    ...overrides,
  };
}

describe('openLineageRunId', () => {
  it('maps a ULID to a UUIDv7 with the same millisecond time, the same every time', () => {
    const id = newId();
    const uuid = openLineageRunId(id);
    expect(uuid).toMatch(UUID_V7);
    expect(openLineageRunId(id)).toBe(uuid);
    expect(parseInt(uuid.replace(/-/g, '').slice(0, 12), 16)).toBe(decodeTime(id.toUpperCase()));
  });

  it('keeps ids made in the same millisecond apart', () => {
    const ids = Array.from({ length: 5000 }, () => newId());
    expect(new Set(ids.map(openLineageRunId)).size).toBe(5000);
  });

  it('hashes ids that are not ULIDs into a UUIDv8', () => {
    expect(openLineageRunId('not-a-ulid')).toMatch(UUID_V8);
    expect(openLineageRunId('not-a-ulid')).toBe(openLineageRunId('not-a-ulid'));
    expect(openLineageRunId('not-a-ulid')).not.toBe(openLineageRunId('not-a-ulid2'));
  });
});

describe('OpenLineage events', () => {
  it('keeps only the facet fields of assertion results', () => {
    const facet = dataQualityAssertionsFacet([
      { assertion: 'not_null', success: true, column: 'id', extra: 'x' } as never,
    ]);
    expect(facet.assertions).toEqual([{ assertion: 'not_null', success: true, column: 'id' }]);
  });

  it("puts a check step's assertions on the input they are about", () => {
    const e = events.stepFinished(
      finished({
        assertions: [
          { input: 'rows', results: [{ assertion: 'unique', success: false, column: 'id' }] },
        ],
      }),
    );
    expect(e.inputs[0]!.inputFacets?.dataQualityAssertions?.assertions).toEqual([
      { assertion: 'unique', success: false, column: 'id' },
    ]);
  });

  it('rejects assertions about an input the step does not have, naming it', () => {
    expect(() =>
      events.stepFinished(finished({ assertions: [{ input: 'nope', results: [] }] })),
    ).toThrow(/input 'nope'/);
  });

  it('still sends the step event when its assertions name an unknown input, and logs why', async () => {
    const sent: OpenLineageRunEvent[] = [];
    const warnings: string[] = [];
    const emitter = new OpenLineageEmitter({
      namespace: 'unit',
      transport: { send: async (e) => void sent.push(e) },
      logger: { warn: ((_o: unknown, msg: string) => void warnings.push(msg)) as never },
    });
    emitter.stepFinished(finished({ assertions: [{ input: 'nope', results: [] }] }));
    await emitter.flush();
    expect(sent.map((e) => e.eventType)).toEqual(['COMPLETE']);
    expect(sent[0]!.inputs[0]!.inputFacets).toBeUndefined();
    expect(warnings.join()).toMatch(/input 'nope'/);
  });
});

describe('OpenLineageEmitter', () => {
  it('sends events one at a time, in order, even through a slow transport', async () => {
    const order: string[] = [];
    let inFlight = 0;
    const transport: OpenLineageTransport = {
      send: async (e) => {
        inFlight++;
        expect(inFlight).toBe(1);
        await new Promise((r) => setTimeout(r, e.eventType === 'START' ? 30 : 1));
        order.push(e.eventType);
        inFlight--;
      },
    };
    const emitter = new OpenLineageEmitter({ namespace: 'unit', transport });
    const runId = newId();
    emitter.pipelineStarted({ pipeline: 'p', pipelineRunId: runId, at: 1, params: {} });
    await emitter.pipelineFinished({
      pipeline: 'p',
      pipelineRunId: runId,
      at: 2,
      status: 'succeeded',
    });
    expect(order).toEqual(['START', 'COMPLETE']);
    expect(emitter.counts).toEqual({ sent: 2, failed: 0, dropped: 0 });
  });

  it('logs a transport failure and goes on: the pipeline never sees it', async () => {
    const warnings: string[] = [];
    const emitter = new OpenLineageEmitter({
      namespace: 'unit',
      transport: {
        send: () => Promise.reject(new Error('collector down')),
      },
      logger: { warn: ((_o: unknown, msg: string) => void warnings.push(msg)) as never },
    });
    const runId = newId();
    emitter.pipelineStarted({ pipeline: 'p', pipelineRunId: runId, at: 1, params: {} });
    await expect(
      emitter.pipelineFinished({
        pipeline: 'p',
        pipelineRunId: runId,
        at: 2,
        status: 'failed',
        error: 'x',
      }),
    ).resolves.toBeUndefined();
    expect(emitter.counts).toEqual({ sent: 0, failed: 2, dropped: 0 });
    expect(warnings[0]).toMatch(/not delivered.*collector down/);
  });

  it('drops events for a while after three failures in a row, then tries again', async () => {
    let now = 1_000_000;
    let calls = 0;
    const warnings: string[] = [];
    const emitter = new OpenLineageEmitter({
      namespace: 'unit',
      transport: {
        send: () => {
          calls++;
          return Promise.reject(new Error('timed out'));
        },
      },
      logger: { warn: ((_o: unknown, msg: string) => void warnings.push(msg)) as never },
      now: () => now,
    });
    for (let i = 0; i < 10; i++)
      emitter.pipelineStarted({ pipeline: 'p', pipelineRunId: newId(), at: i, params: {} });
    await emitter.flush();
    expect(calls).toBe(3);
    expect(emitter.counts).toEqual({ sent: 0, failed: 3, dropped: 7 });
    expect(warnings[2]).toMatch(/dropped for the next 30 s/);
    now += 30_000;
    emitter.pipelineStarted({ pipeline: 'p', pipelineRunId: newId(), at: 11, params: {} });
    await emitter.flush();
    expect(calls).toBe(4);
  });
});

describe('FileTransport', () => {
  it('appends one JSON line per event, creating the directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mobius-ol-'));
    try {
      const path = join(dir, 'nested', 'lineage.ndjson');
      const t = new FileTransport(path);
      const a = sample();
      const b = sample();
      await t.send(a);
      await t.send(b);
      const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
      expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([a, b]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('HttpTransport', () => {
  let server: Server;
  let base: string;
  const received: { url: string; auth: string | undefined; body: string }[] = [];
  let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push({ url: req.url ?? '', auth: req.headers.authorization, body });
        answer(req, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('POSTs the event to <url>/api/v1/lineage with the bearer token', async () => {
    received.length = 0;
    answer = (_req, res) => res.writeHead(201).end();
    const event = sample();
    await new HttpTransport({ url: `${base}/`, apiKey: 'secret-key' }).send(event);
    expect(received).toEqual([
      { url: '/api/v1/lineage', auth: 'Bearer secret-key', body: JSON.stringify(event) },
    ]);
  });

  it('sends no Authorization header without a key, and honours a custom endpoint', async () => {
    received.length = 0;
    answer = (_req, res) => res.end();
    await new HttpTransport({ url: base, endpoint: '/lineage/v2' }).send(sample());
    expect(received.map((r) => [r.url, r.auth])).toEqual([['/lineage/v2', undefined]]);
  });

  it('fails with the status and body when the collector refuses the event', async () => {
    answer = (_req, res) => res.writeHead(422).end('bad event');
    await expect(new HttpTransport({ url: base }).send(sample())).rejects.toThrow(
      /answered 422: bad event/,
    );
  });

  it('gives up after its timeout when the collector does not answer', async () => {
    answer = () => undefined; // never answers
    const started = Date.now();
    await expect(new HttpTransport({ url: base, timeoutMs: 200 }).send(sample())).rejects.toThrow(
      /did not answer within 200 ms/,
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('fails clearly when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(
      new HttpTransport({ url: `http://127.0.0.1:${port}` }).send(sample()),
    ).rejects.toThrow(/could not be reached/);
  });
});
