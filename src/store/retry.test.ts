import { describe, expect, it } from 'vitest';
import { isCatalogRace, isTransientConflict, withConflictRetry } from './retry.js';

const pgError = (code: string) => Object.assign(new Error(code), { code });

describe('retry', () => {
  it('knows which database errors are transient conflicts', () => {
    for (const code of ['40001', '40P01', 'SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED']) {
      expect(isTransientConflict(pgError(code)), code).toBe(true);
    }
    for (const code of ['23505', '42P01', '3F000', 'SQLITE_CONSTRAINT_UNIQUE']) {
      expect(isTransientConflict(pgError(code)), code).toBe(false);
    }
  });

  it('treats a concurrently dropped schema or table as a catalog race, not a conflict', () => {
    expect(isCatalogRace(pgError('3F000'))).toBe(true);
    expect(isCatalogRace(pgError('42P01'))).toBe(true);
    expect(isCatalogRace(pgError('40001'))).toBe(false);
    // A column dropped under the migrator's all-schema scan, and only there.
    const column = Object.assign(pgError('42703'), { routine: 'pg_get_serial_sequence' });
    expect(isCatalogRace(column)).toBe(true);
    expect(isCatalogRace(Object.assign(pgError('42703'), { routine: 'errorMissingColumn' }))).toBe(
      false,
    );
  });

  it('retries what the predicate accepts, and only that', async () => {
    let calls = 0;
    const value = await withConflictRetry(
      () => (++calls < 3 ? Promise.reject(pgError('3F000')) : Promise.resolve('done')),
      isCatalogRace,
    );
    expect(value).toBe('done');
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      withConflictRetry(() => (calls++, Promise.reject(pgError('3F000')))),
    ).rejects.toMatchObject({ code: '3F000' });
    expect(calls).toBe(1);
  });
});
