import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, engineMessage } from './engine.js';
import { sqlIdent, sqlString } from './sql-text.js';

const dir = mkdtempSync(join(tmpdir(), 'mobius-engine-'));
const engine = new Engine({ tempDirectory: join(dir, 'spill'), maxSessions: 1 });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Engine', () => {
  it('runs SQL and returns JSON-safe rows (big integers as strings)', async () => {
    const rows = await engine.withSession({}, (s) =>
      s.rows(`select 42::bigint as n, 1.5::double as x, 'it''s' as s, [1, 2] as l`),
    );
    expect(rows).toEqual([{ n: '42', x: 1.5, s: "it's", l: [1, 2] }]);
    expect(engine.version).toMatch(/^DuckDB v\d+\.\d+\.\d+/);
  });

  it('quotes literals and identifiers so user text stays data', async () => {
    const name = `we"ird' col`;
    const rows = await engine.withSession({}, (s) =>
      s.rows(`select ${sqlString("o'clock")} as ${sqlIdent(name)}`),
    );
    expect(rows).toEqual([{ [name]: "o'clock" }]);
  });

  it('reads only the files a session was given (no path outside them)', async () => {
    const allowed = join(dir, 'a.csv');
    writeFileSync(allowed, 'x\n1\n');
    writeFileSync(join(dir, 'secret.csv'), 'x\n2\n');
    await engine.withSession({ files: [allowed] }, async (s) => {
      expect(await s.rows(`select x from read_csv(${sqlString(allowed)})`)).toEqual([{ x: '1' }]);
      const refused = await s
        .rows(`select * from read_csv(${sqlString(join(dir, 'secret.csv'))})`)
        .catch((e: unknown) => e);
      expect(engineMessage(refused)).toMatch(/Permission Error/);
      const reenable = await s.run('SET enable_external_access = true').catch((e: unknown) => e);
      expect(engineMessage(reenable)).toBeDefined();
    });
  });

  it('runs at most maxSessions sessions at once', async () => {
    let active = 0;
    let peak = 0;
    await Promise.all(
      [1, 2, 3].map(() =>
        engine.withSession({}, async (s) => {
          peak = Math.max(peak, ++active);
          await s.rows('select sum(range) from range(100000)');
          active--;
        }),
      ),
    );
    expect(peak).toBe(1);
  });
});
