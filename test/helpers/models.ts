/** Small Mobius JSON models registered as model versions, for serving and deployment tests. */
import { Readable } from 'node:stream';
import type { MobiusContext } from '../../src/context/index.js';

/** A linear regression y = w·x (+ 1 for each further feature), as a Mobius JSON model. */
export const linearModel = (w: number, features = ['x']) =>
  JSON.stringify({
    format: 'mobius-linear',
    task: 'regression',
    features,
    coefficients: features.map((_, i) => (i === 0 ? w : 1)),
    intercept: 0,
  });

/**
 * Creates registered model `name` with one version per weight (version i + 1 answers
 * y = weights[i]·x), each logged by a run of its own as `model/model.mobius.json`.
 */
export async function registerLinearVersions(
  ctx: Pick<MobiusContext, 'tracking' | 'registry'>,
  name: string,
  weights: number[],
): Promise<void> {
  await ctx.registry.models.create({ name });
  for (const w of weights) {
    const run = await ctx.tracking.runs.create({ experimentId: '0' });
    await ctx.tracking.artifacts.put(
      `0/${run.info.id}/artifacts/model/model.mobius.json`,
      Readable.from([linearModel(w)]),
    );
    await ctx.registry.versions.create({
      name,
      source: `runs:/${run.info.id}/model`,
      runId: run.info.id,
    });
  }
}
