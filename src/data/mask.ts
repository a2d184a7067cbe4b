/**
 * `data mask`: the SELECT that copies a version with chosen columns hashed or redacted.
 * DuckDB runs it over the source's Parquet copy and writes the result as Parquet, which
 * DataService then adds as a new version through the same path as any file (so the new
 * version is read, profiled, stored and committed exactly as an added one is).
 */
import { MobiusError, limits } from '../core/index.js';
import { sqlIdent, sqlString } from '../engine/index.js';
import type { ColumnSchema } from './types.js';

/** What happens to a masked column. */
export const MASK_ACTIONS = ['hash', 'redact'] as const;
export type MaskAction = (typeof MASK_ACTIONS)[number];

/** The text a redacted value becomes. */
export const REDACTED = '[REDACTED]';

/** What `data mask` takes. */
export interface MaskOptions {
  /** Column → what to do with it; at least one. */
  columns: Record<string, MaskAction>;
  /**
   * Prepended to each value before hashing, so that hashes of guessable values (e-mail
   * addresses, phone numbers) cannot be matched by hashing candidates without it.
   */
  salt?: string;
  /** Dataset the masked version is added to (default: the source's dataset). */
  to?: string;
  /** The run that masked the data: recorded on the new version and as lineage. */
  runId?: string;
}

/**
 * Checks `options` against the source's schema and returns the SELECT list: every column
 * in schema order, masked ones replaced. `hash` is the hex sha256 of salt || the value's
 * text (non-string columns are cast to text first), `redact` is REDACTED; NULL stays NULL
 * in both, and masked columns become VARCHAR. `what` names the source in errors.
 */
export function maskSelectList(
  schema: readonly ColumnSchema[],
  options: MaskOptions,
  what: string,
): string {
  const wanted = Object.entries(options.columns ?? {});
  if (wanted.length === 0)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `nothing to mask: name at least one column of ${what} to hash or redact`,
    );
  const names = new Set(schema.map((c) => c.name));
  for (const [column, action] of wanted) {
    if (!names.has(column))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `column '${column}' is not in ${what}; its columns are: ${schema
          .slice(0, 50)
          .map((c) => c.name)
          .join(', ')}${schema.length > 50 ? ', …' : ''}`,
      );
    if (!(MASK_ACTIONS as readonly string[]).includes(action))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `'${String(action)}' is not a way to mask column '${column}'; use ${MASK_ACTIONS.join(' or ')}`,
      );
  }
  const salt = options.salt;
  if (salt !== undefined) {
    if (typeof salt !== 'string')
      throw new MobiusError('INVALID_ARGUMENT', 'the salt must be a string');
    if (salt.length > limits.MAX_MASK_SALT_LENGTH)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `the salt has ${salt.length} characters; the limit is ${limits.MAX_MASK_SALT_LENGTH}`,
      );
    if (salt.includes('\u0000'))
      throw new MobiusError('INVALID_ARGUMENT', 'the salt cannot contain NUL characters');
    if (!wanted.some(([, action]) => action === 'hash'))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        'a salt applies to hashed columns only, and no column is hashed; leave the salt out or hash a column',
      );
  }
  const actions = new Map(wanted);
  return schema
    .map((c) => {
      const q = sqlIdent(c.name);
      switch (actions.get(c.name)) {
        case undefined:
          return q;
        case 'hash': {
          const text = c.type === 'VARCHAR' ? q : `cast(${q} as varchar)`;
          return `case when ${q} is null then null else sha256(${sqlString(salt ?? '')} || ${text}) end as ${q}`;
        }
        case 'redact':
          return `case when ${q} is null then null else ${sqlString(REDACTED)} end as ${q}`;
      }
    })
    .join(', ');
}
