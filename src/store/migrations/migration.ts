/** What a Mobius migration receives besides the database: the few DDL spellings that differ by backend. */
import type { ColumnDataType, ColumnDefinitionBuilder, Expression, Kysely } from 'kysely';

export interface MigrationContext {
  dialect: 'sqlite' | 'postgres';
  /** An auto-incrementing integer primary key (append-only logs: metric, edge, audit). */
  serialPk: {
    type: ColumnDataType | Expression<unknown>;
    build: (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder;
  };
}

/** One schema change. Migrations only move forward; each runs inside the migration transaction. */
export interface MobiusMigration {
  up(db: Kysely<unknown>, context: MigrationContext): Promise<void>;
}
