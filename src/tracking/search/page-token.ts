/**
 * Page tokens for run search: base64url JSON `{"offset": n}`, as MLflow's (which is
 * base64 JSON of the same shape). Clients must treat them as opaque; the format is ours
 * to change. Offset paging matches MLflow: a run inserted between two page requests can
 * shift later pages by one, which MLflow's clients already live with.
 */
import { MobiusError } from '../../core/index.js';

const TOKEN_SHAPE = /^[A-Za-z0-9_-]+$/;

/** The token for the page starting at `offset`. */
export function encodePageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset }), 'utf8').toString('base64url');
}

/**
 * The offset a token stands for; 0 for no token. Anything this module did not make is
 * INVALID_ARGUMENT, never an exception from JSON or Buffer.
 */
export function decodePageToken(token: string | null | undefined): number {
  if (token === null || token === undefined || token === '') return 0;
  const bad = (): MobiusError =>
    new MobiusError(
      'INVALID_ARGUMENT',
      'page_token is not one this server issued; pass the next_page_token of the previous page unchanged',
    );
  // Buffer's decoder skips characters outside the alphabet, so check the shape first.
  if (token.length > 200 || !TOKEN_SHAPE.test(token)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad();
  const keys = Object.keys(parsed);
  const offset: unknown = (parsed as { offset?: unknown }).offset;
  if (keys.length !== 1 || typeof offset !== 'number' || !Number.isSafeInteger(offset)) throw bad();
  if (offset < 0) throw bad();
  return offset;
}
