/** A whole Mobius context on a private store (per TEST_STORES) and a temp blob dir. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, type ConfigInput } from '../../src/core/index.js';
import { openMobius, type MobiusContext, type OpenMobiusOptions } from '../../src/context/index.js';
import type { StoreDialect } from '../../src/store/index.js';
import { freshLocation } from './stores.js';

export interface TestContext {
  ctx: MobiusContext;
  cleanup: () => Promise<void>;
}

/** Opens and migrates a context; `input` overrides config (server.auth, token, …); `options` sets e.g. the clock. */
export async function openTestContext(
  backend: StoreDialect,
  input: ConfigInput = {},
  options: Omit<OpenMobiusOptions, 'migrate'> = {},
): Promise<TestContext> {
  const home = mkdtempSync(join(tmpdir(), 'mobius-home-'));
  const { location, remove } = freshLocation(backend);
  const config = resolveConfig({ store: location, log: { level: 'silent' }, ...input }, home);
  const ctx = await openMobius(config, { ...options, migrate: true });
  return {
    ctx,
    cleanup: async () => {
      await ctx.close();
      await remove();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
