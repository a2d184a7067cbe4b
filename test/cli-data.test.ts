/** `mobius data …` through bin/mobius.js over the built CLI, on every metadata backend. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_BACKENDS, freshLocation } from './helpers/stores.js';

const BIN = fileURLToPath(new URL('../bin/mobius.js', import.meta.url));

for (const backend of STORE_BACKENDS) {
  describe(`mobius data: ${backend}`, () => {
    let dir: string;
    let location: string;
    let remove: () => Promise<void>;
    const mobius = (...args: string[]) => {
      const res = spawnSync(
        process.execPath,
        [BIN, '--store', location, '--home', join(dir, '.mobius'), ...args],
        { cwd: dir, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' },
      );
      return { code: res.status, stdout: res.stdout, stderr: res.stderr };
    };
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
    });

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
