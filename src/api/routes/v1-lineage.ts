/**
 * `/api/v1/lineage`: everything upstream of a node of the lineage graph — a prediction, a
 * model version, a dataset version, a run — nearest first. Same walk as `mobius lineage`.
 */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import type { MobiusContext } from '../../context/index.js';
import { requireRole } from '../auth.js';

const Node = Type.Object({
  kind: Type.String(),
  id: Type.String(),
  depth: Type.Integer(),
  downstream: Type.Union([
    Type.Object({ kind: Type.String(), id: Type.String(), relation: Type.String() }),
    Type.Null(),
  ]),
  label: Type.String(),
  details: Type.Record(Type.String(), Type.Unknown()),
});

const Query = Type.Object({
  ref: Type.String({
    minLength: 1,
    maxLength: 1000,
    description:
      'run:<id>, dataset:<name>@<version>, model:<name>@<version|alias>, prediction:<request-id> or <kind>:<id>',
  }),
  depth: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
});

/** Registers `GET /api/v1/lineage`. */
export function registerV1LineageRoutes(app: FastifyInstance, ctx: MobiusContext): void {
  app.get<{ Querystring: Static<typeof Query> }>(
    '/api/v1/lineage',
    {
      schema: {
        summary: 'Everything upstream of a prediction, model version, dataset version or run',
        tags: ['lineage'],
        querystring: Query,
        response: { 200: Type.Object({ start: Node, upstream: Type.Array(Node) }) },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      return ctx.lineage.upstream(request.query.ref, request.query.depth);
    },
  );
}
