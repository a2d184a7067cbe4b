/**
 * The UI's prompt-lab endpoints MLflow serves under /ajax-api only:
 * `runs/create-promptlab-run` (records a prompt-engineering run) and `gateway-proxy`
 * (forwards to MLflow's AI gateway). Checks and messages are MLflow's
 * (server/handlers.py `create_promptlab_run_handler`, `_validate_gateway_path`).
 */
import type { FastifyInstance } from 'fastify';
import { MobiusError } from '../../core/index.js';
import type { MobiusContext } from '../../context/index.js';
import { createPromptlabRun, type PromptlabParam } from '../../tracking/index.js';
import { mlflowRoute } from './tracking-routes.js';
import { invalidValue, runJson, type Fields } from './wire.js';

const AJAX = ['/ajax-api/2.0/mlflow/'] as const;

/** MLflow's "must specify" check: absent, empty string and empty list all fail. */
function required(f: Fields, name: string): unknown {
  const v = f.raw(name);
  if (
    v === undefined ||
    v === null ||
    v === '' ||
    v === false ||
    v === 0 ||
    (Array.isArray(v) && v.length === 0)
  )
    throw new MobiusError('INVALID_ARGUMENT', `CreatePromptlabRun request must specify ${name}.`);
  return v;
}

function text(f: Fields, name: string): string {
  const v = required(f, name);
  if (typeof v !== 'string') throw invalidValue(name, v, 'a string');
  return v;
}

/** `[{key, value}]` with values of any JSON scalar, kept as MLflow's str() of them. */
function params(value: unknown, name: string): PromptlabParam[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidValue(name, value, 'a list of {"key", "value"}');
  return value.map((item, i) => {
    const { key, value: v } = (item ?? {}) as { key?: unknown; value?: unknown };
    if (typeof key !== 'string' || key === '')
      throw invalidValue(`${name}[${i}].key`, key, 'a non-empty string');
    if (v === undefined || v === null) return { key, value: 'None' };
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
      throw invalidValue(`${name}[${i}].value`, v, 'a string');
    // MLflow keeps str(value): Python spells booleans True and False.
    return { key, value: typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v) };
  });
}

/** The prompt-lab run and gateway proxy endpoints. */
export function registerMlflowGenaiRoutes(app: FastifyInstance, ctx: MobiusContext): void {
  mlflowRoute(
    app,
    ['POST'],
    'runs/create-promptlab-run',
    async (f) => {
      const experimentId = text(f, 'experiment_id');
      const promptTemplate = text(f, 'prompt_template');
      const promptParameters = params(required(f, 'prompt_parameters'), 'prompt_parameters');
      const modelRoute = text(f, 'model_route');
      const modelInput = text(f, 'model_input');
      const mlflowVersion = text(f, 'mlflow_version');
      const run = await createPromptlabRun(
        { runs: ctx.tracking.runs, artifacts: ctx.tracking.artifacts, clock: ctx.clock },
        {
          experimentId,
          runName: f.str('run_name', 'optional'),
          tags: params(f.raw('tags'), 'tags'),
          promptTemplate,
          promptParameters,
          modelRoute,
          modelParameters: params(f.raw('model_parameters'), 'model_parameters'),
          modelInput,
          modelOutput: f.str('model_output', 'optional'),
          modelOutputParameters: params(
            f.raw('model_output_parameters'),
            'model_output_parameters',
          ),
          mlflowVersion,
          userId: f.str('user_id', 'optional') ?? 'unknown',
          startTime: f.int('start_time') ?? ctx.clock.now(),
        },
      );
      return { run: runJson(run) };
    },
    'editor',
    AJAX,
  );

  mlflowRoute(
    app,
    ['GET', 'POST'],
    'gateway-proxy',
    async (f, request) => {
      const path = f.raw('gateway_path');
      if (typeof path !== 'string' || path === '')
        throw new MobiusError(
          'INVALID_ARGUMENT',
          'Deployments proxy request must specify a gateway_path.',
        );
      const p = path.replace(/^\/+|\/+$/g, '');
      const valid =
        request.method === 'GET'
          ? p === 'api/2.0/endpoints'
          : /^gateway\/[^/]+\/invocations$/.test(p);
      if (!valid)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `Invalid gateway_path: ${p} for method: ${request.method}`,
        );
      // Mobius has no AI gateway of its own and no setting for one: the endpoint list is
      // honestly empty (what MLflow's UI shows without a gateway), and a call cannot go
      // anywhere.
      if (request.method === 'GET') return { endpoints: [] };
      throw new MobiusError(
        'UNAVAILABLE',
        `No AI gateway is configured on this server, so '${p}' cannot be called; Mobius does not proxy MLflow's AI gateway yet`,
      );
    },
    'editor',
    AJAX,
  );
  // MLflow's server answers other methods with 405, which its tests (and HTTP) expect
  // rather than "no such route".
  app.route({
    method: ['DELETE', 'PUT', 'PATCH'],
    url: `${AJAX[0]}gateway-proxy`,
    schema: { hide: true },
    handler: async (request, reply) =>
      reply
        .status(405)
        .header('allow', 'GET, POST')
        .send({
          error_code: 'BAD_REQUEST',
          message: `Method ${request.method} is not allowed on gateway-proxy; use GET or POST`,
        }),
  });
}
