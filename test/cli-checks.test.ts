/** `mobius check …` through bin/mobius.js over the built CLI, on every metadata backend. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_BACKENDS, freshLocation } from './helpers/stores.js';
import { runCli } from './helpers/cli.js';

for (const backend of STORE_BACKENDS) {
  describe(`mobius check: ${backend}`, () => {
    let dir: string;
    let location: string;
    let remove: () => Promise<void>;
    const mobius = (...args: string[]) =>
      runCli(['--store', location, '--home', join(dir, '.mobius'), ...args], { cwd: dir });

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'mobius-cli-checks-'));
      ({ location, remove } = freshLocation(backend));
      const rows = Array.from(
        { length: 200 },
        (_, i) => `${i + 1},${i % 4 === 0 ? '' : i * 2},${'ab'[i % 2]}`,
      );
      writeFileSync(join(dir, 'sales.csv'), `id,amount,grp\n${rows.join('\n')}\n`);
      writeFileSync(
        join(dir, 'pass.yaml'),
        'name: sales-ok\nexpectations:\n  - { expect: unique, column: id }\n  - { expect: in_set, column: grp, values: [a, b] }\n  - { expect: not_null, column: amount, severity: warn }\n',
      );
      writeFileSync(
        join(dir, 'fail.yaml'),
        'name: sales-bad\nexpectations:\n  - { expect: between, column: amount, max: 100 }\n',
      );
      writeFileSync(join(dir, 'typo.yaml'), 'expectations:\n  - { expect: unique, column: idd }\n');
    });
    afterAll(async () => {
      await remove();
      rmSync(dir, { recursive: true, force: true });
    });

    it('a passing (with a warning) gate exits 0, a failing one exits 1, and both are kept', () => {
      expect(mobius('data', 'add', 'sales', 'sales.csv').code).toBe(0);
      const warn = mobius('check', 'pass.yaml', 'sales@1');
      expect(warn.code, warn.stderr).toBe(0);
      expect(warn.stdout).toMatch(/^WARN: sales-ok on sales@1 — 2\/3 expectations met/);
      expect(warn.stdout).toMatch(/not_null\(amount\)\s+warn\s+FAILED\s+0\.75\d*\s+50 \(25\.00%\)/);
      expect(mobius('check', 'pass.yaml', 'sales@1', '--strict').code).toBe(1);

      const fail = mobius('--json', 'check', 'fail.yaml', 'sales');
      expect(fail.code).toBe(1);
      const run = JSON.parse(fail.stdout) as {
        id: string;
        status: string;
        results: { result: { unexpectedCount: number } }[];
      };
      // amount = 2i for i not divisible by 4, i < 200: 2i > 100 for i ≥ 51 → 149 − 37 = 112 rows
      expect(run.status).toBe('fail');
      expect(run.results[0]!.result.unexpectedCount).toBe(112);

      const history = mobius('check', 'history', 'sales');
      expect(history.stdout).toMatch(/sales@1\s+sales-bad\s+fail\s+0\/1/);
      expect(history.stdout).toMatch(/sales@1\s+sales-ok\s+warn\s+2\/3/);
      const shown = mobius('--json', 'check', 'show', run.id);
      expect(JSON.parse(shown.stdout)).toEqual(run);
    }, 120_000);

    it('suggest writes a suite the data passes; bad suites and refs exit 2 and 3', () => {
      const out = mobius('check', 'suggest', 'sales@1', '--out', 'suggested.yaml');
      expect(out.code, out.stderr).toBe(0);
      const suite = parseYaml(readFileSync(join(dir, 'suggested.yaml'), 'utf8')) as {
        expectations: { expect: string }[];
      };
      expect(suite.expectations.map((e) => e.expect)).toContain('unique');
      expect(mobius('check', 'suggested.yaml', 'sales@1').code).toBe(0);
      const again = mobius('check', 'suggest', 'sales@1', '--out', 'suggested.yaml');
      expect(again.code).toBe(2);
      expect(again.stderr).toContain("'suggested.yaml' already exists");

      const typo = mobius('check', 'typo.yaml', 'sales@1');
      expect(typo.code).toBe(2);
      expect(typo.stderr).toContain(
        "expectation 1 (unique): column 'idd' is not in sales@1 (did you mean 'id'?)",
      );
      const missing = mobius('check', 'nope.yaml', 'sales@1');
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('cannot read the suite file');
      expect(mobius('check', 'pass.yaml', 'sales@7').code).toBe(3);
      expect(mobius('check').code).toBe(2);
    }, 120_000);
  });
}
