/**
 * `POST /graphql` (and `GET /graphql?query=…` for queries), MLflow's GraphQL endpoint
 * (mlflow/server/handlers.py `_graphql`), which MLflow's UI uses for runs, metrics,
 * artifacts and datasets. The answer is always MLflow's `{data, errors}` with errors as
 * plain message strings and status 200, including for documents that break the safety
 * limits (limits.ts), which are refused before validation or execution. Requests pass
 * the same guards and auth as every route and need the viewer role: nothing here writes.
 * Failures before the handler (auth, Content-Type, body) answer in MLflow's error shape.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import {
  GraphQLError,
  OperationTypeNode,
  execute,
  getOperationAST,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionResult,
} from 'graphql';
import { MobiusError, isMobiusError, limits, toMobiusError } from '../../../core/index.js';
import type { MobiusContext } from '../../../context/index.js';
import { requireRole } from '../../auth.js';
import { toHttpError } from '../../http-errors.js';
import { jsonDepth } from '../../json-body.js';
import { toMlflowError } from '../errors.js';
import { MAX_ALIASES, MAX_ROOT_FIELDS, checkQuerySafety, type QueryLimits } from './limits.js';
import { graphqlContext } from './resolvers.js';
import { mlflowSchema } from './schema.js';

/** Where MLflow serves it (`_add_static_prefix("/graphql")`, no ajax-api spelling). */
export const GRAPHQL_PATH = '/graphql';

/** Tokens a document may have: far above what the selection limit allows, bounding parse work. */
const MAX_TOKENS = 20_000;

/** The wire answer: `errors` is null when there are none, as MLflow sends it. */
interface GraphqlAnswer {
  data: unknown;
  errors: string[] | null;
}

interface GraphqlRequest {
  query: string;
  variables: Record<string, unknown> | undefined;
  operationName: string | undefined;
}

/** The request's query, variables and operationName, from the JSON body or the query string. */
function readRequest(request: FastifyRequest): GraphqlRequest {
  const get = request.method === 'GET';
  const source = (get ? request.query : request.body) as Record<string, unknown> | null;
  if (source === null || typeof source !== 'object' || Array.isArray(source))
    throw new MobiusError('INVALID_ARGUMENT', 'a GraphQL request is a JSON object with a query');
  const { query, operationName } = source;
  let { variables } = source;
  if (typeof query !== 'string' || query === '')
    throw new MobiusError('INVALID_ARGUMENT', `Missing value for required parameter 'query'.`);
  if (get && typeof variables === 'string') {
    // The same nesting bound as JSON bodies get from the body parser.
    if (jsonDepth(variables, limits.MAX_JSON_DEPTH) > limits.MAX_JSON_DEPTH)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `'variables' nests deeper than ${limits.MAX_JSON_DEPTH} levels`,
      );
    try {
      variables = JSON.parse(variables) as unknown;
    } catch {
      throw new MobiusError('INVALID_ARGUMENT', `'variables' is not valid JSON`);
    }
  }
  if (
    variables !== undefined &&
    variables !== null &&
    (typeof variables !== 'object' || Array.isArray(variables))
  )
    throw new MobiusError('INVALID_ARGUMENT', `'variables' must be a JSON object`);
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string')
    throw new MobiusError('INVALID_ARGUMENT', `'operationName' must be a string`);
  return {
    query,
    variables: (variables ?? undefined) as Record<string, unknown> | undefined,
    operationName: operationName ?? undefined,
  };
}

/** An error's message for the answer; unexpected failures are logged, not shown. */
function messageOf(error: GraphQLError, request: FastifyRequest): string {
  const original = error.originalError;
  if (original === undefined || original instanceof GraphQLError || isMobiusError(original))
    return error.message;
  request.log.error({ err: original }, 'graphql resolver failed');
  return toMobiusError(original).message;
}

/** Runs one GraphQL request to its answer. */
export async function runGraphql(
  ctx: MobiusContext,
  request: FastifyRequest,
  body: GraphqlRequest,
  queryLimits: QueryLimits,
): Promise<GraphqlAnswer> {
  let document: DocumentNode;
  try {
    document = parse(body.query, { maxTokens: MAX_TOKENS });
  } catch (error) {
    if (error instanceof GraphQLError) return { data: null, errors: [error.message] };
    throw error;
  }
  const unsafe = checkQuerySafety(document, queryLimits);
  if (unsafe !== undefined) return { data: null, errors: [unsafe] };
  const invalid = validate(mlflowSchema, document, specifiedRules);
  if (invalid.length > 0) return { data: null, errors: invalid.map((e) => e.message) };
  if (request.method === 'GET') {
    const operation = getOperationAST(document, body.operationName);
    if (operation != null && operation.operation !== OperationTypeNode.QUERY)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `a GET request can only run a query, not a ${operation.operation}; use POST`,
      );
  }
  const result: ExecutionResult = await execute({
    schema: mlflowSchema,
    document,
    variableValues: body.variables,
    operationName: body.operationName,
    contextValue: graphqlContext(ctx),
  });
  return {
    data: result.data ?? null,
    errors: result.errors === undefined ? null : result.errors.map((e) => messageOf(e, request)),
  };
}

/** The plugin: the route, in a scope whose errors answer in MLflow's error shape. */
export function registerMlflowGraphqlRoutes(
  ctx: MobiusContext,
  queryLimits: QueryLimits = { maxRootFields: MAX_ROOT_FIELDS, maxAliases: MAX_ALIASES },
): FastifyPluginAsync {
  return async (scope: FastifyInstance) => {
    scope.setErrorHandler((error, request, reply) => {
      const mobiusError = toHttpError(error, ctx.config.server.bodyLimit);
      if (mobiusError.code === 'INTERNAL') request.log.error({ err: error }, 'request failed');
      if (mobiusError.code === 'UNAUTHENTICATED')
        void reply.header('www-authenticate', 'Bearer realm="mobius"');
      const { status, body } = toMlflowError(mobiusError);
      return reply.status(status).send(body);
    });
    scope.route({
      method: ['GET', 'POST'],
      url: GRAPHQL_PATH,
      schema: { hide: true },
      handler: async (request) => {
        requireRole(request, 'viewer');
        return runGraphql(ctx, request, readRequest(request), queryLimits);
      },
    });
  };
}
