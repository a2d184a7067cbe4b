/**
 * PII scan and masking (issue 4, item 7) through DataService on every metadata backend:
 * generated data whose matches are known by construction (card numbers made valid or
 * broken with Luhn, IBANs with ISO 13616 check digits computed here), clean columns that
 * must not be flagged, and masked versions checked value by value against node:crypto.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlString, type Cell } from '../src/engine/index.js';
import type { PiiReport } from '../src/data/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { refused } from './helpers/refused.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const N = 600;
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** `digits` followed by its Luhn check digit. */
function withLuhn(digits: string): string {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    // Positions from the right, the check digit (to be appended) being position 1.
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return `${digits}${(10 - (sum % 10)) % 10}`;
}

/** A German IBAN for an 18-digit BBAN, check digits by ISO 13616 (98 − n mod 97). */
function iban(bban: string): string {
  const numeric = `${bban}DE00`.replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  const check = 98 - Number(BigInt(numeric) % 97n);
  return `DE${pad(check, 2)}${bban}`;
}

/** One generated row; the comments say which rows hold which kind. */
function row(i: number): Record<string, string | number | null> {
  const card16 = withLuhn(`4${pad(i * 7919, 14)}`);
  const broken = `${card16.slice(0, -1)}${(Number(card16.slice(-1)) + 1) % 10}`;
  const good = iban(pad(i * 104729, 18));
  const grouped = good.match(/.{1,4}/g)!.join(' ');
  const badIban = `DE${pad((Number(good.slice(2, 4)) + 1) % 100, 2)}${good.slice(4)}`;
  return {
    id: i,
    // every row but i % 10 = 0 (null): 540 e-mails
    email: i % 10 === 0 ? null : `user${i}@example.com`,
    // i % 4 = 0 valid, 1 Luhn-failing, 2 valid with spaces, 3 'n/a': 300 cards
    card: [card16, broken, card16.match(/.{4}/g)!.join(' '), 'n/a'][i % 4]!,
    // i % 3 = 0 compact, 2 grouped (valid), 1 wrong check digits: 400 IBANs
    iban: [good, badIban, grouped][i % 3]!,
    // i % 5 = 0 IPv4, 1 256.x (not one), 2 and 3 IPv6, 4 'unknown': 120 IPv4, 240 IPv6
    ip: [
      `10.${i % 256}.${(i * 7) % 256}.1`,
      `256.1.1.${i % 200}`,
      `2001:db8::${i.toString(16)}`,
      `fe80::1:${i.toString(16)}%eth0`,
      'unknown',
    ][i % 5]!,
    // i % 4 = 3 is a bare number (not a phone): 450 phones
    phone: [
      `+1 (415) 555-${pad(i, 4)}`,
      `020 7946 ${pad(i, 4)}`,
      `+4930${pad(i, 7)}`,
      `${1_000_000_000 + i}`,
    ][i % 4]!,
    // 12 of 600 rows (2%) mention an address inside a sentence: flagged
    feedback:
      i % 50 === 0
        ? `Great service, write to person${i}@mail.example.org if needed.`
        : `Great service, ${i % 5} stars.`,
    // one row (1 of 600, below 1%) mentions one: counted, not flagged
    comment: i === 7 ? 'ping ops@example.com' : `ok ${i}`,
    // clean: digit strings, ids, prose with numbers and dates
    order_no: String(100_000 + i),
    customer: `cust-${pad(i, 6)}`,
    prose: `Order ${i} shipped on 2024-01-${pad((i % 28) + 1, 2)} for ${i * 3}.50 EUR, ref ${i}.${i % 9}.`,
  };
}

const EXPECTED_FLAGS = [
  { column: 'email', kind: 'email', matches: 540 },
  { column: 'card', kind: 'card', matches: 300 },
  { column: 'iban', kind: 'iban', matches: 400 },
  { column: 'ip', kind: 'ipv4', matches: 120 },
  { column: 'ip', kind: 'ipv6', matches: 240 },
  { column: 'phone', kind: 'phone', matches: 450 },
  { column: 'feedback', kind: 'email', matches: 12 },
];

for (const backend of STORE_BACKENDS) {
  describe(`PII scan and masking: ${backend}`, () => {
    let t: TestContext;
    let dir: string;
    const rows = Array.from({ length: N }, (_v, i) => row(i + 1));

    /** All rows of a version's Parquet copy, in order, as DuckDB reads them. */
    const readRows = async (ref: string): Promise<Record<string, Cell>[]> => {
      const path = join(dir, `${ref.replace(/[@]/g, '-')}-${Math.random()}.parquet`);
      await pipeline(await t.ctx.data.openFile(ref, { parquet: true }), createWriteStream(path));
      return t.ctx.engine.withSession({ files: [path] }, (s) =>
        s.rows(`select * from read_parquet(${sqlString(path)})`),
      );
    };
    const versionCount = async () =>
      (await t.ctx.store.db.selectFrom('dataset_version').select('id').execute()).length;

    beforeAll(async () => {
      t = await openTestContext(backend);
      dir = mkdtempSync(join(tmpdir(), 'mobius-pii-'));
      writeFileSync(join(dir, 'people.ndjson'), rows.map((r) => JSON.stringify(r)).join('\n'));
      await t.ctx.data.add({ name: 'people', source: 'people.ndjson', cwd: dir });
    });
    afterAll(async () => {
      await t.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('flags exactly the PII columns, with exact counts, and no clean column', async () => {
      const report = await t.ctx.data.pii('people@1');
      expect(report).toMatchObject({ dataset: 'people', version: 1, rowCount: N, threshold: 0.01 });
      expect(report.notScanned).toEqual([{ name: 'id', type: 'BIGINT' }]);
      // Every other column is a string column, so the clean ones really were scanned.
      expect(report.columns.map((c) => [c.name, c.type, c.rows])).toEqual(
        Object.keys(rows[0]!)
          .filter((c) => c !== 'id')
          .map((c) => [c, 'VARCHAR', N]),
      );
      expect(
        report.flagged.map(({ column, kind, matches }) => ({ column, kind, matches })),
      ).toEqual(EXPECTED_FLAGS);
      const col = (name: string) => report.columns.find((c) => c.name === name)!;
      const found = (name: string) =>
        Object.fromEntries(
          col(name)
            .kinds.filter((k) => k.matches > 0)
            .map((k) => [k.kind, k.matches]),
        );
      expect(col('email')).toMatchObject({ nonNull: 540, flagged: ['email'] });
      expect(col('email').kinds[0]).toMatchObject({ matches: 540, percent: 100 });
      expect(found('card')).toEqual({ card: 300 });
      expect(col('card').kinds.find((k) => k.kind === 'card')!.percent).toBe(50);
      expect(found('iban')).toEqual({ iban: 400 });
      expect(found('ip')).toEqual({ ipv4: 120, ipv6: 240 });
      expect(found('phone')).toEqual({ phone: 450 });
      expect(found('feedback')).toEqual({ email: 12 });
      expect(col('feedback').kinds[0]!.percent).toBe(2);
      // Counted but below the 1% threshold.
      expect(found('comment')).toEqual({ email: 1 });
      expect(col('comment').flagged).toEqual([]);
      for (const clean of ['order_no', 'customer', 'prose']) expect(found(clean)).toEqual({});
    });

    it('shows examples masked, never a whole value', async () => {
      const report = await t.ctx.data.pii('people@1');
      const all = report.columns.flatMap((c) => c.kinds.flatMap((k) => k.examples));
      expect(all.length).toBeGreaterThan(0);
      const values = new Set(rows.flatMap((r) => Object.values(r).map(String)));
      for (const example of all) {
        // Only the first and last characters can be letters or digits.
        expect(example).toMatch(/^.[^0-9A-Za-z]+.$/);
        expect(values.has(example)).toBe(false);
      }
      const email = report.columns.find((c) => c.name === 'email')!.kinds[0]!;
      expect(email.examples).toHaveLength(3);
      // 'user1@example.com' → 'u****@*******.**m': one shape per length of the number,
      // the most frequent first (user100… 450 times, user10… 81, user1… 9).
      expect(email.examples).toEqual([
        'u******@*******.**m',
        'u*****@*******.**m',
        'u****@*******.**m',
      ]);
      expect(JSON.stringify(report)).not.toContain('@example.com');
    });

    it('a threshold option changes what is flagged, not what is counted', async () => {
      const strict: PiiReport = await t.ctx.data.pii('people', { threshold: 0.6 });
      expect(strict.flagged.map((f) => `${f.column}/${f.kind}`)).toEqual([
        'email/email',
        'iban/iban',
        'phone/phone',
      ]);
      const any = await t.ctx.data.pii('people', { threshold: 0 });
      expect(any.flagged.map((f) => `${f.column}/${f.kind}`)).toContain('comment/email');
      expect((await refused(t.ctx.data.pii('people', { threshold: 2 }))).code).toBe(
        'INVALID_ARGUMENT',
      );
    });

    it('mask writes a new version: hashed with the salt, redacted, the rest identical, linked', async () => {
      const source = await t.ctx.data.get('people@1');
      const salt = 'pepper-7f3a';
      const result = await t.ctx.data.mask('people@1', {
        columns: { email: 'hash', id: 'hash', card: 'redact', iban: 'redact' },
        salt,
      });
      expect(result.created).toBe(true);
      const v = result.version;
      expect(v).toMatchObject({ dataset: 'people', version: 2, rowCount: N, tags: ['latest'] });
      expect(result.source).toMatchObject({ dataset: 'people', version: 1, id: source.id });
      expect(v.sourceUri).toBe('mask:people@1 hash(email,id) redact(card,iban)');
      // Masked columns are text; every other column keeps its type.
      expect(v.schema).toEqual(
        source.schema.map((c) =>
          ['email', 'id', 'card', 'iban'].includes(c.name) ? { ...c, type: 'VARCHAR' } : c,
        ),
      );
      expect(v.profile!.columns.find((c) => c.name === 'email')).toMatchObject({
        nullCount: 60,
        minLength: 64,
        maxLength: 64,
      });

      const before = await readRows('people@1');
      const after = await readRows('people@2');
      expect(after).toHaveLength(N);
      after.forEach((r, i) => {
        const b = before[i]!;
        // Against the generated values, hashed here: the BIGINT id as its decimal text.
        const g = rows[i]!;
        expect(r.email).toBe(g.email === null ? null : sha(`${salt}${g.email}`));
        expect(r.id).toBe(sha(`${salt}${g.id}`));
        expect(r.card).toBe('[REDACTED]');
        expect(r.iban).toBe('[REDACTED]');
        for (const c of ['ip', 'phone', 'feedback', 'comment', 'order_no', 'customer', 'prose'])
          expect(r[c]).toBe(b[c]);
      });

      // The source is untouched.
      const again = await t.ctx.data.get('people@1');
      expect(again.contentHash).toBe(source.contentHash);
      expect(again.parquet).toEqual(source.parquet);
      expect(await readRows('people@1')).toEqual(before);

      const edges = await t.ctx.store.db
        .selectFrom('edge')
        .select(['from_kind', 'from_id', 'to_kind', 'to_id', 'relation'])
        .where('relation', '=', 'derived')
        .execute();
      expect(edges).toEqual([
        {
          from_kind: 'dataset_version',
          from_id: source.id,
          to_kind: 'dataset_version',
          to_id: v.id,
          relation: 'derived',
        },
      ]);

      // The masked version has no e-mails or cards left to find.
      const rescan = await t.ctx.data.pii('people@2');
      expect(rescan.flagged.map((f) => `${f.column}/${f.kind}`)).toEqual([
        'ip/ipv4',
        'ip/ipv6',
        'phone/phone',
        'feedback/email',
      ]);
    });

    it('masking the same way again returns the same version; --to adds to another dataset', async () => {
      const options = {
        columns: { email: 'hash', id: 'hash', card: 'redact', iban: 'redact' },
        salt: 'pepper-7f3a',
      } as const;
      const again = await t.ctx.data.mask('people@1', options);
      expect(again.created).toBe(false);
      expect(again.version.version).toBe(2);

      const other = await t.ctx.data.mask('people@1', {
        columns: { phone: 'redact', feedback: 'hash' },
        to: 'people_shared',
      });
      expect(other.version).toMatchObject({ dataset: 'people_shared', version: 1 });
      const shared = await readRows('people_shared@1');
      expect(shared[0]!.feedback).toBe(sha(String(rows[0]!.feedback)));
      expect(shared[0]!.phone).toBe('[REDACTED]');
      const source = await t.ctx.data.get('people@1');
      const edges = await t.ctx.store.db
        .selectFrom('edge')
        .select(['to_id'])
        .where('relation', '=', 'derived')
        .where('from_id', '=', source.id)
        .execute();
      expect(edges.map((e) => e.to_id).sort()).toEqual([
        ...[(await t.ctx.data.get('people@2')).id, other.version.id].sort(),
      ]);
    });

    it('refuses bad mask input with what to fix, and stores nothing', async () => {
      const count = await versionCount();
      const unknown = await refused(t.ctx.data.mask('people@1', { columns: { emial: 'hash' } }));
      expect(unknown.code).toBe('INVALID_ARGUMENT');
      expect(unknown.message).toMatch(
        /^column 'emial' is not in people@1; its columns are: id, email, card, iban, ip/,
      );
      const none = await refused(t.ctx.data.mask('people@1', { columns: {} }));
      expect(none).toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(none.message).toMatch(/nothing to mask/);
      const action = await refused(
        t.ctx.data.mask('people@1', { columns: { email: 'scramble' as 'hash' } }),
      );
      expect(action.message).toMatch(
        /'scramble' is not a way to mask column 'email'; use hash or redact/,
      );
      const saltOnly = await refused(
        t.ctx.data.mask('people@1', { columns: { email: 'redact' }, salt: 'x' }),
      );
      expect(saltOnly.message).toMatch(/a salt applies to hashed columns only/);
      const missing = await refused(t.ctx.data.mask('people@9', { columns: { email: 'hash' } }));
      expect(missing.code).toBe('NOT_FOUND');
      expect(missing.message).toMatch(/people@9 does not exist/);
      const malformed = await refused(t.ctx.data.mask('people@', { columns: { email: 'hash' } }));
      expect(malformed.code).toBe('INVALID_ARGUMENT');
      const badTarget = await refused(
        t.ctx.data.mask('people@1', { columns: { email: 'hash' }, to: '../up' }),
      );
      expect(badTarget.code).toBe('INVALID_ARGUMENT');
      const noRun = await refused(
        t.ctx.data.mask('people@1', { columns: { email: 'redact' }, runId: 'no-such-run' }),
      );
      expect(noRun.code).toBe('NOT_FOUND');
      expect(await versionCount()).toBe(count);
      expect((await refused(t.ctx.data.pii('people@9'))).code).toBe('NOT_FOUND');
    });
  });
}
