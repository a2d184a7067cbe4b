import { describe, expect, it } from 'vitest';
import { pipeline, step } from './definition.js';

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
});
