import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { discoverPipelines, loadPipeline } from './loader.js';

const dir = mkdtempSync(join(tmpdir(), 'mobius-loader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loading pipeline files', () => {
  it('loads TypeScript (importing mobius) and YAML pipelines by path or by name', async () => {
    writeFileSync(
      join(dir, 'pipeline.ts'),
      `import { pipeline, step } from 'mobius';
const n: number = 2;
export default pipeline('main', { params: { n }, steps: [step('a', { run: () => undefined })] });
`,
    );
    mkdirSync(join(dir, 'pipelines'));
    writeFileSync(
      join(dir, 'pipelines', 'etl.pipeline.yaml'),
      'name: etl\nsteps:\n  - name: x\n    run: ["true"]\n',
    );
    writeFileSync(join(dir, 'notes.yaml'), 'not: a pipeline\n');
    expect((await loadPipeline('main', { cwd: dir })).params).toEqual({ n: 2 });
    expect((await loadPipeline('pipeline.ts', { cwd: dir })).name).toBe('main');
    expect((await loadPipeline('etl', { cwd: dir })).steps[0]!.run).toEqual({
      kind: 'command',
      argv: ['true'],
    });
    expect(await discoverPipelines(dir)).toEqual([
      { name: 'main', path: join(dir, 'pipeline.ts') },
      { name: 'etl', path: join(dir, 'pipelines', 'etl.pipeline.yaml') },
    ]);
  });

  it('says what is wrong: unknown names, missing files, modules without a pipeline', async () => {
    await expect(loadPipeline('nope', { cwd: dir })).rejects.toThrow(
      /no pipeline 'nope' in pipeline\.ts, pipelines\/etl\.pipeline\.yaml/,
    );
    await expect(loadPipeline('missing.ts', { cwd: dir })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    writeFileSync(join(dir, 'empty.ts'), 'export const x = 1;\n');
    await expect(loadPipeline('empty.ts', { cwd: dir })).rejects.toThrow(
      /empty\.ts does not export a pipeline/,
    );
    writeFileSync(join(dir, 'broken.ts'), 'throw new Error("boom at load");\n');
    await expect(loadPipeline('broken.ts', { cwd: dir })).rejects.toThrow(
      /could not load pipeline file .*broken\.ts: boom at load/,
    );
    await expect(loadPipeline('notes.yaml', { cwd: dir })).rejects.toThrow(/notes\.yaml: /);
    const empty = mkdtempSync(join(tmpdir(), 'mobius-loader-empty-'));
    await expect(loadPipeline('x', { cwd: empty })).rejects.toThrow(/'mobius init' creates one/);
    rmSync(empty, { recursive: true });
  });
});
