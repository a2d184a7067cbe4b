/**
 * Token operations for the CLI: on the store directly, or through the server named by
 * MOBIUS_URL — the same three calls either way.
 */
import type { MobiusConfig } from '../core/index.js';
import { openMobius, type MobiusContext } from '../context/index.js';
import type { TokenInfo } from '../governance/index.js';
import type { TokenRole } from '../store/index.js';
import { callServer } from './remote.js';

export interface TokenCommands {
  create(name: string, role: TokenRole): Promise<TokenInfo & { secret: string }>;
  list(): Promise<TokenInfo[]>;
  revoke(idOrName: string): Promise<TokenInfo>;
}

/** The token operations for `config`: remote when `config.url` is set, else local. */
export function tokenCommands(config: MobiusConfig): TokenCommands {
  if (config.url !== undefined) {
    return {
      create: (name, role) => callServer(config, 'POST', '/api/v1/tokens', { name, role }),
      list: async () =>
        (await callServer<{ tokens: TokenInfo[] }>(config, 'GET', '/api/v1/tokens')).tokens,
      revoke: (idOrName) =>
        callServer(config, 'DELETE', `/api/v1/tokens/${encodeURIComponent(idOrName)}`),
    };
  }
  const local = async <T>(fn: (ctx: MobiusContext) => Promise<T>): Promise<T> => {
    const ctx = await openMobius(config, { migrate: true });
    try {
      return await fn(ctx);
    } finally {
      await ctx.close();
    }
  };
  return {
    create: (name, role) => local((ctx) => ctx.tokens.create({ name, role }, 'cli')),
    list: () => local((ctx) => ctx.tokens.list()),
    revoke: (idOrName) => local((ctx) => ctx.tokens.revoke(idOrName, 'cli')),
  };
}
