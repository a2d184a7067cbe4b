/**
 * `/api/v1/schedules…`: the pipelines the scheduler runs on cron schedules and dataset
 * triggers — list them (viewer), pause and resume them, or start one now (editor). Same
 * Scheduler as `mobius schedules`.
 */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import type { MobiusContext } from '../../context/index.js';
import { requireRole } from '../auth.js';

const tags = ['pipelines'];
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);

const ReasonSchema = Type.Object({
  trigger: Type.String({ description: 'schedule, dataset or manual' }),
  cron: Type.Optional(Type.String()),
  scheduledFor: Type.Optional(Type.Integer()),
  datasets: Type.Optional(Type.Record(Type.String(), Type.Integer())),
});

const StatusSchema = Type.Object({
  pipeline: Type.String(),
  paused: Type.Boolean(),
  pausedAt: Nullable(Type.Integer()),
  schedules: Type.Array(
    Type.Object({
      cron: Type.String(),
      catchup: Type.String(),
      nextFireAt: Type.Integer(),
      lastFiredAt: Nullable(Type.Integer()),
    }),
  ),
  trigger: Nullable(
    Type.Object({
      datasets: Type.Array(Type.String()),
      when: Type.String(),
      coalesceMs: Type.Integer(),
      maxWaitMs: Type.Integer(),
      state: Type.Array(
        Type.Object({
          dataset: Type.String(),
          consumedVersion: Type.Integer(),
          newestVersion: Nullable(Type.Integer()),
        }),
      ),
    }),
  ),
  lastFire: Nullable(
    Type.Object({
      id: Type.String(),
      trigger: Type.String(),
      scheduledFor: Type.Integer(),
      status: Type.String(),
      pipelineRunId: Nullable(Type.String()),
      error: Nullable(Type.String()),
      createdAt: Type.Integer(),
    }),
  ),
  pendingFires: Type.Integer(),
});

const FireSchema = Type.Object({
  id: Type.String(),
  pipeline: Type.String(),
  reason: ReasonSchema,
  status: Type.String(),
  pipelineRunId: Nullable(Type.String()),
  error: Nullable(Type.String()),
});

const PipelineParams = Type.Object({
  pipeline: Type.String({ minLength: 1, maxLength: 255 }),
});

/** Registers the `/api/v1/schedules` routes. */
export function registerV1ScheduleRoutes(app: FastifyInstance, ctx: MobiusContext): void {
  const { scheduler } = ctx;

  app.get(
    '/api/v1/schedules',
    {
      schema: {
        summary: 'Scheduled and triggered pipelines: next fire, dataset versions, last fire',
        tags,
        response: { 200: Type.Object({ schedules: Type.Array(StatusSchema) }) },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      return { schedules: await scheduler.list() };
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post(
      `/api/v1/schedules/:pipeline/${action}`,
      {
        schema: {
          summary:
            action === 'pause'
              ? 'Pause a pipeline: no fires; what comes due waits'
              : 'Resume a pipeline: what came due while paused runs once',
          tags,
          params: PipelineParams,
          response: { 200: StatusSchema },
        },
      },
      async (request) => {
        requireRole(request, 'editor');
        const { pipeline } = request.params as Static<typeof PipelineParams>;
        return action === 'pause' ? scheduler.pause(pipeline) : scheduler.resume(pipeline);
      },
    );
  }

  app.post(
    '/api/v1/schedules/:pipeline/run',
    {
      schema: {
        summary: 'Start a pipeline registered with the server now (a manual fire)',
        tags,
        params: PipelineParams,
        response: { 200: FireSchema },
      },
    },
    async (request) => {
      requireRole(request, 'editor');
      const { pipeline } = request.params as Static<typeof PipelineParams>;
      return scheduler.trigger(pipeline);
    },
  );
}
