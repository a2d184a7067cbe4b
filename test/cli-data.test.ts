/** `mobius data …` through bin/mobius.js over the built CLI, on every metadata backend. */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_BACKENDS, freshLocation } from './helpers/stores.js';
import { runCli } from './helpers/cli.js';

for (const backend of STORE_BACKENDS) {
  describe(`mobius data: ${backend}`, () => {
    let dir: string;
    let location: string;
    let remove: () => Promise<void>;
    const mobius = (...args: string[]) =>
      runCli(['--store', location, '--home', join(dir, '.mobius'), ...args], {
        cwd: dir,
        env: { MASK_SALT: 'salty' },
      });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- asserting the shape is the test
    const json = (...args: string[]): any => {
      const res = mobius('--json', ...args);
      expect(res.code, res.stderr + res.stdout).toBe(0);
      return JSON.parse(res.stdout);
    };

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'mobius-cli-data-'));
      ({ location, remove } = freshLocation(backend));
      writeFileSync(join(dir, 'v1.csv'), 'id,amount\n1,10\n2,20\n3,30\n');
      writeFileSync(join(dir, 'v2.csv'), 'id,amount\n2,20\n3,35\n4,40\n');
    });
    afterAll(async () => {
      await remove();
      rmSync(dir, { recursive: true, force: true });
    });

    it('add, log, show, tag, get and diff', () => {
      const first = json('data', 'add', 'sales', 'v1.csv');
      expect(first).toMatchObject({ created: true, version: { version: 1, rowCount: 3 } });
      expect(json('data', 'add', 'sales', 'v1.csv').created).toBe(false);
      const human = mobius('data', 'add', 'sales', 'v2.csv');
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(
        /^added sales@2 \([0-9a-f]{12}\): 3 rows × 2 columns from 1 file/,
      );

      const log = json('data', 'log', 'sales') as { versions: { version: number }[] };
      expect(log.versions.map((v) => v.version)).toEqual([2, 1]);
      expect(mobius('data', 'log', 'sales').stdout).toMatch(/^VERSION\s+HASH\s+ROWS/);

      const shown = json('data', 'show', 'sales@1');
      expect(shown.profile.columns[1]).toMatchObject({
        name: 'amount',
        min: 10,
        max: 30,
        mean: 20,
      });
      expect(mobius('data', 'show', 'sales').stdout).toMatch(/amount\s+BIGINT\s+0\s+3\s+20\s+40/);

      expect(json('data', 'tag', 'sales@1', 'gold').tags).toEqual(['gold']);
      expect(json('data', 'show', 'sales@gold').version).toBe(1);
      expect(json('data', 'ls').datasets).toEqual([
        expect.objectContaining({ name: 'sales', latestVersion: 2, tags: { gold: 1, latest: 2 } }),
      ]);

      const got = json('data', 'get', 'sales@gold', '--out', 'out');
      expect(got.files).toEqual([{ path: 'v1.csv', size: 25 }]);
      expect(readFileSync(join(dir, 'out', 'v1.csv'), 'utf8')).toBe(
        'id,amount\n1,10\n2,20\n3,30\n',
      );

      const diff = json('data', 'diff', 'sales@1', '@2', '--key', 'id');
      expect(diff.rows).toMatchObject({ added: 1, removed: 1, changed: 1, unchanged: 1 });
      const text = mobius('data', 'diff', 'sales@1', 'sales@2', '--key', 'id').stdout;
      expect(text).toMatch(/rows by key \(id\): 1 added, 1 removed, 1 changed, 1 unchanged/);
      expect(text).toMatch(/~ \{"id":"3"\}: amount 30 → 35/);
      expect(json('data', 'untag', 'sales', 'gold')).toEqual({
        dataset: 'sales',
        tag: 'gold',
        removed: true,
      });
    }, 120_000); // ~25 CLI processes, each a cold Node start: over 30 s on 2 busy cores

    it('pii reports flagged columns; mask hashes with the salt from --salt-env', () => {
      writeFileSync(
        join(dir, 'people.csv'),
        'id,email,city\n1,ann@example.com,Oslo\n2,bob@example.org,Rome\n',
      );
      json('data', 'add', 'people', 'people.csv');
      const report = json('data', 'pii', 'people@1');
      expect(report.flagged).toEqual([
        { column: 'email', kind: 'email', matches: 2, percent: 100 },
      ]);
      const text = mobius('data', 'pii', 'people@1');
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^1 of 2 string columns of people@1 \(2 rows\) flagged/);
      expect(text.stdout).toMatch(/email \(VARCHAR\): 2 non-null of 2 rows/);
      expect(text.stdout).toMatch(/email\s+2\s+100\.0%\s+a\*\*@\*\*\*\*\*\*\*\.\*\*m/);
      expect(text.stdout).not.toMatch(/ann@/);

      const masked = json(
        'data',
        'mask',
        'people@1',
        '--hash',
        'email',
        '--redact',
        'city',
        '--salt-env',
        'MASK_SALT',
        '--to',
        'people_safe',
      );
      expect(masked).toMatchObject({
        created: true,
        version: { dataset: 'people_safe', version: 1 },
        source: { dataset: 'people', version: 1 },
      });
      const shown = json('data', 'show', 'people_safe@1') as {
        profile: { columns: { name: string; min: unknown; max: unknown; topValues: unknown }[] };
      };
      const column = (name: string) => shown.profile.columns.find((c) => c.name === name)!;
      const hashes = ['ann@example.com', 'bob@example.org'].map((e) =>
        createHash('sha256').update(`salty${e}`).digest('hex'),
      );
      expect([column('email').min, column('email').max]).toEqual(hashes.sort());
      expect(column('city').topValues).toEqual([{ value: '[REDACTED]', count: 2 }]);

      const unset = mobius('data', 'mask', 'people@1', '--hash', 'email', '--salt-env', 'NOPE');
      expect(unset.code).toBe(2);
      expect(unset.stderr).toMatch(/environment variable NOPE \(--salt-env\) is not set/);
      const none = mobius('data', 'mask', 'people@1');
      expect(none.code).toBe(2);
      expect(none.stderr).toMatch(/nothing to mask: pass --hash/);
      const unknown = mobius('data', 'mask', 'people@1', '--redact', 'phone');
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(
        /column 'phone' is not in people@1; its columns are: id, email, city/,
      );
      expect(mobius('data', 'pii', 'people@5').code).toBe(3);
      // Nine CLI processes; each starts Node and DuckDB (~2 s apiece on 2 busy cores).
    }, 120_000);

    it('bad input exits 2 with the line numbers; unknown versions exit 3', () => {
      writeFileSync(join(dir, 'bad.csv'), 'a,b\n1,2\n3\n4,5\n');
      const bad = mobius('data', 'add', 'bad', 'bad.csv');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/1 malformed CSV row; nothing was stored:\n {2}bad\.csv line 3/);
      const badJson = mobius('--json', 'data', 'add', 'bad', 'bad.csv');
      expect(JSON.parse(badJson.stdout).error.details.malformedRows).toBe(1);
      const missing = mobius('data', 'show', 'sales@9');
      expect(missing.code).toBe(3);
      expect(missing.stderr).toMatch(/sales@9 does not exist/);
      expect(mobius('data', 'add', '../up', 'v1.csv').code).toBe(2);
    });
  });
}
