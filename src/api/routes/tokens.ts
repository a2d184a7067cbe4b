/** `/api/v1/tokens`: create, list and revoke API tokens (admin only). */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { TOKEN_ROLES } from '../../store/index.js';
import type { MobiusContext } from '../../context/index.js';
import { requireRole } from '../auth.js';

const Role = Type.Union(TOKEN_ROLES.map((r) => Type.Literal(r)));
const TokenInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Role,
  createdAt: Type.Integer(),
  revokedAt: Type.Union([Type.Integer(), Type.Null()]),
});

/** The request body of POST /api/v1/tokens; the same object validates and documents it. */
export const CreateTokenBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }), role: Type.Optional(Role) },
  { additionalProperties: false },
);
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });

export function registerTokenRoutes(app: FastifyInstance, ctx: MobiusContext): void {
  app.post(
    '/api/v1/tokens',
    {
      schema: {
        summary: 'Create an API token; the secret is returned once',
        tags: ['tokens'],
        body: CreateTokenBody,
        response: { 201: Type.Intersect([TokenInfo, Type.Object({ secret: Type.String() })]) },
      },
    },
    async (request, reply) => {
      const actor = requireRole(request, 'admin');
      const body = request.body as Static<typeof CreateTokenBody>;
      const created = await ctx.tokens.create(
        { name: body.name, role: body.role ?? 'editor' },
        actor.name,
      );
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/api/v1/tokens',
    {
      schema: {
        summary: 'List API tokens (never their secrets)',
        tags: ['tokens'],
        response: { 200: Type.Object({ tokens: Type.Array(TokenInfo) }) },
      },
    },
    async (request) => {
      requireRole(request, 'admin');
      return { tokens: await ctx.tokens.list() };
    },
  );

  app.delete(
    '/api/v1/tokens/:id',
    {
      schema: {
        summary: 'Revoke an API token by id or name',
        tags: ['tokens'],
        params: IdParams,
        response: { 200: TokenInfo },
      },
    },
    async (request) => {
      const actor = requireRole(request, 'admin');
      return ctx.tokens.revoke((request.params as Static<typeof IdParams>).id, actor.name);
    },
  );
}
