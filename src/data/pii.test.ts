import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, sqlIdent, sqlString } from '../engine/index.js';
import { PII_KINDS, piiThreshold, scanPii, type PiiKind } from './pii.js';

const dir = mkdtempSync(join(tmpdir(), 'mobius-pii-'));
const engine = new Engine({ tempDirectory: join(dir, 'spill'), maxSessions: 1 });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Each value, and the kinds it must be found to hold (and no others). */
const CASES: [string, PiiKind[]][] = [
  ['jane.doe@example.com', ['email']],
  ['write to bob+news@mail.example.org today', ['email']],
  ['user@localhost', []],
  ['follow @handle', []],
  ['+1 (415) 555-0132', ['phone']],
  ['+14155550132', ['phone']],
  ['call +44 20 7946 0958 today', ['phone']],
  ['415-555-0132', ['phone']],
  ['(415) 555-0132', ['phone']],
  ['415.555.0132', ['phone']],
  ['020 7946 0958', ['phone']],
  ['01 23 45 67 89', ['phone']],
  ['030-1234567', ['phone']],
  ['12345678901', []],
  ['+1234', []],
  ['2024-01-15', []],
  ['01-02-2024', []],
  ['4111 1111 1111 1111', ['card']],
  ['4111-1111-1111-1111', ['card']],
  ['4111111111111112', []],
  ['378282246310005', ['card']],
  ['paid with 5500005555555559.', ['card']],
  ['12345678901234567890', []],
  ['DE89 3704 0044 0532 0130 00', ['iban']],
  ['GB82WEST12345698765432', ['iban']],
  ['GB82WEST12345698765433', []],
  ['iban: NO9386011117947.', ['iban']],
  ['10.0.0.1', ['ipv4']],
  ['256.1.1.1', []],
  ['host 192.168.1.20:8080, ok', ['ipv4']],
  ['ended at 8.8.8.8.', ['ipv4']],
  ['v1.2.3.4', []],
  ['1.2.3.4.5', []],
  ['2001:db8::1', ['ipv6']],
  ['fe80::1%eth0', ['ipv6']],
  ['::1', ['ipv6']],
  ['2001:0db8:85a3:0000:0000:8a2e:0370:7334', ['ipv6']],
  ['[2001:db8::2]:443', ['ipv6']],
  ['::ffff:192.168.1.1', ['ipv6']],
  ['std::vector', []],
  ['10:30:00', []],
  ['00:1A:2B:3C:4D:5E', []],
  ['1::2::3', []],
  ['a :: b', []],
  ['550e8400-e29b-41d4-a716-446655440000', []],
  ['cust-000123', []],
  ['The quick brown fox paid 3.14 on 2024-01-15, order 123456.', []],
  ['1,234,567.89', []],
];

describe('PII rules', () => {
  it('finds each kind where it is and nowhere else (one scan of one column per value)', async () => {
    const source = `(select ${CASES.map(([v], i) => `${sqlString(v)} as ${sqlIdent(`c${i}`)}`).join(', ')})`;
    const schema = CASES.map((_c, i) => ({ name: `c${i}`, type: 'VARCHAR' }));
    const { columns } = await engine.withSession({}, (s) => scanPii(s, source, schema, 0.01));
    const found = columns.map((c, i) => ({
      value: CASES[i]![0],
      kinds: c.kinds.filter((k) => k.matches > 0).map((k) => k.kind),
    }));
    expect(found).toEqual(CASES.map(([value, kinds]) => ({ value, kinds })));
  });

  it('counts values, not matches; masks examples; leaves other types out', async () => {
    const source = `(select * from (values
        ('a@example.com, b@example.com', 1), ('a@example.com', 2), (null, 3), ('none', 4)
      ) t(contact, n))`;
    const schema = [
      { name: 'contact', type: 'VARCHAR' },
      { name: 'n', type: 'INTEGER' },
    ];
    const scan = await engine.withSession({}, (s) => scanPii(s, source, schema, 0.5));
    expect(scan.notScanned).toEqual([{ name: 'n', type: 'INTEGER' }]);
    const [contact] = scan.columns;
    expect(contact).toMatchObject({ name: 'contact', rows: 4, nonNull: 3, flagged: ['email'] });
    const email = contact!.kinds.find((k) => k.kind === 'email')!;
    expect(email).toEqual({
      kind: 'email',
      matches: 2,
      percent: (2 / 3) * 100,
      flagged: true,
      examples: ['a@*******.**m'],
    });
    expect(contact!.kinds.map((k) => k.kind)).toEqual([...PII_KINDS]);
    // 2 of 3 values is below a threshold of 0.9: counted, not flagged.
    const strict = await engine.withSession({}, (s) => scanPii(s, source, schema, 0.9));
    expect(strict.columns[0]!.flagged).toEqual([]);
    expect(strict.columns[0]!.kinds[0]!.matches).toBe(2);
  });

  it('scans columns with odd names, including ones like its own aliases and lambda names', async () => {
    const names = ['n0', 'm0_email', '__m', 'we"ird col'];
    const source = `(select ${names.map((n, i) => `${sqlString(i === 2 ? '10.1.2.3' : 'a@b.co')} as ${sqlIdent(n)}`).join(', ')})`;
    const schema = names.map((name) => ({ name, type: 'VARCHAR' }));
    const { columns } = await engine.withSession({}, (s) => scanPii(s, source, schema, 0.01));
    expect(columns.map((c) => [c.name, c.flagged])).toEqual([
      ['n0', ['email']],
      ['m0_email', ['email']],
      ['__m', ['ipv4']],
      ['we"ird col', ['email']],
    ]);
  });

  it('refuses thresholds that are not fractions', () => {
    expect(piiThreshold(undefined)).toBe(0.01);
    expect(piiThreshold(0)).toBe(0);
    expect(() => piiThreshold(5)).toThrow(/not a fraction from 0 to 1/);
    expect(() => piiThreshold(Number.NaN)).toThrow(/not a fraction/);
  });
});
