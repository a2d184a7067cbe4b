/**
 * The scale-out backend: Kysely over node-postgres.
 *
 * int8 (bigint) columns come back as JavaScript numbers, not strings, so both backends
 * hand domains the same types; Mobius keeps timestamps and counts far below 2^53.
 */
import pg from 'pg';
import { PostgresDialect } from 'kysely';
import { MobiusError } from '../../core/index.js';

const INT8_OID = 20;

/** A parsed `postgres://` location: connection string plus the schema Mobius lives in. */
export interface PostgresLocation {
  connectionString: string;
  schema: string | undefined;
}

/** Splits Mobius' own `schema` query parameter off a postgres URL. */
export function parsePostgresLocation(location: string): PostgresLocation {
  let url: URL;
  try {
    url = new URL(location);
  } catch (cause) {
    throw new MobiusError('INVALID_ARGUMENT', `store '${redact(location)}' is not a valid URL`, {
      cause,
    });
  }
  const schema = url.searchParams.get('schema') ?? undefined;
  url.searchParams.delete('schema');
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `schema '${schema}' is not allowed: use lower-case letters, digits and '_'`,
    );
  }
  return { connectionString: url.toString(), schema };
}

/** A connection pool whose sessions use `schema` (created if missing) as search_path. */
export function createPostgresPool(location: PostgresLocation): pg.Pool {
  const types = {
    getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
      if (oid === INT8_OID) return Number;
      return pg.types.getTypeParser(oid, format) as (value: string) => unknown;
    },
  };
  return new pg.Pool({
    connectionString: location.connectionString,
    max: 10,
    types,
    ...(location.schema === undefined ? {} : { options: `-c search_path=${location.schema}` }),
  });
}

/** The Kysely dialect over a pool. */
export function createPostgresDialect(pool: pg.Pool): PostgresDialect {
  return new PostgresDialect({ pool });
}

/** The location with any password removed, for messages and logs. */
export function redact(location: string): string {
  return location.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
