/**
 * Strict body checks for `/api/v1/` routes. The server's Ajv coerces types (so query
 * strings become numbers), which on a JSON body would turn `null` into 0, `true` into 1
 * and `null` into "" — a metric of 0 nobody logged. These routes check the body as sent,
 * with TypeBox's own (non-coercing) checker, before Ajv validates and applies defaults.
 */
import type { preValidationAsyncHookHandler } from 'fastify';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { MobiusError } from '../../core/index.js';

/** A preValidation hook refusing a body that does not match `schema` without coercion. */
export function strictBody(schema: TSchema): preValidationAsyncHookHandler {
  return async (request) => {
    if (Value.Check(schema, request.body)) return;
    throw new MobiusError('INVALID_ARGUMENT', `invalid request: ${describe(schema, request.body)}`);
  };
}

/** The first problem, said as "body/metrics/0/value must be number or "NaN" or …". */
function describe(schema: TSchema, body: unknown): string {
  const errors = [...Value.Errors(schema, body)];
  const first = errors[0];
  if (first === undefined) return 'body does not match the schema (see /api/v1/openapi.json)';
  const here = errors.filter((e) => e.instancePath === first.instancePath && e.keyword !== 'anyOf');
  const consts = here
    .filter((e) => e.keyword === 'const')
    .map((e) => JSON.stringify((e.params as { allowedValue?: unknown }).allowedValue));
  const types = here
    .filter((e) => e.keyword === 'type')
    .map((e) => String((e.params as { type?: unknown }).type))
    // "must be string" next to string constants says nothing the constants do not.
    .filter((type) => !(type === 'string' && consts.length > 0));
  const others = here.filter((e) => e.keyword !== 'const' && e.keyword !== 'type');
  const parts = [
    ...new Set([...types.map((t) => `${/^[aeiou]/.test(t) ? 'an' : 'a'} ${t}`), ...consts]),
  ];
  const what =
    parts.length > 0
      ? `must be ${parts.join(' or ')}`
      : [...new Set(others.map((e) => e.message))].join('; ');
  return `body${first.instancePath} ${what}`;
}
