/**
 * `/api/v1/deployments…`: registry-backed deployments — deploy a model version (replace,
 * canary, shadow, A/B), promote, roll back, delete, show with history, and attach ground
 * truth to logged predictions. Changes need the editor role; reading needs viewer. Same
 * DeploymentService as `mobius deploy|promote|rollback|deployments`.
 */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import type { MobiusContext } from '../../context/index.js';
import { MobiusError, limits } from '../../core/index.js';
import { requireRole } from '../auth.js';
import { strictBody } from './v1-strict-body.js';

const tags = ['serving'];

const Params = Type.Object({ name: Type.String({ minLength: 1, maxLength: 500 }) });

const Arm = Type.Object(
  { model: Type.String(), percent: Type.Number() },
  { additionalProperties: false, description: 'a B arm: <model>@<version|alias> and its percent' },
);

const DeployBody = Type.Object(
  {
    name: Type.String({ description: 'deployment name (one URL path segment)' }),
    model: Type.String({ description: '<model>@<version> or <model>@<alias>' }),
    canary: Type.Optional(Type.Number({ description: 'percent of traffic for the new version' })),
    shadow: Type.Optional(Type.Number({ description: 'percent of traffic mirrored to it' })),
    ab: Type.Optional(
      Type.Union(
        [Arm, Type.Array(Arm, { minItems: 1, maxItems: limits.MAX_DEPLOYMENT_ROUTES - 1 })],
        {
          description:
            'arm B and its percent, or several B arms (A/B/n); arm A (`model`) takes the rest',
        },
      ),
    ),
    sticky: Type.Optional(
      Type.String({ description: 'header, OIP parameter, input or record field pinning a route' }),
    ),
    analysis: Type.Optional(
      Type.Object(
        {
          minRequests: Type.Optional(Type.Number()),
          windowMs: Type.Optional(Type.Number()),
          maxErrorRateIncrease: Type.Optional(Type.Number()),
          maxLatencyRatio: Type.Optional(Type.Number()),
          maxPredictionShift: Type.Optional(
            Type.Number({ description: 'roll back above this KS distance between predictions' }),
          ),
        },
        { additionalProperties: false, description: 'judge the canary automatically' },
      ),
    ),
    reason: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

const ReasonBody = Type.Object(
  { reason: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

const PromoteBody = Type.Object(
  {
    reason: Type.Optional(Type.String()),
    to: Type.Optional(
      Type.String({
        description: 'which candidate, when there are several B arms: <model>@<version>',
      }),
    ),
  },
  { additionalProperties: false },
);

const ReasonQuery = Type.Object(
  { reason: Type.Optional(Type.String({ description: 'why, for the deployment history' })) },
  { additionalProperties: false },
);

const FeedbackBody = Type.Object(
  {
    request_id: Type.String({ description: 'the id the prediction answer returned' }),
    ground_truth: Type.Unknown({ description: 'the true label or value (any JSON)' }),
  },
  { additionalProperties: false },
);

/** Registers the deployment management and feedback routes. */
export function registerV1DeploymentRoutes(app: FastifyInstance, ctx: MobiusContext): void {
  const { deployments } = ctx;

  app.post(
    '/api/v1/deployments',
    {
      schema: {
        summary: 'Deploy a model version: replace, canary, shadow or A/B',
        tags,
        body: DeployBody,
      },
      preValidation: strictBody(DeployBody),
    },
    async (request, reply) => {
      const principal = requireRole(request, 'editor');
      const body = request.body as Static<typeof DeployBody>;
      const state = await deployments.deploy(body, principal.name);
      return reply.code(state.revision === 1 ? 201 : 200).send(state);
    },
  );

  app.get(
    '/api/v1/deployments/:name',
    {
      schema: {
        summary:
          'A deployment: routes, mirror, last good, live counters, dropped predictions, recent events',
        tags,
        params: Params,
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const { name } = request.params as Static<typeof Params>;
      return deployments.show(name);
    },
  );

  for (const action of ['promote', 'rollback'] as const) {
    app.post(
      `/api/v1/deployments/:name/${action}`,
      {
        schema: {
          summary:
            action === 'promote'
              ? 'Make the candidate (canary, B arm or shadow; `to` picks one of several B arms) the only, last-good version'
              : 'Send all traffic back to the last-good version',
          tags,
          params: Params,
        },
        // The body is optional: `curl -X POST …/rollback` with none is fine.
        preValidation: async (request, reply) => {
          if (request.body !== undefined && request.body !== null)
            await strictBody(action === 'promote' ? PromoteBody : ReasonBody).call(
              app,
              request,
              reply,
            );
        },
      },
      async (request) => {
        const principal = requireRole(request, 'editor');
        const { name } = request.params as Static<typeof Params>;
        const body = request.body as Static<typeof PromoteBody> | undefined;
        return action === 'promote'
          ? deployments.promote(name, principal.name, body?.reason, body?.to)
          : deployments.rollback(name, principal.name, body?.reason);
      },
    );
  }

  app.delete(
    '/api/v1/deployments/:name',
    {
      schema: {
        summary:
          'Delete a deployment: it stops serving here and on every server following the store; its history and prediction log are kept',
        tags,
        params: Params,
        querystring: ReasonQuery,
      },
      // The reason may come as `?reason=` or as a JSON body `{reason}`; no body is fine.
      preValidation: async (request, reply) => {
        if (request.body !== undefined && request.body !== null)
          await strictBody(ReasonBody).call(app, request, reply);
      },
    },
    async (request) => {
      const principal = requireRole(request, 'editor');
      const { name } = request.params as Static<typeof Params>;
      const fromQuery = (request.query as Static<typeof ReasonQuery>).reason;
      const fromBody = (request.body as Static<typeof ReasonBody> | undefined)?.reason;
      if (fromQuery !== undefined && fromBody !== undefined)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          'reason: give it once, as ?reason= or in the body, not both',
        );
      return deployments.remove(name, principal.name, fromQuery ?? fromBody);
    },
  );

  app.post(
    '/api/v1/deployments/:name/feedback',
    {
      schema: {
        summary: 'Attach ground truth to a logged prediction by request id',
        tags,
        params: Params,
        body: FeedbackBody,
      },
      preValidation: strictBody(FeedbackBody),
    },
    async (request) => {
      requireRole(request, 'editor');
      const { name } = request.params as Static<typeof Params>;
      const body = request.body as Static<typeof FeedbackBody>;
      const { updated } = await deployments.feedback(name, body.request_id, body.ground_truth);
      return { request_id: body.request_id, updated };
    },
  );
}
