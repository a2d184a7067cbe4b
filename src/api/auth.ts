/**
 * Token auth. When on, every route — known or not, any method — needs a valid token,
 * so a route added later cannot forget it. Accepted forms: `Authorization: Bearer <t>`
 * and `Authorization: Basic base64(<any user>:<t>)` (what MLflow's client sends when
 * MLFLOW_TRACKING_USERNAME/PASSWORD are set). The admin token is compared in constant time.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MobiusError, constantTimeEqual } from '../core/index.js';
import type { Principal, TokenService } from '../governance/index.js';
import type { TokenRole } from '../store/index.js';

/** The principal used when auth is off (loopback-only by default). */
const LOCAL_PRINCIPAL: Principal = { name: 'local', role: 'admin', tokenId: undefined };

const ROLE_RANK: Record<TokenRole, number> = { viewer: 0, editor: 1, admin: 2 };

/** Pulls the secret out of an Authorization header, or explains what is wrong with it. */
export function presentedSecret(header: string | undefined): string {
  if (header === undefined || header === '') {
    throw new MobiusError(
      'UNAUTHENTICATED',
      'this server requires a token: send Authorization: Bearer <token>',
    );
  }
  const match = /^(Bearer|Basic) +(\S+)$/i.exec(header);
  if (match === null) {
    throw new MobiusError('UNAUTHENTICATED', 'malformed Authorization header: use Bearer <token>');
  }
  if (match[1]!.toLowerCase() === 'bearer') return match[2]!;
  const decoded = Buffer.from(match[2]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1)
    throw new MobiusError('UNAUTHENTICATED', 'malformed Basic credentials: expected user:token');
  return decoded.slice(colon + 1);
}

/** Installs the auth hook (when enabled) and sets `request.principal` on every request. */
export function registerAuth(
  app: FastifyInstance,
  options: { enabled: boolean; adminToken: string | undefined; tokens: TokenService },
): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    if (!options.enabled) {
      request.principal = LOCAL_PRINCIPAL;
      return;
    }
    const secret = presentedSecret(request.headers.authorization);
    if (options.adminToken !== undefined && constantTimeEqual(secret, options.adminToken)) {
      request.principal = { name: 'admin', role: 'admin', tokenId: undefined };
      return;
    }
    const principal = await options.tokens.authenticate(secret);
    if (principal === undefined)
      throw new MobiusError('UNAUTHENTICATED', 'invalid or revoked token');
    request.principal = principal;
  });
}

/** Throws PERMISSION_DENIED unless the request's principal has at least `role`. */
export function requireRole(request: FastifyRequest, role: TokenRole): Principal {
  const principal = request.principal;
  if (principal === null || ROLE_RANK[principal.role] < ROLE_RANK[role]) {
    throw new MobiusError(
      'PERMISSION_DENIED',
      `this needs the ${role} role; your token has ${principal?.role ?? 'none'}`,
    );
  }
  return principal;
}
