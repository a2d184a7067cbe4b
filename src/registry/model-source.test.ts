import { describe, expect, it } from 'vitest';
import { checkModelSource, type SourceOwner } from './model-source.js';

const RUN = 'a'.repeat(32);
const run: SourceOwner = { runId: RUN, runRoot: `mlflow-artifacts:/1/${RUN}/artifacts` };
const model: SourceOwner = {
  runId: RUN,
  runRoot: run.runRoot,
  modelId: 'm-123',
  modelRoot: 'mlflow-artifacts:/1/models/m-123/artifacts',
};
const refuses =
  (source: string, owner: SourceOwner = run) =>
  () =>
    checkModelSource(source, owner);

describe('checkModelSource', () => {
  it('accepts the sources MLflow clients register', () => {
    checkModelSource(`runs:/${RUN}/model`, run);
    checkModelSource(`mlflow-artifacts:/1/${RUN}/artifacts/model`, run);
    checkModelSource(`mlflow-artifacts:///1/${RUN}/artifacts/model/`, run);
    checkModelSource('mlflow-artifacts:/1/models/m-123/artifacts', model);
    checkModelSource('models:/m-123', model);
    checkModelSource('models:/churn/3', run);
    checkModelSource('s3://bucket/models/churn', {});
  });

  it.each([
    ['../ in a proxy path', `mlflow-artifacts:/1/${RUN}/artifacts/../../other`],
    ['..%2f', `mlflow-artifacts:/1/${RUN}/artifacts/..%2f..%2fother`],
    ['double-encoded %252e%252e%252f', `mlflow-artifacts:/1/${RUN}/artifacts/%252e%252e%252fx`],
    ['backslashes', `mlflow-artifacts:/1/${RUN}/artifacts/..\\..\\x`],
    ['NUL', `mlflow-artifacts:/1/${RUN}/artifacts/model%00`],
    ['#', `mlflow-artifacts:/1/${RUN}/artifacts/model#x`],
    ['?', `mlflow-artifacts:/1/${RUN}/artifacts/model?x=1`],
    [';', `mlflow-artifacts:/1/${RUN}/artifacts/model;x`],
    ['an absolute server path', '/etc/passwd'],
    ['a relative server path', 'models/churn'],
    ['file:// outside the run', 'file:///etc/passwd'],
    ['file:// that claims the run', `file:///tmp/mlruns/1/${RUN}/artifacts/model`],
    ['a Windows drive path', 'C:/Windows/system32'],
    ['../ in an s3 key', 's3://bucket/models/../secrets'],
    ['another run in runs:/', `runs:/${'b'.repeat(32)}/model`],
    ['runs:/ with an authority', `runs://host/${RUN}/model`],
    ['runs:/ without run_id', `runs:/${RUN}/model`, {}],
    ['another run’s proxy directory', `mlflow-artifacts:/1/${'b'.repeat(32)}/artifacts/model`],
    ['a proxy path without run_id', `mlflow-artifacts:/1/${RUN}/artifacts/model`, {}],
    [
      "the proxy's http form (not the run's artifact URI)",
      `http://host:4600/api/2.0/mlflow-artifacts/artifacts/1/${RUN}/artifacts/m`,
    ],
    ['a prefix that is not a parent', `mlflow-artifacts:/1/${RUN}/artifacts-evil/model`],
    ['another logged model', 'models:/m-999', model],
    ['a run source for a logged model', `runs:/${RUN}/model`, model],
  ] as [string, string, SourceOwner?][])('refuses %s', (_attack, source, owner) => {
    expect(refuses(source, owner ?? run)).toThrow(/Invalid model version source/);
  });
});
