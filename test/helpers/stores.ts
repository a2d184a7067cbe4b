/**
 * Test stores. TEST_STORES (comma list, default `sqlite`) picks the backends the
 * suites run on; `.ci/run` runs the whole test command once per backend.
 * Each test store is private: a temp SQLite file, or a fresh PostgreSQL schema.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { newId } from '../../src/core/index.js';
import { openStore, type Store, type StoreDialect } from '../../src/store/index.js';

export const POSTGRES_URL =
  process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:54329/postgres';

/** The backends this run tests, from TEST_STORES. */
export const STORE_BACKENDS: StoreDialect[] = (process.env.TEST_STORES ?? 'sqlite')
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is StoreDialect => {
    if (s === 'sqlite' || s === 'postgres') return true;
    throw new Error(`TEST_STORES: unknown backend '${s}' (use sqlite and/or postgres)`);
  });

export interface TestStore {
  store: Store;
  /** The location string, to open the same store again (e.g. from a child process). */
  location: string;
  /** Closes the store and deletes its data. */
  cleanup: () => Promise<void>;
}

/** A new empty location for `backend`, and a function that deletes it. */
export function freshLocation(backend: StoreDialect): {
  location: string;
  remove: () => Promise<void>;
} {
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'mobius-store-'));
    return {
      location: `sqlite:${join(dir, 'mobius.db')}`,
      remove: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
    };
  }
  const schema = `t_${newId()}`;
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('schema', schema);
  return {
    location: url.toString(),
    remove: async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Opens a fresh, migrated store on `backend`. */
export async function openTestStore(
  backend: StoreDialect,
  options: { migrate?: boolean } = {},
): Promise<TestStore> {
  const { location, remove } = freshLocation(backend);
  const store = await openStore(location);
  if (options.migrate !== false) await store.migrate();
  return {
    store,
    location,
    cleanup: async () => {
      await store.close();
      await remove();
    },
  };
}
