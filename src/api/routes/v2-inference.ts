/**
 * Model serving over HTTP: the Open Inference Protocol v2 (KServe/Triton's REST "V2"
 * protocol — `/v2/health/*`, `/v2/models/{name}`, `/v2/models/{name}/infer`) and a plain
 * records endpoint, `/api/v1/deployments/{name}/predict`. Bodies are validated by the
 * serving folder against the model's signature (not by a JSON Schema here), so every
 * refusal names the field (`inputs[0].shape: …`). Inference reads nothing stored and
 * changes nothing, so the viewer role may call it.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { VERSION } from '../../core/index.js';
import type { MobiusContext } from '../../context/index.js';
import { DATATYPES, type CallInfo, type Served } from '../../serving/index.js';
import { requireRole } from '../auth.js';

const tags = ['serving'];

const Params = Type.Object({ name: Type.String({ minLength: 1, maxLength: 500 }) });

const TensorSpecSchema = Type.Object({
  name: Type.String(),
  datatype: Type.Union(DATATYPES.map((d) => Type.Literal(d))),
  shape: Type.Array(Type.Integer(), { description: '-1: any size' }),
});

const ModelMetadata = Type.Object({
  name: Type.String(),
  versions: Type.Array(Type.String()),
  platform: Type.String({ description: 'onnx or mobius-json' }),
  inputs: Type.Array(TensorSpecSchema),
  outputs: Type.Array(TensorSpecSchema),
});

const RouteSchema = Type.Object({
  model: Type.String(),
  version: Type.Integer(),
  ref: Type.String(),
  weight: Type.Number(),
  role: Type.String(),
});

const Deployment = Type.Object({
  name: Type.String(),
  /** Absent when this server has not loaded the deployment (its model failed to load). */
  platform: Type.Optional(Type.String()),
  inputs: Type.Optional(Type.Array(TensorSpecSchema)),
  outputs: Type.Optional(Type.Array(TensorSpecSchema)),
  features: Type.Optional(Type.Array(Type.String())),
  live: Type.Boolean(),
  // Stored (registry-backed) deployments only:
  routes: Type.Optional(Type.Array(RouteSchema)),
  mirror: Type.Optional(
    Type.Union([
      Type.Object({
        model: Type.String(),
        version: Type.Integer(),
        ref: Type.String(),
        percent: Type.Number(),
      }),
      Type.Null(),
    ]),
  ),
  sticky: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  lastGood: Type.Optional(
    Type.Union([Type.Object({ model: Type.String(), version: Type.Integer() }), Type.Null()]),
  ),
  revision: Type.Optional(Type.Integer()),
  droppedPredictions: Type.Optional(Type.Integer()),
});

// The request bodies are described, not enforced, here: serving validates them against the
// model's own signature, which a static schema cannot know.
const InferBodyDoc = {
  description:
    'OIP v2 request: {id?, parameters?, inputs: [{name, shape, datatype, data}], outputs?: [{name}]}',
};
const RecordsBodyDoc = { description: '{records: [{"<feature>": value, …}, …]}' };

/** The request id header and the headers a sticky key may name. */
function callInfo(request: FastifyRequest, reply: FastifyReply): CallInfo {
  const id = request.headers['x-request-id'];
  return {
    requestId: typeof id === 'string' ? id : undefined,
    headers: request.headers,
    onRoute: (route) => answered(reply, route),
  };
}

/**
 * Names the answer on the response: `x-request-id` (what feedback refers to) and
 * `x-mobius-model-version` (`churn@3`: which route answered a canary or A/B request).
 */
function answered(reply: FastifyReply, served: Omit<Served<unknown>, 'body'>): void {
  // Header values must be printable ASCII; an id outside it is still in the JSON body.
  const printable = /^[\x20-\x7e]*$/;
  if (printable.test(served.requestId)) void reply.header('x-request-id', served.requestId);
  const version = `${served.model}@${served.version}`;
  if (served.model !== undefined && printable.test(version))
    void reply.header('x-mobius-model-version', version);
}

/** Registers `/v2/…` (Open Inference Protocol) and `/api/v1/deployments/…`. */
export function registerV2InferenceRoutes(app: FastifyInstance, ctx: MobiusContext): void {
  const { serving } = ctx;

  app.get(
    '/v2',
    {
      schema: {
        summary: 'OIP server metadata',
        tags,
        response: {
          200: Type.Object({
            name: Type.String(),
            version: Type.String(),
            extensions: Type.Array(Type.String()),
          }),
        },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      return { name: 'mobius', version: VERSION, extensions: [] };
    },
  );

  app.get(
    '/v2/health/live',
    {
      schema: {
        summary: 'OIP liveness',
        tags,
        response: { 200: Type.Object({ live: Type.Boolean() }) },
      },
    },
    async () => ({ live: true }),
  );

  app.get(
    '/v2/health/ready',
    {
      schema: {
        summary: 'OIP readiness: every deployment is loaded before it is listed',
        tags,
        response: { 200: Type.Object({ ready: Type.Boolean() }) },
      },
    },
    // Deployments are bound only after their model loaded, so the server is ready whenever
    // it answers; a deployment still loading is simply not listed yet.
    async () => ({ ready: true }),
  );

  app.get(
    '/v2/models/:name',
    {
      schema: {
        summary: 'OIP model metadata: inputs and outputs with datatypes and shapes',
        tags,
        params: Params,
        response: { 200: ModelMetadata },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const { name } = request.params as Static<typeof Params>;
      const meta = serving.metadata(name);
      return {
        name,
        versions: [],
        platform: meta.platform,
        inputs: meta.inputs,
        outputs: meta.outputs,
      };
    },
  );

  app.get(
    '/v2/models/:name/ready',
    {
      schema: {
        summary: 'OIP model readiness (404 for an unknown deployment)',
        tags,
        params: Params,
        response: { 200: Type.Object({ name: Type.String(), ready: Type.Boolean() }) },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const { name } = request.params as Static<typeof Params>;
      serving.get(name);
      return { name, ready: true };
    },
  );

  app.post(
    '/v2/models/:name/infer',
    { schema: { summary: 'OIP inference', tags, params: Params, body: InferBodyDoc } },
    async (request, reply) => {
      requireRole(request, 'viewer');
      const { name } = request.params as Static<typeof Params>;
      return (await serving.serveInfer(name, request.body, callInfo(request, reply))).body;
    },
  );

  app.get(
    '/api/v1/deployments',
    {
      schema: {
        summary: 'The deployments: live ones with their signatures, stored ones with routes',
        tags,
        response: { 200: Type.Object({ deployments: Type.Array(Deployment) }) },
      },
    },
    async (request) => {
      requireRole(request, 'viewer');
      const stored = new Map((await ctx.deployments.list()).map((d) => [d.name, d]));
      const names = [...new Set([...serving.list(), ...stored.keys()])].sort();
      return {
        deployments: names.map((name) => {
          const d = stored.get(name);
          return {
            ...(serving.has(name) ? serving.metadata(name) : { name }),
            live: serving.has(name),
            ...(d === undefined
              ? {}
              : {
                  routes: d.routes,
                  mirror: d.mirror,
                  sticky: d.sticky,
                  lastGood: d.lastGood,
                  revision: d.revision,
                  droppedPredictions: ctx.deployments.dropped(name),
                }),
          };
        }),
      };
    },
  );

  app.post(
    '/api/v1/deployments/:name/predict',
    {
      schema: {
        summary: 'Predict for records: one {output: value} object per record',
        tags,
        params: Params,
        body: RecordsBodyDoc,
      },
    },
    async (request, reply) => {
      requireRole(request, 'viewer');
      const { name } = request.params as Static<typeof Params>;
      return (await serving.servePredict(name, request.body, callInfo(request, reply))).body;
    },
  );
}
