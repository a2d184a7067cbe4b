/**
 * `/api/v1/checks…`: expectation suites over HTTP — run a suite on a dataset version (the
 * quality gate), list and read stored check runs, a metric's history, and a suggested
 * suite. Same CheckService as `mobius check`; suites are JSON objects or YAML text.
 */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { stringify as toYaml } from 'yaml';
import type { MobiusContext } from '../../context/index.js';
import type { SuiteInput } from '../../data/index.js';
import { requireRole } from '../auth.js';
import { strictBody } from './v1-strict-body.js';

const tags = ['data'];
const Ref = Type.String({
  minLength: 1,
  maxLength: 500,
  description: "a dataset version: 'orders@3', 'orders@prod', 'orders' (latest)",
});
const Dataset = Type.String({ minLength: 1, maxLength: 200 });
const GateBody = Type.Object(
  {
    dataset: Ref,
    suite: Type.Union([
      Type.String({ minLength: 1, maxLength: 1_000_000, description: 'the suite as YAML text' }),
      Type.Object(
        { expectations: Type.Array(Type.Unknown()) },
        { additionalProperties: true, description: 'the suite as JSON (docs/data.md)' },
      ),
    ]),
    runId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    fullScan: Type.Optional(
      Type.Boolean({ description: 'measure every expectation on the data, not the profile' }),
    ),
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object(
  {
    dataset: Type.Optional(Dataset),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  },
  { additionalProperties: false },
);
const HistoryQuery = Type.Object(
  {
    dataset: Dataset,
    metric: Type.String({
      minLength: 1,
      maxLength: 600,
      description: 'row_count, null_rate:<column> or mean:<column>',
    }),
  },
  { additionalProperties: false },
);
const SuggestQuery = Type.Object(
  { dataset: Ref, format: Type.Optional(Type.Enum(['json', 'yaml'])) },
  { additionalProperties: false },
);
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

/** Adds the `/api/v1/checks` routes to `app`. */
export function registerV1CheckRoutes(app: FastifyInstance, { checks }: MobiusContext): void {
  app.post(
    '/api/v1/checks',
    {
      preValidation: strictBody(GateBody),
      schema: {
        summary:
          'Run a suite on a dataset version (the quality gate): pass | warn | fail, stored with its results',
        tags,
        body: GateBody,
      },
    },
    async (request, reply) => {
      requireRole(request, 'editor');
      const body = request.body as Static<typeof GateBody>;
      const run = await checks.gate(body.dataset, body.suite as SuiteInput | string, {
        ...(body.runId === undefined ? {} : { runId: body.runId }),
        ...(body.fullScan === undefined ? {} : { fullScan: body.fullScan }),
      });
      return reply.code(201).send(run);
    },
  );
  app.get(
    '/api/v1/checks',
    {
      schema: {
        summary: 'Stored check runs, newest first (without per-expectation results)',
        tags,
        querystring: ListQuery,
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const q = request.query as Static<typeof ListQuery>;
      return { checks: await checks.list(q) };
    },
  );
  app.get(
    '/api/v1/checks/history',
    {
      schema: {
        summary: "A metric's values over a dataset's checked versions, oldest first",
        tags,
        querystring: HistoryQuery,
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const q = request.query as Static<typeof HistoryQuery>;
      return {
        dataset: q.dataset,
        metric: q.metric,
        points: await checks.metricHistory(q.dataset, q.metric),
      };
    },
  );
  app.get(
    '/api/v1/checks/suggest',
    {
      schema: {
        summary: "A starting suite from a version's profile (Deequ's rules), as JSON or YAML",
        tags,
        querystring: SuggestQuery,
      },
    },
    async (request, reply) => {
      requireRole(request, 'viewer');
      const q = request.query as Static<typeof SuggestQuery>;
      const suite = await checks.suggest(q.dataset);
      if (q.format === 'yaml') return reply.type('application/yaml').send(toYaml(suite));
      return suite;
    },
  );
  app.get(
    '/api/v1/checks/:id',
    {
      schema: { summary: 'One check run with every expectation result', tags, params: IdParams },
    },
    async (request) => {
      requireRole(request, 'viewer');
      return checks.get((request.params as Static<typeof IdParams>).id);
    },
  );
}
