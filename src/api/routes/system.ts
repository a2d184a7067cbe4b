/** Health, version and the OpenAPI document. */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { VERSION, MobiusError } from '../../core/index.js';
import type { MobiusContext } from '../../context/index.js';
import { sql } from '../../store/index.js';

const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  version: Type.String(),
  store: Type.String(),
  blobs: Type.String(),
});

/** `/health`, `/api/v1/version`, `/api/v1/openapi.json`. */
export function registerSystemRoutes(app: FastifyInstance, ctx: MobiusContext): void {
  app.get(
    '/health',
    {
      schema: {
        summary: 'Liveness and store reachability',
        tags: ['system'],
        response: { 200: Health },
      },
    },
    async () => {
      try {
        await sql`select 1`.execute(ctx.store.db);
      } catch (cause) {
        throw new MobiusError('UNAVAILABLE', 'the metadata store is not answering', { cause });
      }
      return {
        status: 'ok' as const,
        version: VERSION,
        store: ctx.store.dialect,
        blobs: ctx.blobs.kind,
      };
    },
  );

  app.get(
    '/api/v1/version',
    {
      schema: {
        summary: 'Server version',
        tags: ['system'],
        response: { 200: Type.Object({ version: Type.String() }) },
      },
    },
    async () => ({ version: VERSION }),
  );

  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
