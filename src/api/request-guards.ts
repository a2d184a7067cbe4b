/**
 * Checks every request passes before anything else runs (ARCHITECTURE §6):
 * - Host must be a name this server answers to (blocks DNS rebinding);
 * - a foreign Origin is refused on every method (blocks cross-site requests, including
 *   the text/plain "simple request" POSTs of MLflow CVE-2023-43472);
 * - requests that carry a body must be JSON unless the route says otherwise.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MobiusError, type MobiusConfig } from '../core/index.js';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1', '[::1]'];
const WILDCARD_BINDS = new Set(['0.0.0.0', '::', '']);

/** The Host names accepted: loopback, the bind address, and server.allowedHosts. */
export function allowedHostNames(server: MobiusConfig['server']): Set<string> | 'any' {
  if (server.allowedHosts.includes('*')) return 'any';
  const names = new Set([...LOOPBACK_NAMES, ...server.allowedHosts.map((h) => h.toLowerCase())]);
  if (!WILDCARD_BINDS.has(server.host)) names.add(server.host.toLowerCase());
  return names;
}

/** The host part of a Host header (`[::1]:4600` → `[::1]`, `a.b:80` → `a.b`). */
export function hostName(hostHeader: string): string {
  const h = hostHeader.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/** Whether a request sends a body (by length or chunked encoding). */
function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (
    (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined
  );
}

/** Installs the Host, Origin and Content-Type checks as the first onRequest hook. */
export function registerRequestGuards(app: FastifyInstance, server: MobiusConfig['server']): void {
  const hosts = allowedHostNames(server);
  const origins = new Set(server.allowedOrigins);
  app.addHook('onRequest', async (request) => {
    const host = request.headers.host;
    if (host === undefined || (hosts !== 'any' && !hosts.has(hostName(host)))) {
      throw new MobiusError(
        'PERMISSION_DENIED',
        `Host '${host ?? ''}' is not served here; if this is your server's name, add it to server.allowedHosts`,
      );
    }
    const origin = request.headers.origin;
    if (origin !== undefined && !origins.has(origin) && !isSameOrigin(origin, host)) {
      throw new MobiusError(
        'PERMISSION_DENIED',
        `cross-origin request from '${origin}' refused; add it to server.allowedOrigins if you trust it`,
      );
    }
    const mutating = request.method !== 'GET' && request.method !== 'HEAD';
    if (mutating && hasBody(request)) {
      const allowed = request.routeOptions.config.contentTypes ?? ['application/json'];
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!allowed.includes('*') && !allowed.includes(type)) {
        throw new MobiusError(
          'UNSUPPORTED_MEDIA_TYPE',
          `Content-Type '${type || '(none)'}' is not accepted here; send ${allowed.join(' or ')}`,
        );
      }
    }
  });
}

function isSameOrigin(origin: string, host: string): boolean {
  try {
    return new URL(origin).host.toLowerCase() === host.toLowerCase();
  } catch {
    return false;
  }
}
