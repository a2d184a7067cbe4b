/**
 * Prompt-lab runs: what MLflow's UI records when a user tries a prompt template against a
 * gateway route (mlflow/utils/promptlab_utils.py). One finished run with the model's
 * parameters, the route and template as params, MLflow's tags saying it is a
 * prompt-engineering run with an evaluation table, and as artifacts that table
 * (`eval_results_table.json`) and a pyfunc model (`model/`) MLflow can load and serve.
 */
import { randomUUID } from 'node:crypto';
import { stringify as toYaml } from 'yaml';
import type { Clock } from '../core/index.js';
import type { ArtifactService } from './artifacts.js';
import { runArtifactRoot } from './artifacts.js';
import type { RunService } from './runs.js';
import { pyJson } from './traces/span.js';
import type { Run } from './types.js';

/** A key/value pair of the request (prompt, model and output parameters). */
export interface PromptlabParam {
  key: string;
  value: string;
}

/** What the UI sends to create a prompt-lab run. */
export interface PromptlabRunInput {
  experimentId: string;
  runName?: string | undefined;
  tags: PromptlabParam[];
  promptTemplate: string;
  promptParameters: PromptlabParam[];
  modelRoute: string;
  modelParameters: PromptlabParam[];
  modelInput: string;
  modelOutput?: string | undefined;
  modelOutputParameters: PromptlabParam[];
  mlflowVersion: string;
  userId: string;
  startTime: number;
}

/** MLflow's tags for a prompt-lab run. */
export const PROMPTLAB_TAGS = {
  loggedArtifacts: 'mlflow.loggedArtifacts',
  runSourceType: 'mlflow.runSourceType',
  modelHistory: 'mlflow.log-model.history',
} as const;

/**
 * Creates the run, logs its params and tags, writes its artifacts and finishes it:
 * FINISHED, or FAILED when an artifact could not be written (the run stays, as on MLflow).
 */
export async function createPromptlabRun(
  deps: { runs: RunService; artifacts: ArtifactService; clock: Clock },
  input: PromptlabRunInput,
): Promise<Run> {
  const { runs, artifacts, clock } = deps;
  const run = await runs.create({
    experimentId: input.experimentId,
    userId: input.userId,
    name: input.runName,
    startTime: input.startTime,
    tags: Object.fromEntries(input.tags.map((t) => [t.key, t.value])),
  });
  const runId = run.info.id;
  const created = new Date(clock.now()).toISOString().replace('T', ' ').replace('Z', '000');
  const flavor = {
    loader_module: 'mlflow.prompt.promptlab_model',
    parameters_path: 'parameters.yaml',
    env: { virtualenv: 'python_env.yaml' },
  };
  await runs.logBatch(runId, {
    params: [
      ...input.modelParameters,
      { key: 'model_route', value: input.modelRoute },
      { key: 'prompt_template', value: input.promptTemplate },
    ],
    tags: [
      {
        key: PROMPTLAB_TAGS.loggedArtifacts,
        value: pyJson([{ path: 'eval_results_table.json', type: 'table' }]),
      },
      { key: PROMPTLAB_TAGS.runSourceType, value: 'PROMPT_ENGINEERING' },
      {
        key: PROMPTLAB_TAGS.modelHistory,
        value: pyJson([
          {
            run_id: runId,
            artifact_path: 'model',
            utc_time_created: created,
            flavors: { python_function: flavor },
          },
        ]),
      },
    ],
  });
  let status: 'FINISHED' | 'FAILED' = 'FINISHED';
  try {
    const root = runArtifactRoot(run.info.artifactUri ?? '');
    const columns = [...input.promptParameters.map((p) => p.key), 'prompt', 'output'];
    const row = [
      ...input.promptParameters.map((p) => p.value),
      input.modelInput,
      input.modelOutput ?? null,
      ...input.modelOutputParameters.map((p) => p.value),
    ];
    columns.push(...input.modelOutputParameters.map((p) => p.key));
    const files: Record<string, string> = {
      'eval_results_table.json': pyJson({ columns, data: [row] }),
      'model/MLmodel': toYaml({
        artifact_path: 'model',
        flavors: { python_function: flavor },
        mlflow_version: input.mlflowVersion,
        model_uuid: randomUUID().replaceAll('-', ''),
        run_id: runId,
        signature: {
          inputs: pyJson(
            input.promptParameters.map((p) => ({ type: 'string', name: p.key, required: true })),
          ),
          outputs: pyJson([{ type: 'string', name: 'output', required: true }]),
          params: null,
        },
        utc_time_created: created,
      }),
      'model/parameters.yaml': toYaml({
        prompt_parameters: Object.fromEntries(input.promptParameters.map((p) => [p.key, p.value])),
        model_parameters: Object.fromEntries(input.modelParameters.map((p) => [p.key, p.value])),
        model_route: input.modelRoute,
        prompt_template: input.promptTemplate,
      }),
      'model/requirements.txt': `mlflow[gateway]==${input.mlflowVersion}\n`,
      'model/python_env.yaml': toYaml({
        build_dependencies: ['pip'],
        dependencies: ['-r requirements.txt'],
      }),
      'model/input_example.json': pyJson({
        inputs: input.promptParameters.map((p) => p.value),
      }),
    };
    for (const [path, text] of Object.entries(files))
      await artifacts.put(`${root}/${path}`, Buffer.from(text, 'utf8'));
  } catch {
    status = 'FAILED';
  }
  await runs.update(runId, { status, endTime: clock.now() });
  return runs.get(runId);
}
