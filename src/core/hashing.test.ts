import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { HashingStream, constantTimeEqual, sha256Hex } from './hashing.js';

describe('hashing', () => {
  it('sha256Hex matches node:crypto', () => {
    expect(sha256Hex('abc')).toBe(createHash('sha256').update('abc').digest('hex'));
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('HashingStream hashes and counts what flows through, unchanged', async () => {
    const chunks = [Buffer.from('hello '), Buffer.from('streaming '), Buffer.from('world')];
    const hasher = new HashingStream();
    const out: Buffer[] = [];
    await pipeline(
      Readable.from(chunks),
      hasher,
      new Writable({ write: (c: Buffer, _e, done) => (out.push(c), done()) }),
    );
    expect(Buffer.concat(out).toString()).toBe('hello streaming world');
    expect(hasher.size).toBe(21);
    expect(hasher.digest()).toBe(sha256Hex('hello streaming world'));
  });

  it('constantTimeEqual compares strings of any length', () => {
    expect(constantTimeEqual('secret-token', 'secret-token')).toBe(true);
    expect(constantTimeEqual('secret-token', 'secret-tokex')).toBe(false);
    expect(constantTimeEqual('secret-token', 'secret-token-longer')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });
});
