/** store: the metadata spine over SQLite or PostgreSQL. */
export { openStore } from './store.js';
export { openSqliteDatabase } from './sqlite/sqlite-dialect.js';
export type { Store, StoreDialect, MigrationReport, MigrationStep, WriteOptions } from './store.js';
export {
  constraintViolation,
  isTransientConflict,
  withConflictRetry,
  MAX_WRITE_ATTEMPTS,
} from './retry.js';
export { MIGRATIONS } from './migrations/index.js';
export * from './schema.js';
export { segmentRow, SEGMENT_POINTS } from './metric-points.js';
export type { SegmentRow } from './metric-points.js';
export type { Kysely, Transaction } from 'kysely';
export { sql } from 'kysely';
