/**
 * Crash safety: a writer process is SIGKILLed mid-stream. Every row it acknowledged
 * (printed after commit) must be there after reopening, and SQLite's integrity_check
 * must say `ok`. Runs on every backend in TEST_STORES.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/store/index.js';
import { fixture, spawnTs } from './helpers/child.js';
import { STORE_BACKENDS, freshLocation } from './helpers/stores.js';

for (const backend of STORE_BACKENDS) {
  describe(`store crash safety: ${backend}`, () => {
    it('SIGKILL mid-stream loses no acknowledged row and leaves the database intact', async () => {
      const { location, remove } = freshLocation(backend);
      const setup = await openStore(location);
      await setup.migrate();
      await setup.close();
      try {
        const child = spawnTs(fixture('store-crash-writer.ts'), [location]);
        let acked = 0;
        let buffered = '';
        await new Promise<void>((resolve, reject) => {
          child.on('error', reject);
          child.stdout?.on('data', (d: Buffer) => {
            buffered += d.toString();
            const lines = buffered.split('\n');
            buffered = lines.pop() ?? '';
            for (const line of lines) {
              const n = Number(line.replace('ack ', ''));
              if (Number.isInteger(n) && n > acked) acked = n;
            }
            // Kill while the writer is in full flow, between or inside transactions.
            if (acked >= 300 && !child.killed) {
              child.kill('SIGKILL');
              resolve();
            }
          });
          child.on('exit', () => resolve());
        });
        await new Promise((r) => child.once('close', r));
        expect(acked).toBeGreaterThanOrEqual(300);

        const store = await openStore(location);
        try {
          expect(await store.integrityCheck()).toBe('ok');
          const rows = await store.db.selectFrom('audit').select('object_id').execute();
          const present = new Set(rows.map((r) => Number(r.object_id)));
          for (let n = 1; n <= acked; n++)
            expect(present.has(n), `row ${n} acknowledged`).toBe(true);
          // Nothing half-written: every row is whole.
          const details = await store.db.selectFrom('audit').select('details').distinct().execute();
          expect(details.map((d) => d.details)).toEqual(['x'.repeat(200)]);
        } finally {
          await store.close();
        }
      } finally {
        await remove();
      }
    }, 60_000);
  });
}
