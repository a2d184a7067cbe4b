import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { maskSelectList } from './mask.js';

const dir = mkdtempSync(join(tmpdir(), 'mobius-mask-'));
const engine = new Engine({ tempDirectory: join(dir, 'spill'), maxSessions: 1 });
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

const SOURCE = `(select * from (values
    ('ann@example.com', 42, 'x', 1.5::double, date '2024-01-15'),
    (null, null, null, null, null)
  ) t("e-mail ""work""", n, "__m", score, day))`;
const SCHEMA = [
  { name: 'e-mail "work"', type: 'VARCHAR' },
  { name: 'n', type: 'INTEGER' },
  { name: '__m', type: 'VARCHAR' },
  { name: 'score', type: 'DOUBLE' },
  { name: 'day', type: 'DATE' },
];

describe('maskSelectList', () => {
  it('hashes salt + text (non-strings cast), redacts, keeps NULL and odd column names', async () => {
    const select = maskSelectList(
      SCHEMA,
      {
        columns: { 'e-mail "work"': 'hash', n: 'hash', score: 'hash', day: 'redact' },
        salt: "s'alt",
      },
      't@1',
    );
    const rows = await engine.withSession({}, (s) => s.rows(`select ${select} from ${SOURCE}`));
    expect(rows).toEqual([
      {
        'e-mail "work"': sha("s'altann@example.com"),
        n: sha("s'alt42"),
        __m: 'x',
        score: sha("s'alt1.5"),
        day: '[REDACTED]',
      },
      { 'e-mail "work"': null, n: null, __m: null, score: null, day: null },
    ]);
    const types = await engine.withSession({}, (s) =>
      s.rows<{ column_name: string; column_type: string }>(
        `describe select ${select} from ${SOURCE}`,
      ),
    );
    expect(types.map((t) => t.column_type)).toEqual([
      'VARCHAR',
      'VARCHAR',
      'VARCHAR',
      'VARCHAR',
      'VARCHAR',
    ]);
  });

  it('without a salt hashes the value alone', async () => {
    const select = maskSelectList(SCHEMA, { columns: { __m: 'hash' } }, 't@1');
    const [row] = await engine.withSession({}, (s) => s.rows(`select ${select} from ${SOURCE}`));
    expect(row).toMatchObject({ __m: sha('x'), n: 42 });
  });

  it('refuses what it cannot do, saying what to fix', () => {
    expect(() => maskSelectList(SCHEMA, { columns: {} }, 't@1')).toThrow(/nothing to mask/);
    expect(() => maskSelectList(SCHEMA, { columns: { nope: 'hash' } }, 't@1')).toThrow(
      /column 'nope' is not in t@1; its columns are: e-mail "work", n, __m, score, day/,
    );
    expect(() =>
      maskSelectList(SCHEMA, { columns: { n: 'hash' }, salt: 'x'.repeat(1025) }, 't@1'),
    ).toThrow(/the salt has 1025 characters; the limit is 1024/);
    expect(() => maskSelectList(SCHEMA, { columns: { n: 'redact' }, salt: 'k' }, 't@1')).toThrow(
      /a salt applies to hashed columns only/,
    );
  });
});
