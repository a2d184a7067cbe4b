/**
 * Relative paths that users and clients send (artifact paths, model sources): decoded
 * until stable, then refused if they could mean anything but "a file below the root".
 * Each rule answers a real incident in a peer (REFERENCE.md, security checklist 1–2):
 * MLflow CVE-2023-1177, -2780, -6909, CVE-2024-1560, -1593, ClearML CVE-2024-24591.
 */
import { MobiusError } from './errors.js';

/** Longest artifact path accepted (bytes of UTF-16, as JavaScript counts). */
export const MAX_PATH_LENGTH = 4096;

/**
 * Percent-decodes until nothing changes, so `%252e%252e%252f` is seen as `../`. Like
 * Python's `unquote` (what MLflow checks with), a `%` that starts no valid escape stays
 * as it is, so a file may be called "100%.txt".
 */
export function decodeUntilStable(value: string): string {
  let current = value;
  for (let i = 0; i < 8; i++) {
    const next = current.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) =>
      Buffer.from(run.replaceAll('%', ''), 'hex').toString('utf8'),
    );
    if (next === current) return current;
    current = next;
  }
  throw new MobiusError('INVALID_ARGUMENT', `path '${value}' is percent-encoded too many times`);
}

/**
 * Returns the normalised relative path (segments joined by '/') or throws INVALID_ARGUMENT.
 * An empty string means the root itself and is allowed only when `allowRoot` is set.
 *
 * @example
 * safeRelativePath('model/MLmodel'); // 'model/MLmodel'
 * safeRelativePath('..%2fetc');      // throws INVALID_ARGUMENT
 */
export function safeRelativePath(raw: string, options: { allowRoot?: boolean } = {}): string {
  const decoded = decodeUntilStable(raw);
  const refuse = (why: string): never => {
    throw new MobiusError('INVALID_ARGUMENT', `path '${raw.slice(0, 200)}' is not allowed: ${why}`);
  };
  if (decoded.length > MAX_PATH_LENGTH) refuse(`longer than ${MAX_PATH_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex -- NUL and control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(decoded)) refuse('it contains control characters (such as NUL)');
  if (decoded.includes('\\')) refuse("backslashes are not path separators here; use '/'");
  if (/[#?;]/.test(decoded)) refuse("'#', '?' and ';' are not allowed in paths");
  if (decoded.startsWith('/'))
    refuse('absolute paths are not allowed; give a path relative to the root');
  if (/^[a-zA-Z]:/.test(decoded)) refuse('drive letters are not allowed');
  if (/^[a-z][a-z0-9+.-]*:/i.test(decoded)) refuse('URLs (scheme:…) are not paths');
  const trimmed = decoded.endsWith('/') ? decoded.slice(0, -1) : decoded;
  if (trimmed === '') {
    if (options.allowRoot === true) return '';
    refuse('it is empty');
  }
  const segments = trimmed.split('/');
  for (const segment of segments) {
    if (segment === '') refuse("empty segments ('//') are not allowed");
    if (segment === '.' || segment === '..') refuse("'.' and '..' segments are not allowed");
  }
  return segments.join('/');
}
