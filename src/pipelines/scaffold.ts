/**
 * `mobius init`: the files of a small example project — a TypeScript pipeline with a
 * TypeScript step, a quality gate, a Python step and a shell step, an expectation suite
 * and a tiny CSV. `mobius run example` runs it on a machine with python3 (MLflow is
 * used only when importable and a tracking server is given).
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { MobiusError } from '../core/index.js';

const PIPELINE_TS = `/**
 * An example Mobius pipeline. Run it with \`mobius run example\`; run it again and every
 * step is a cache hit; edit data/customers.csv and only what depends on it reruns.
 * \`mobius run example --explain\` says why each step would run or be skipped.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { check, pipeline, step } from 'mobius';

// TypeScript step: cleans the raw CSV and registers the result as a dataset version.
const prep = step('prep', {
  inputs: { raw: 'file:data/customers.csv' },
  outputs: [{ dataset: 'customers_clean', as: 'clean' }],
  params: ['minSpend'],
  run: async (ctx) => {
    const [header, ...rows] = (await readFile(ctx.inputs.raw!, 'utf8')).trim().split('\\n');
    const kept = rows
      .map((line) => line.split(','))
      .filter(([, email, spend]) => email !== '' && Number(spend) >= Number(ctx.params.minSpend))
      .map(([id, email, spend]) => [id, email!.toLowerCase(), spend].join(','));
    await writeFile(ctx.outputs.clean!, [header, ...kept].join('\\n') + '\\n');
    ctx.log(\`kept \${kept.length} of \${rows.length} rows\`);
  },
});

// Quality gate: error expectations failing stop everything after it; warnings are recorded.
const gate = check('gate', { dataset: 'prep.clean', suite: 'suites/customers.yaml' });

// Python step: reads the clean data, writes a model; logs a metric when MLflow is there.
const train = step('train', {
  inputs: { data: 'prep.clean' },
  outputs: ['model'],
  after: ['gate'],
  run: ['python3', 'steps/train.py'],
  codeFiles: ['steps/train.py'],
});

// Shell step: a report from the model.
const report = step('report', {
  inputs: { model: 'train.model' },
  outputs: ['report'],
  run: { shell: 'printf "model: %s\\\\n" "$(cat "$MOBIUS_INPUT_MODEL")" > "$MOBIUS_OUTPUT_REPORT"' },
});

export default pipeline('example', {
  params: { minSpend: 0 },
  steps: [prep, gate, train, report],
});
`;

const TRAIN_PY = `"""The example's Python step: the step contract is environment variables.

MOBIUS_INPUT_<NAME> / MOBIUS_OUTPUT_<NAME> are file paths, MOBIUS_RUN_ID is this step's
tracking run. With MLflow installed and \`mobius run --tracking-uri <server>\`, the metric
lands on the step's run.
"""
import csv
import json
import os

with open(os.environ["MOBIUS_INPUT_DATA"], newline="") as f:
    spend = [float(row["spend"]) for row in csv.DictReader(f)]
model = {"rows": len(spend), "mean_spend": sum(spend) / len(spend) if spend else 0.0}
with open(os.environ["MOBIUS_OUTPUT_MODEL"], "w") as f:
    json.dump(model, f)
print("trained on", model["rows"], "rows")

if os.environ.get("MLFLOW_TRACKING_URI"):
    try:
        import mlflow
    except ImportError:
        print("mlflow is not installed: metric not logged")
    else:
        with mlflow.start_run(run_id=os.environ["MOBIUS_RUN_ID"]):
            mlflow.log_metric("mean_spend", model["mean_spend"])
`;

const SUITE_YAML = `# Expectations on the cleaned customers (see docs/pipelines.md, check steps).
name: customers-quality
expectations:
  - expect: not_null
    column: email
  - expect: unique
    column: id
  - expect: row_count_between
    min: 1
    max: 1000000
  - expect: between
    column: spend
    min: 0
    max: 10000
    severity: warn
`;

const CUSTOMERS_CSV = `id,email,spend
1,Ada@example.com,120.5
2,grace@example.com,80
3,,45
4,Linus@example.com,310.25
5,margaret@example.com,15
`;

/** Relative path → content of every file `mobius init` writes. */
export const SCAFFOLD_FILES: Readonly<Record<string, string>> = {
  'pipeline.ts': PIPELINE_TS,
  'steps/train.py': TRAIN_PY,
  'suites/customers.yaml': SUITE_YAML,
  'data/customers.csv': CUSTOMERS_CSV,
  '.gitignore': '.mobius/\n',
};

/**
 * Writes the example project into `dir`. Refuses (ALREADY_EXISTS, naming them) when any
 * of its files exists, before writing anything.
 *
 * @example
 * await scaffoldProject('./my-project') // then: cd my-project && mobius run example
 */
export async function scaffoldProject(dir: string): Promise<{ dir: string; files: string[] }> {
  const root = resolve(dir);
  const existing = Object.keys(SCAFFOLD_FILES).filter((f) => existsSync(join(root, f)));
  if (existing.length > 0)
    throw new MobiusError(
      'ALREADY_EXISTS',
      `${root} already has ${existing.join(', ')}; mobius init never overwrites files: pick an empty directory (mobius init <dir>) or move them away`,
    );
  const written: string[] = [];
  for (const [path, content] of Object.entries(SCAFFOLD_FILES)) {
    const target = join(root, path);
    await mkdir(dirname(target), { recursive: true });
    // 'wx': a file created meanwhile is still not overwritten.
    await writeFile(target, content, { flag: 'wx' });
    written.push(relative(root, target));
  }
  return { dir: root, files: written };
}
