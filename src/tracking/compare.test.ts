import { describe, expect, it } from 'vitest';
import { compareRunData, rangeKey } from './compare.js';
import type { Run } from './types.js';

function run(id: string, params: Record<string, string>, metrics: Record<string, number>): Run {
  return {
    info: {
      id,
      experimentId: '1',
      name: `run-${id}`,
      status: 'FINISHED',
      userId: null,
      startTime: 1,
      endTime: 2,
      artifactUri: '',
      lifecycleStage: 'active',
      parentRunId: null,
    },
    data: {
      params,
      tags: { team: 'a' },
      metrics: Object.entries(metrics).map(([key, value]) => ({
        key,
        value,
        step: 0,
        timestamp: 1,
      })),
    },
  };
}

describe('compareRunData', () => {
  it('lines up params, tags and metrics by key and marks what differs', () => {
    const a = run('a', { lr: '0.1', opt: 'adam' }, { acc: 0.9, loss: NaN });
    const b = run('b', { lr: '0.01', opt: 'adam', seed: '1' }, { acc: 0.95, loss: NaN });
    const ranges = new Map([[rangeKey('a', 'acc'), { min: 0.5, max: 0.9 }]]);
    const c = compareRunData([a, b], ranges);
    expect(c.runs.map((r) => r.id)).toEqual(['a', 'b']);
    expect(c.params).toEqual([
      { key: 'lr', values: ['0.1', '0.01'], differs: true },
      { key: 'opt', values: ['adam', 'adam'], differs: false },
      { key: 'seed', values: [null, '1'], differs: true },
    ]);
    expect(c.tags).toEqual([{ key: 'team', values: ['a', 'a'], differs: false }]);
    expect(c.metrics[0]).toEqual({
      key: 'acc',
      latest: [0.9, 0.95],
      min: [0.5, null],
      max: [0.9, null],
      differs: true,
    });
    // NaN in both runs is the same value, not a difference.
    expect(c.metrics[1]).toMatchObject({ key: 'loss', differs: false });
  });
});
