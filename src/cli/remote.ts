/**
 * The CLI as a client of a remote Mobius server (MOBIUS_URL / `url`): the same commands,
 * sent over HTTP with the configured token instead of opening the store directly.
 */
import { ERROR_CODES, MobiusError, type ErrorCode, type MobiusConfig } from '../core/index.js';

/** Calls `method path` on the configured server and returns the JSON body. */
export async function callServer<T>(
  config: MobiusConfig,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const url = new URL(path, config.url);
  const headers: Record<string, string> = {};
  if (config.token !== undefined) headers.authorization = `Bearer ${config.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      redirect: 'error',
    });
  } catch (cause) {
    throw new MobiusError(
      'UNAVAILABLE',
      `cannot reach the Mobius server at ${url.origin}: ${(cause as Error).message}`,
      { cause },
    );
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new MobiusError(
      'UNAVAILABLE',
      `${url.origin} answered ${response.status} with something other than JSON; is MOBIUS_URL a Mobius server?`,
    );
  }
  if (!response.ok) {
    const error = parsed as { code?: string; message?: string } | undefined;
    const code = (ERROR_CODES as readonly string[]).includes(error?.code ?? '')
      ? (error!.code as ErrorCode)
      : 'INTERNAL';
    throw new MobiusError(code, `server said: ${error?.message ?? `HTTP ${response.status}`}`);
  }
  return parsed as T;
}
