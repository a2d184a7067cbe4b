import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { BoundedLog } from './bounded-log.js';

const dir = mkdtempSync(join(tmpdir(), 'mobius-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('BoundedLog', () => {
  it('keeps the first bytes up to the limit and notes how many it dropped', async () => {
    const path = join(dir, 'out.log');
    const log = new BoundedLog(path, 10);
    await pipeline(
      Readable.from([Buffer.from('0123456'), Buffer.from('789abc'), Buffer.from('def')]),
      log,
    );
    expect(log.kept).toBe(10);
    expect(log.dropped).toBe(6);
    expect(readFileSync(path, 'utf8')).toBe(
      '0123456789\n[mobius: 6 more bytes not kept (limit 10)]\n',
    );
  });

  it('writes a short log as it is', async () => {
    const path = join(dir, 'short.log');
    const log = new BoundedLog(path, 100);
    await pipeline(Readable.from([Buffer.from('hello\n')]), log);
    expect(readFileSync(path, 'utf8')).toBe('hello\n');
  });
});
