import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { computeCacheKey, explainChange } from './cache-key.js';
import { step } from './definition.js';

const dir = mkdtempSync(join(tmpdir(), 'mobius-cache-key-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('step cache keys', () => {
  const base = {
    params: { n: 1 },
    env: { SEED: '1' },
    inputHashes: { rows: 'a'.repeat(64) },
    baseDir: dir,
  };
  const train = step('train', {
    inputs: { rows: 'prep.rows' },
    outputs: ['model'],
    params: ['n'],
    env: ['SEED'],
    codeFiles: ['train.py'],
    run: ['python3', 'train.py'],
  });

  it('changes with each part, and says which', async () => {
    writeFileSync(join(dir, 'train.py'), 'print(1)\n');
    const first = await computeCacheKey({ ...base, step: train });
    expect(await computeCacheKey({ ...base, step: train })).toEqual(first);

    const cases: [Partial<typeof base>, string][] = [
      [{ params: { n: 2 } }, "param 'n' changed"],
      [{ env: { SEED: '2' } }, "env 'SEED' changed"],
      [{ inputHashes: { rows: 'b'.repeat(64) } }, "input 'rows' changed"],
    ];
    for (const [change, why] of cases) {
      const other = await computeCacheKey({ ...base, ...change, step: train });
      expect(other.key).not.toBe(first.key);
      expect(explainChange(first.parts, other.parts)).toBe(why);
    }
    writeFileSync(join(dir, 'train.py'), 'print(2)\n');
    const edited = await computeCacheKey({ ...base, step: train });
    expect(explainChange(first.parts, edited.parts)).toBe('code changed');

    const renamed = step('train', {
      inputs: { rows: 'prep.rows' },
      outputs: ['model'],
      params: ['n'],
      env: ['SEED'],
      codeFiles: ['train.py'],
      run: ['python3', 'train.py', '--fast'],
    });
    const argv = await computeCacheKey({ ...base, step: renamed });
    expect(explainChange(edited.parts, argv.parts)).toBe('code changed');
  });

  it('ignores params and env a step does not declare', async () => {
    const a = await computeCacheKey({ ...base, step: train });
    const b = await computeCacheKey({
      ...base,
      params: { n: 1, other: 5 },
      env: { SEED: '1', HOME: '/elsewhere' },
      step: train,
    });
    expect(b.key).toBe(a.key);
  });

  it('explains a first run and added parts', () => {
    expect(explainChange(undefined, { code: 'x' })).toBe('no earlier run of this step');
    expect(explainChange({ code: 'x' }, { code: 'x', 'param:n': 'y' })).toBe("param 'n' added");
  });
});
