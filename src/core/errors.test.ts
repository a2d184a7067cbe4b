import { describe, expect, it } from 'vitest';
import { ERROR_CODES, HTTP_STATUS, MobiusError, isMobiusError, toMobiusError } from './errors.js';

describe('errors', () => {
  it('maps every code to an HTTP status', () => {
    for (const code of ERROR_CODES) expect(HTTP_STATUS[code]).toBeGreaterThanOrEqual(400);
    expect(new MobiusError('NOT_FOUND', 'x').status).toBe(404);
  });

  it('serialises to {code, message, details?}', () => {
    expect(new MobiusError('CONFLICT', 'c').toBody()).toEqual({ code: 'CONFLICT', message: 'c' });
    expect(new MobiusError('CONFLICT', 'c', { details: { a: 1 } }).toBody()).toEqual({
      code: 'CONFLICT',
      message: 'c',
      details: { a: 1 },
    });
  });

  it('recognises errors by shape, not instanceof', () => {
    const foreign = Object.assign(new Error('x'), { name: 'MobiusError', code: 'NOT_FOUND' });
    expect(isMobiusError(foreign)).toBe(true);
    expect(
      isMobiusError(Object.assign(new Error('x'), { name: 'MobiusError', code: 'BOGUS' })),
    ).toBe(false);
    expect(isMobiusError('NOT_FOUND')).toBe(false);
  });

  it('turns unknown throws into INTERNAL, keeping the cause', () => {
    const cause = new TypeError('boom');
    const e = toMobiusError(cause);
    expect(e.code).toBe('INTERNAL');
    expect(e.cause).toBe(cause);
    expect(e.message).not.toContain('boom');
  });
});
