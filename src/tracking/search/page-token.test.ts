import { describe, expect, it } from 'vitest';
import { decodePageToken, encodePageToken } from './page-token.js';

describe('page tokens', () => {
  it('round-trips offsets; no token is offset 0', () => {
    for (const offset of [0, 1, 1000, 49_999, Number.MAX_SAFE_INTEGER]) {
      expect(decodePageToken(encodePageToken(offset))).toBe(offset);
    }
    expect(decodePageToken(undefined)).toBe(0);
    expect(decodePageToken(null)).toBe(0);
    expect(decodePageToken('')).toBe(0);
  });

  it('is URL-safe', () => {
    expect(encodePageToken(123_456)).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  const b64 = (text: string): string => Buffer.from(text).toString('base64url');
  it.each([
    ['not base64', 'not a token!'],
    ['not JSON', b64('offset=3')],
    ['a JSON array', b64('[3]')],
    ['a string offset', b64('{"offset":"3"}')],
    ['a negative offset', b64('{"offset":-1}')],
    ['a fractional offset', b64('{"offset":1.5}')],
    ['an unsafe offset', b64('{"offset":1e300}')],
    ['extra fields', b64('{"offset":3,"x":1}')],
    ['no offset', b64('{}')],
    ['JSON null', b64('null')],
    ['an overlong token', 'A'.repeat(500)],
  ])('refuses %s with INVALID_ARGUMENT', (_what, token) => {
    expect(() => decodePageToken(token)).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('page_token is not one this server issued'),
      }),
    );
  });
});
