/**
 * The JSON body parser: Fastify's own (which rejects `__proto__` and `constructor`
 * keys) behind a nesting-depth check, because deeply nested JSON is a cheap way to
 * exhaust the parser's stack.
 */
import type { FastifyInstance } from 'fastify';
import { MobiusError, limits } from '../core/index.js';

/** Deepest nesting of `body`, scanning once and skipping string contents. */
export function jsonDepth(body: string, stopAt: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) max = depth;
      if (max > stopAt) return max;
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return max;
}

/** Replaces the application/json parser with the depth-checked, poison-rejecting one. */
export function registerJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (jsonDepth(text, limits.MAX_JSON_DEPTH) > limits.MAX_JSON_DEPTH) {
      done(
        new MobiusError(
          'INVALID_ARGUMENT',
          `JSON body nests deeper than ${limits.MAX_JSON_DEPTH} levels`,
        ),
        undefined,
      );
      return;
    }
    void parse(request, text, (error, value) => {
      if (error === null) done(null, value);
      else if (/prototype|constructor/i.test(error.message))
        done(
          new MobiusError(
            'INVALID_ARGUMENT',
            'JSON body contains a forbidden "__proto__" or "constructor" key',
          ),
          undefined,
        );
      else
        done(
          new MobiusError(
            'INVALID_ARGUMENT',
            `request body is not valid JSON: ${whereNotJson(text)}`,
          ),
          undefined,
        );
    });
  });
}

/**
 * Why `text` is not JSON, in V8's words (which quote the place), and for a NaN or Infinity
 * token — Python's json.dumps writes them — what to do instead.
 */
function whereNotJson(text: string): string {
  try {
    JSON.parse(text);
    return 'it could not be read';
  } catch (error) {
    const message = (error as Error).message;
    return /Unexpected token '[NI-]'/.test(message) && /\b(NaN|Infinity)\b/.test(text)
      ? `${message}. JSON has no NaN or Infinity (Python's json.dumps writes them): replace non-finite values before sending`
      : message;
  }
}
