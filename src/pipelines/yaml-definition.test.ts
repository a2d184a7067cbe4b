import { describe, expect, it } from 'vitest';
import { parsePipelineYaml } from './yaml-definition.js';

describe('YAML pipelines', () => {
  it('reads the same shape as the TypeScript form', () => {
    const p = parsePipelineYaml(`
name: etl
params: { rows: 10 }
steps:
  - name: report
    inputs: { rows: extract.rows }
    outputs: [report]
    shell: wc -l < "$MOBIUS_INPUT_ROWS" > "$MOBIUS_OUTPUT_REPORT"
  - name: extract
    run: [python3, extract.py, --fast]
    inputs: { raw: "file:data.csv" }
    outputs: [rows]
    params: [rows]
    timeoutMs: 60000
    retries: 2
`);
    expect(p.steps.map((s) => s.name)).toEqual(['extract', 'report']);
    expect(p.steps[0]!.run).toEqual({ kind: 'command', argv: ['python3', 'extract.py', '--fast'] });
    expect(p.steps[0]!.inputs.raw).toEqual({ kind: 'file', path: 'data.csv' });
    expect(p.steps[1]!.run.kind).toBe('shell');
    expect(p.params).toEqual({ rows: 10 });
  });

  it('names the step in errors: unknown keys, cycles, unknown params, run and shell both', () => {
    expect(() =>
      parsePipelineYaml('name: x\nsteps:\n  - name: a\n    run: [echo]\n    colour: red\n'),
    ).toThrow(/step 'a'.*colour/);
    expect(() =>
      parsePipelineYaml(
        'name: x\nsteps:\n  - name: a\n    run: [echo]\n    inputs: { i: a.o }\n    outputs: [o]\n',
      ),
    ).toThrow(/step 'a': input 'i' reads the step's own output/);
    expect(() =>
      parsePipelineYaml('name: x\nsteps:\n  - name: a\n    run: [echo]\n    params: [n]\n'),
    ).toThrow(/step 'a': unknown param 'n'/);
    expect(() =>
      parsePipelineYaml('name: x\nsteps:\n  - name: a\n    run: [echo]\n    shell: echo\n'),
    ).toThrow(/step 'a': give exactly one of 'run'/);
    expect(() => parsePipelineYaml('name: [')).toThrow(/not valid YAML/);
  });

  it('reads check steps, dataset inputs and outputs, and after', () => {
    const p = parsePipelineYaml(`
name: gated
steps:
  - name: prep
    inputs: { raw: "dataset:raw@prod" }
    outputs: [{ dataset: features, format: parquet }, log]
    run: [python3, prep.py]
  - name: gate
    check: { dataset: prep.features, suite: suites/f.yaml }
  - name: train
    after: [gate]
    inputs: { x: prep.features }
    run: [python3, train.py]
`);
    expect(p.steps.map((s) => s.name)).toEqual(['prep', 'gate', 'train']);
    expect(p.steps[0]!.inputs.raw).toEqual({ kind: 'dataset', name: 'raw', version: 'prod' });
    expect(p.steps[0]!.datasetOutputs).toEqual({
      features: { dataset: 'features', format: 'parquet' },
    });
    expect(p.steps[1]!.run).toEqual({ kind: 'check', suite: 'suites/f.yaml' });
    expect(p.steps[2]!.after).toEqual(['gate']);
    expect(() =>
      parsePipelineYaml(
        'name: x\nsteps:\n  - name: g\n    check: { dataset: "dataset:a", suite: s.yaml }\n    run: [x]\n',
      ),
    ).toThrow(/step 'g': a check step takes only 'check' \(and 'cache'\), not 'run'/);
  });
});
