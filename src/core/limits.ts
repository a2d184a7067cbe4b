/**
 * Every limit and name rule in Mobius, in one place, each with the reason for it.
 * Validation elsewhere calls these; nothing else hard-codes a size or a pattern.
 */
import { MobiusError } from './errors.js';

/** Largest JSON request body. MLflow caps log-batch at 1 MB; we allow 1 MiB + headroom for envelopes. */
export const MAX_JSON_BODY_BYTES = 2 * 1024 * 1024;

/** Deepest JSON nesting accepted: deep bodies are a parser DoS, and no Mobius body nests past 32. */
export const MAX_JSON_DEPTH = 64;

/** Longest name (experiment, dataset, model): MLflow allows 500 chars for experiment names. */
export const MAX_NAME_LENGTH = 500;

/** Longest param/metric/tag key: MLflow's limit (validation.py MAX_ENTITY_KEY_LENGTH). */
export const MAX_KEY_LENGTH = 250;

/** Rows per INSERT statement: keeps under SQLite's 32766 bound parameters at ≤ 32 columns. */
export const MAX_ROWS_PER_INSERT = 1000;

/**
 * Names of user objects: letters, digits, `_ . - /` and space, as MLflow accepts
 * (`^[/\w.\- ]*$`), not starting with a space or '/', and unchanged by path
 * normalisation — so a name can be a path segment without becoming a traversal.
 */
export const NAME_PATTERN = /^[\p{L}\p{N}_][\p{L}\p{N}_.\- /]*$/u;

/**
 * Checks a user-given name and returns it in Unicode NFC, so look-alike NFD spellings
 * cannot create a second object with the "same" name.
 */
export function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new MobiusError('INVALID_ARGUMENT', `${kind} name must be a non-empty string`);
  }
  const normalised = name.normalize('NFC');
  if (normalised.length > MAX_NAME_LENGTH) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${kind} name is ${normalised.length} characters; the limit is ${MAX_NAME_LENGTH}`,
    );
  }
  if (!NAME_PATTERN.test(normalised) || hasPathTricks(normalised)) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${kind} name '${normalised}' is not allowed: use letters, digits, '_', '.', '-', '/' and spaces, starting with a letter, digit or '_', with no '..' or '//' segments`,
    );
  }
  return normalised;
}

function hasPathTricks(name: string): boolean {
  return name.split('/').some((segment) => segment === '.' || segment === '..' || segment === '');
}
