/** The PostgreSQL backend. */
export {
  createPostgresDialect,
  createPostgresPool,
  parsePostgresLocation,
  redact,
} from './postgres-dialect.js';
export type { PostgresLocation } from './postgres-dialect.js';
