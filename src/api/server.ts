/**
 * The one HTTP server (Fastify). Order matters and is fixed here: request guards
 * (Host, Origin, Content-Type) → auth → body parsing with limits → schema validation
 * → handler. Every route's JSON Schema both validates requests and feeds
 * `/api/v1/openapi.json`, so the document cannot drift from what is enforced.
 */
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { VERSION } from '../core/index.js';
import type { MobiusContext } from '../context/index.js';
import type { Principal } from '../governance/index.js';
import { registerAuth } from './auth.js';
import { registerErrorHandlers } from './http-errors.js';
import { registerJsonParser } from './json-body.js';
import { registerMetrics } from './metrics.js';
import { registerRequestGuards } from './request-guards.js';
import { registerSystemRoutes } from './routes/system.js';
import { registerTokenRoutes } from './routes/tokens.js';
import { registerV1TrackingRoutes } from './routes/v1-tracking.js';
import { registerV1RegistryRoutes } from './routes/v1-registry.js';
import { registerV1DatasetRoutes } from './routes/v1-datasets.js';
import { registerV1CheckRoutes } from './routes/v1-checks.js';
import { registerV1ScheduleRoutes } from './routes/v1-schedules.js';
import { registerV1LineageRoutes } from './routes/v1-lineage.js';
import { registerV2InferenceRoutes } from './routes/v2-inference.js';
import { registerV1DeploymentRoutes } from './routes/v1-deployments.js';
import { registerMlflowTrackingRoutes } from './mlflow/tracking-routes.js';
import { registerMlflowRegistryRoutes } from './mlflow/registry-routes.js';
import { registerMlflowArtifactRoutes } from './mlflow/artifact-routes.js';
import { registerMlflowDatasetRoutes } from './mlflow/dataset-routes.js';
import { registerMlflowGraphqlRoutes } from './mlflow/graphql/route.js';
import { registerMlflowTraceRoutes } from './mlflow/trace-routes.js';
import { registerOtlpRoutes } from './mlflow/otlp-routes.js';
import { registerMlflowGenaiRoutes } from './mlflow/genai-routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts as; set by the auth hook before any handler runs. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Content types a route accepts on bodies ('*': any, streamed raw); JSON only when absent. */
    contentTypes?: string[];
  }
}

/** A route as registered: what the auth-enumeration test walks. */
export interface RouteEntry {
  method: string;
  url: string;
}

const routeLists = new WeakMap<FastifyInstance, RouteEntry[]>();

/** Every method + URL pattern the server answers, including Fastify's implicit HEAD routes. */
export function listRoutes(app: FastifyInstance): RouteEntry[] {
  return routeLists.get(app) ?? [];
}

/**
 * Builds the server over a context, ready to `listen` or `inject`.
 *
 * @example
 * const app = await buildServer(ctx);
 * await app.listen({ host: '127.0.0.1', port: 4600 });
 */
export async function buildServer(ctx: MobiusContext): Promise<FastifyInstance> {
  const { server } = ctx.config;
  const app = fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the instance type the default one
    // (without it the Logger generic leaks into every plugin signature).
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    loggerInstance: ctx.logger as FastifyBaseLogger,
    // One log line per request is noise at our request rates; metrics count them instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: server.bodyLimit,
    // `//model-versions/get-artifact` reaches the route, as it does on MLflow's server
    // (its own tests and clients joining base URLs with a trailing slash send these).
    routerOptions: { ignoreDuplicateSlashes: true },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Reject unknown body keys (additionalProperties: false) instead of silently dropping them.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  });
  const routes: RouteEntry[] = [];
  routeLists.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Mobius API', version: VERSION, description: 'Native Mobius REST API.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: server.auth ? [{ bearer: [] }] : [],
    },
  });

  registerErrorHandlers(app, server.bodyLimit);
  registerRequestGuards(app, server);
  registerAuth(app, { enabled: server.auth, adminToken: ctx.config.token, tokens: ctx.tokens });
  registerJsonParser(app);
  registerMetrics(app, [ctx.serving.metrics.registry]);
  registerSystemRoutes(app, ctx);
  registerTokenRoutes(app, ctx);
  await app.register(registerV1TrackingRoutes(ctx));
  registerV1RegistryRoutes(app, ctx);
  await app.register(registerV1DatasetRoutes(ctx));
  registerV1CheckRoutes(app, ctx);
  registerV1ScheduleRoutes(app, ctx);
  registerV1LineageRoutes(app, ctx);
  registerV2InferenceRoutes(app, ctx);
  registerV1DeploymentRoutes(app, ctx);
  registerMlflowTrackingRoutes(app, ctx);
  registerMlflowRegistryRoutes(app, ctx);
  registerMlflowDatasetRoutes(app, ctx);
  registerMlflowTraceRoutes(app, ctx);
  registerMlflowGenaiRoutes(app, ctx);
  await app.register(registerMlflowArtifactRoutes(ctx));
  await app.register(registerMlflowGraphqlRoutes(ctx));
  await app.register(registerOtlpRoutes(ctx));
  await app.ready();
  return app;
}
