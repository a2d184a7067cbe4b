import { describe, expect, it } from 'vitest';
import { check, pipeline, step } from './definition.js';

const noop = (): void => undefined;

describe('pipeline definitions', () => {
  it('orders steps so every step comes after the steps it reads', () => {
    const p = pipeline('order', {
      steps: [
        step('c', { inputs: { x: 'b.out' }, run: noop }),
        step('b', { inputs: { x: 'a.out' }, outputs: ['out'], run: noop }),
        step('a', { outputs: ['out'], run: noop }),
      ],
    });
    expect(p.steps.map((s) => s.name)).toEqual(['a', 'b', 'c']);
  });

  it('rejects a cycle, naming the steps in it', () => {
    expect(() =>
      pipeline('cyclic', {
        steps: [
          step('a', { inputs: { x: 'c.out' }, outputs: ['out'], run: noop }),
          step('b', { inputs: { x: 'a.out' }, outputs: ['out'], run: noop }),
          step('c', { inputs: { x: 'b.out' }, outputs: ['out'], run: noop }),
        ],
      }),
    ).toThrow(/step 'a': pipeline 'cyclic' has a cycle: a → c → b → a/);
  });

  it('rejects a step that reads its own output', () => {
    expect(() =>
      pipeline('selfish', {
        steps: [step('loop', { inputs: { x: 'loop.out' }, outputs: ['out'], run: noop })],
      }),
    ).toThrow(/step 'loop': input 'x' reads the step's own output 'out'/);
  });

  it('rejects an input from a step that does not exist or an output it does not make', () => {
    expect(() =>
      pipeline('missing', { steps: [step('b', { inputs: { x: 'a.out' }, run: noop })] }),
    ).toThrow(/step 'b': input 'x' comes from step 'a', which pipeline 'missing' does not define/);
    expect(() =>
      pipeline('missing', {
        steps: [
          step('a', { outputs: ['rows'], run: noop }),
          step('b', { inputs: { x: 'a.out' }, run: noop }),
        ],
      }),
    ).toThrow(/step 'b': input 'x' reads 'a.out', but step 'a' outputs 'rows'/);
  });

  it('rejects unknown params, naming the step', () => {
    expect(() =>
      pipeline('params', {
        params: { n: 1 },
        steps: [step('a', { params: ['n', 'm'], run: noop })],
      }),
    ).toThrow(/step 'a': unknown param 'm' \(pipeline 'params' declares 'n'\)/);
  });

  it('rejects duplicate steps, empty commands and names unfit for env variables', () => {
    expect(() =>
      pipeline('dup', { steps: [step('a', { run: noop }), step('a', { run: noop })] }),
    ).toThrow(/step 'a' is defined twice/);
    expect(() => step('a', { run: [] })).toThrow(/non-empty array/);
    expect(() => step('a', { outputs: ['bad-name'], run: noop })).toThrow(/output name 'bad-name'/);
    expect(() => step('1a', { run: noop })).toThrow(/step name '1a'/);
  });

  it('keeps argv as given and a shell only when asked for', () => {
    expect(step('a', { run: ['echo', '$HOME; rm -rf /'] }).run).toEqual({
      kind: 'command',
      argv: ['echo', '$HOME; rm -rf /'],
    });
    expect(step('b', { run: { shell: 'echo hi | wc -c' } }).run).toEqual({
      kind: 'shell',
      script: 'echo hi | wc -c',
    });
  });

  it('parses dataset inputs and declares dataset outputs, rejecting bad names and formats', () => {
    const s = step('s', {
      inputs: { a: 'dataset:churn@prod', b: 'dataset:churn', c: 'dataset:churn@3' },
      outputs: [
        'model',
        { dataset: 'features' },
        { dataset: 'my-set', as: 'mine', format: 'parquet' },
      ],
      run: noop,
    });
    expect(s.inputs).toEqual({
      a: { kind: 'dataset', name: 'churn', version: 'prod' },
      b: { kind: 'dataset', name: 'churn' },
      c: { kind: 'dataset', name: 'churn', version: '3' },
    });
    expect(s.outputs).toEqual(['model', 'features', 'mine']);
    expect(s.datasetOutputs).toEqual({
      features: { dataset: 'features', format: 'csv' },
      mine: { dataset: 'my-set', format: 'parquet' },
    });
    expect(() => step('s', { inputs: { a: 'dataset:churn@' }, run: noop })).toThrow(
      /step 's': input 'a' = 'dataset:churn@' has an empty version/,
    );
    expect(() => step('s', { outputs: [{ dataset: 'my-set' }], run: noop })).toThrow(
      /dataset output 'my-set' needs an output name: add as:/,
    );
    expect(() =>
      step('s', { outputs: [{ dataset: 'x', format: 'xlsx' as 'csv' }], run: noop }),
    ).toThrow(/format 'xlsx' is not one of csv, parquet, json/);
  });

  it('checks read dataset outputs only, and after: orders without reading', () => {
    const made = step('make', { outputs: ['plain', { dataset: 'rows' }], run: noop });
    const gate = check('gate', { dataset: 'make.rows', suite: 'suite.yaml' });
    expect(gate.run).toEqual({ kind: 'check', suite: 'suite.yaml' });
    expect(gate.codeFiles).toEqual(['suite.yaml']);
    const p = pipeline('gated', {
      steps: [step('use', { after: ['gate'], run: noop }), gate, made],
    });
    expect(p.steps.map((s) => s.name)).toEqual(['make', 'gate', 'use']);
    expect(() =>
      pipeline('bad', { steps: [made, check('gate', { dataset: 'make.plain', suite: 's.yaml' })] }),
    ).toThrow(/step 'gate': a check reads a dataset, but 'make.plain' is a plain file/);
    expect(() => pipeline('bad', { steps: [step('a', { after: ['nope'], run: noop })] })).toThrow(
      /step 'a': after: 'nope' is not a step of pipeline 'bad'/,
    );
    expect(() =>
      pipeline('loop', {
        steps: [step('a', { after: ['b'], run: noop }), step('b', { after: ['a'], run: noop })],
      }),
    ).toThrow(/has a cycle/);
  });
});
