/**
 * `mobius models evaluate`: runs a candidate model version (and the champion an alias
 * names) over a dataset version, computes metrics overall and per slice, judges them
 * against a policy, and stores the result on the candidate (the evaluation gate).
 *
 * Models load in-process through serving's `loadModel` (ONNX or Mobius JSON files; a
 * pickle is refused, as everywhere in-process). The dataset's Parquet copy is read by
 * DuckDB in ranges of `EVALUATION_BATCH_ROWS` rows (by `file_row_number`, which Parquet
 * row groups prune), each range turned into one input tensor per model; only labels,
 * probabilities and slice indexes are kept, in typed arrays, for the metrics that need
 * every row at once (AUC sorts them).
 */
import type { BlobStore } from '../blobs/index.js';
import { MobiusError, limits } from '../core/index.js';
import { withParquetFiles, type DataService, type DatasetVersion } from '../data/index.js';
import { sqlIdent, sqlString, type Cell, type Engine } from '../engine/index.js';
import { loadModel, type ModelRuntime, type Tensor } from '../serving/index.js';
import type { TrackingService } from '../tracking/index.js';
import {
  classificationMetrics,
  regressionMetrics,
  type MetricSet,
  type MetricValue,
} from './evaluation-metrics.js';
import {
  checkTask,
  emptyPolicy,
  judge,
  type EvaluationPolicy,
  type EvaluationTask,
} from './evaluation-policy.js';
import type { EvaluationResult, ModelEvaluation, SliceResult } from './evaluations.js';
import type { RegistryService } from './registry.js';
import type { ModelVersion } from './types.js';

/** What the evaluation reads: the registry, run artifacts, dataset versions and the engine. */
export interface EvaluationDeps {
  registry: RegistryService;
  tracking: TrackingService;
  data: DataService;
  blobs: BlobStore;
  engine: Engine;
}

/** One evaluation request. */
export interface EvaluateRequest {
  name: string;
  /** A version number, or an alias naming the candidate. */
  candidate: string | number;
  /** The alias whose version is the champion to compare with (optional for a first model). */
  against?: string | undefined;
  /** `dataset@version` (or `dataset@tag`). */
  data: string;
  /** The column holding the true label (class or number). */
  label: string;
  policy?: EvaluationPolicy | undefined;
  /** Columns whose values define slices (fairness gaps). */
  slices?: readonly string[] | undefined;
  /** Feature columns in the model's input order, for ONNX models that do not name them. */
  features?: readonly string[] | undefined;
  /** Recorded with the result. */
  user?: string | undefined;
}

/** A version's model, loaded, with the columns it reads. */
interface LoadedModel {
  version: ModelVersion;
  runtime: ModelRuntime;
  features: string[];
  /** Index of the output holding probabilities (classification) or predictions. */
  output: number;
}

/**
 * Evaluates a candidate version and stores the result on it.
 *
 * @example
 * const ev = await evaluateModel(ctx, { name: 'churn', candidate: 3, against: 'production', data: 'churn-test@2', label: 'churned' });
 */
export async function evaluateModel(
  deps: EvaluationDeps,
  request: EvaluateRequest,
): Promise<ModelEvaluation> {
  const started = performance.now();
  const policy = request.policy ?? emptyPolicy();
  const candidateVersion = await resolveVersion(deps, request.name, request.candidate);
  const championVersion =
    request.against === undefined
      ? undefined
      : await deps.registry.aliases.get(request.name, request.against).catch((error: unknown) => {
          throw (error as { code?: string }).code === 'NOT_FOUND'
            ? new MobiusError(
                'NOT_FOUND',
                `'${request.name}' has no alias '${request.against}' to compare with; for a first model, leave out --against`,
                { cause: error },
              )
            : error;
        });
  const dataset = await deps.data.get(request.data);
  const columns = new Map(dataset.schema.map((c) => [c.name, c.type]));
  const requireColumn = (column: string, role: string) => {
    if (!columns.has(column))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${dataset.dataset}@${dataset.version} has no ${role} column '${column}'; its columns: ${[...columns.keys()].slice(0, 50).join(', ')}`,
      );
  };
  requireColumn(request.label, 'label');
  const sliceColumns = [...new Set(request.slices ?? [])];
  for (const s of sliceColumns) requireColumn(s, 'slice');

  const opened: ModelRuntime[] = [];
  try {
    const load = async (version: ModelVersion): Promise<LoadedModel> => {
      const runtime = await loadModel(await readModelFile(deps, version));
      opened.push(runtime);
      return describeModel(version, runtime, request, dataset, requireColumn);
    };
    const candidate = await load(candidateVersion);
    const champion = championVersion === undefined ? undefined : await load(championVersion);
    const task = policy.task ?? inferTask(candidate.runtime);
    checkTask(policy, task);
    if (champion !== undefined && inferTask(champion.runtime) !== task)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `the champion (version ${champion.version.version}) is a ${inferTask(champion.runtime)} model but the candidate is evaluated as ${task}`,
      );
    const scored = await score(deps, dataset, request.label, sliceColumns, task, [
      candidate,
      ...(champion === undefined ? [] : [champion]),
    ]);
    const metricsOf = (m: number, rows?: Int32Array): MetricSet =>
      task === 'classification'
        ? classificationMetrics(
            {
              labels: scored.classLabels!,
              probabilities: scored.outputs[m]!,
              k: scored.classes!.length,
            },
            rows,
          )
        : regressionMetrics(scored.numericLabels!, scored.outputs[m]!, rows);
    const slicesOf = (m: number) => {
      const slices: SliceResult[] = [];
      const gaps: Record<string, Record<string, MetricValue>> = {};
      sliceColumns.forEach((column, s) => {
        const values = scored.sliceValues[s]!;
        const codes = scored.sliceCodes[s]!;
        const members: number[][] = values.map(() => []);
        for (let i = 0; i < codes.length; i++) members[codes[i]!]!.push(i);
        const sets = values.map((value, v) => ({
          column,
          value,
          ...metricsOf(m, Int32Array.from(members[v]!)),
        }));
        slices.push(...sets);
        gaps[column] = gapsOf(sets);
      });
      return { slices, gaps };
    };
    const metrics = metricsOf(0);
    const { slices, gaps } = slicesOf(0);
    const championResult =
      champion === undefined
        ? undefined
        : {
            alias: request.against!,
            version: champion.version.version,
            metrics: metricsOf(1),
            gaps: slicesOf(1).gaps,
          };
    const reasons = judge(policy, { metrics, champion: championResult?.metrics, gaps });
    const result: EvaluationResult = {
      task,
      dataset: { name: dataset.dataset, version: dataset.version },
      label: request.label,
      features: candidate.features,
      ...(scored.classes === undefined ? {} : { classes: scored.classes }),
      metrics,
      slices,
      gaps,
      ...(championResult === undefined ? {} : { champion: championResult }),
      policy,
      verdict: reasons.length === 0 ? 'pass' : 'fail',
      reasons,
      skippedRows: scored.skipped,
      durationMs: Math.round(performance.now() - started),
    };
    return await deps.registry.evaluations.record(
      candidateVersion.name,
      candidateVersion.version,
      result,
      request.user,
    );
  } finally {
    await Promise.all(opened.map((r) => r.close()));
  }
}

/** Largest minus smallest value of each metric across slices (null with fewer than two values). */
function gapsOf(sets: MetricSet[]): Record<string, MetricValue> {
  const gaps: Record<string, MetricValue> = {};
  for (const metric of Object.keys(sets[0]?.metrics ?? {})) {
    const values = sets
      .map((s) => s.metrics[metric])
      .filter((v): v is number => typeof v === 'number');
    gaps[metric] = values.length < 2 ? null : Math.max(...values) - Math.min(...values);
  }
  return gaps;
}

async function resolveVersion(
  deps: EvaluationDeps,
  name: string,
  candidate: string | number,
): Promise<ModelVersion> {
  if (typeof candidate === 'number' || /^\d+$/.test(candidate))
    return deps.registry.versions.get(name, Number(candidate));
  return deps.registry.aliases.get(name, candidate);
}

/**
 * The model file of a version: its source when that is a file, else the one ONNX or
 * Mobius JSON file in its directory (`model.onnx` / `model.json` preferred).
 */
async function readModelFile(deps: EvaluationDeps, version: ModelVersion): Promise<Uint8Array> {
  const { artifacts } = deps.tracking;
  const source = version.source;
  let path: string;
  const runs = /^runs:\/+([^/]+)\/?(.*)$/.exec(source);
  const proxied = /^mlflow-artifacts:\/*(.*)$/.exec(source);
  if (runs !== null) {
    const run = await deps.tracking.runs.get(runs[1]!);
    const root = /^mlflow-artifacts:\/*(.*?)\/*$/.exec(run.info.artifactUri)?.[1];
    if (root === undefined)
      throw new MobiusError('INVALID_ARGUMENT', `run ${runs[1]}'s artifacts are not stored here`);
    path = runs[2] === '' ? root : `${root}/${runs[2]}`;
  } else if (proxied !== null) path = proxied[1]!.replace(/\/+$/, '');
  else
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `version ${version.version} of '${version.name}' has source '${source}', which evaluation cannot read: register the model from a run's artifacts (runs:/… or mlflow-artifacts:/…)`,
    );
  let file = await artifacts.open(path).catch(() => undefined);
  if (file === undefined) {
    const entries = (await artifacts.list(path)).filter((e) => !e.isDir);
    const pick =
      entries.find((e) => e.name === 'model.onnx') ??
      entries.find((e) => e.name === 'model.json') ??
      (entries.filter((e) => e.name.endsWith('.onnx')).length === 1
        ? entries.find((e) => e.name.endsWith('.onnx'))
        : undefined);
    if (pick === undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `version ${version.version} of '${version.name}' has no ONNX or Mobius JSON model file at '${source}' (found: ${entries.map((e) => e.name).join(', ') || 'nothing'}); evaluation loads model.onnx or model.json in-process and never unpickles`,
      );
    file = await artifacts.open(`${path}/${pick.name}`);
  }
  if (file.size > limits.MAX_INPROCESS_MODEL_BYTES) {
    file.stream.destroy();
    throw new MobiusError(
      'PAYLOAD_TOO_LARGE',
      `the model file is ${file.size} bytes; in-process evaluation takes up to ${limits.MAX_INPROCESS_MODEL_BYTES}`,
    );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of file.stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** DuckDB's numeric column types: the default features are the columns of these types. */
const NUMERIC_TYPE = /^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|FLOAT|DOUBLE|REAL|DECIMAL(\(.*\))?)$/i;

/**
 * Checks that the model takes one `[-1, F]` numeric table and picks its feature columns:
 * the model's own names (Mobius JSON), `--features`, or else every numeric column but the
 * label and the slice columns, in dataset order.
 */
function describeModel(
  version: ModelVersion,
  runtime: ModelRuntime,
  request: EvaluateRequest,
  dataset: DatasetVersion,
  requireColumn: (column: string, role: string) => void,
): LoadedModel {
  const who = `version ${version.version} of '${version.name}'`;
  const inputs = runtime.signature.inputs;
  const input = inputs[0];
  if (inputs.length !== 1 || input === undefined || input.shape.length !== 2)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${who} takes ${inputs.length} input(s) (${inputs.map((i) => `${i.name}[${i.shape.join(',')}]`).join(', ')}); evaluation feeds models with one [-1, features] table`,
    );
  if (input.datatype !== 'FP32' && input.datatype !== 'FP64')
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${who} takes ${input.datatype} input; evaluation feeds FP32 or FP64 features`,
    );
  const width = input.shape[1]!;
  const features = [
    ...(runtime.features ??
      request.features ??
      dataset.schema
        .filter(
          (c) =>
            NUMERIC_TYPE.test(c.type) &&
            c.name !== request.label &&
            !(request.slices ?? []).includes(c.name),
        )
        .map((c) => c.name)),
  ];
  if (width >= 0 && features.length !== width)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${who} takes ${width} features but ${features.length} columns were chosen (${features.slice(0, 20).join(', ')}); name them in order with --features`,
    );
  for (const f of features) requireColumn(f, 'feature');
  const task = inferTask(runtime);
  const outputs = runtime.signature.outputs;
  const output =
    task === 'classification'
      ? outputs.findIndex(isProbabilities)
      : outputs.findIndex((o) => o.datatype === 'FP32' || o.datatype === 'FP64');
  if (output < 0)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${who} has no numeric output to evaluate (outputs: ${outputs.map((o) => o.name).join(', ')})`,
    );
  return { version, runtime, features, output };
}

function isProbabilities(o: { datatype: string; shape: number[] }): boolean {
  return (
    (o.datatype === 'FP32' || o.datatype === 'FP64') && o.shape.length === 2 && o.shape[1] !== 1
  );
}

/** Probabilities out (a `[-1, K]` float output, K ≠ 1) → classification; otherwise regression. */
function inferTask(runtime: ModelRuntime): EvaluationTask {
  return runtime.signature.outputs.some(isProbabilities) ? 'classification' : 'regression';
}

/** The classes a classification model's probability columns stand for. */
function modelClasses(runtime: ModelRuntime): string[] | undefined {
  const model = (runtime as { model?: { classes?: unknown } }).model;
  return Array.isArray(model?.classes) ? model.classes.map(String) : undefined;
}

/** Predictions of every model over every labelled row, with labels and slice codes. */
interface Scored {
  classes?: string[];
  classLabels?: Int32Array;
  numericLabels?: Float64Array;
  /** Per model: `rows × K` probabilities (classification) or one prediction per row. */
  outputs: Float64Array[];
  sliceValues: string[][];
  sliceCodes: Int32Array[];
  skipped: number;
}

async function score(
  deps: EvaluationDeps,
  dataset: DatasetVersion,
  label: string,
  sliceColumns: string[],
  task: EvaluationTask,
  models: LoadedModel[],
): Promise<Scored> {
  return withParquetFiles(deps.blobs, deps.engine, [dataset], async ([path], session) => {
    const source = `read_parquet(${sqlString(path!)}, file_row_number = true)`;
    const featureColumns = [...new Set(models.flatMap((m) => m.features))];
    for (const f of featureColumns) {
      const [nulls] = await session.rows<{ n: number }>(
        `select count(*)::double as n from ${source} where ${sqlIdent(f)} is null and ${sqlIdent(label)} is not null`,
      );
      if ((nulls?.n ?? 0) > 0)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `feature column '${f}' is null in ${nulls!.n} labelled row(s) of ${dataset.dataset}@${dataset.version}; fill or drop them in a new dataset version first`,
        );
    }
    const [counts] = await session.rows<{ total: number; labelled: number }>(
      `select count(*)::double as total, count(${sqlIdent(label)})::double as labelled from ${source}`,
    );
    const total = counts?.total ?? 0;
    const n = counts?.labelled ?? 0;
    if (n === 0)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${dataset.dataset}@${dataset.version} has no rows with a '${label}' label to evaluate on`,
      );

    let classes: string[] | undefined;
    if (task === 'classification') {
      const k = models[0]!.runtime.signature.outputs[models[0]!.output]!.shape[1]!;
      classes = modelClasses(models[0]!.runtime);
      if (classes === undefined) {
        // An ONNX classifier does not list its classes; scikit-learn orders them sorted, as here.
        const distinct = await session.rows<{ v: Cell }>(
          `select distinct ${sqlIdent(label)} as v from ${source} where ${sqlIdent(label)} is not null order by 1 limit ${Math.max(k, 2) + 1}`,
        );
        classes = distinct.map((d) => cellText(d.v));
        if (k > 0 && classes.length !== k)
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `the model gives ${k} class probabilities but '${label}' has ${classes.length > k ? 'more' : classes.length} distinct values; evaluate on data where every class occurs`,
          );
      }
      for (const m of models.slice(1)) {
        const other = modelClasses(m.runtime) ?? classes;
        if (other.join('\u0000') !== classes.join('\u0000'))
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `the champion's classes (${other.join(', ')}) differ from the candidate's (${classes.join(', ')})`,
          );
      }
    }
    const classIndex = new Map((classes ?? []).map((c, i) => [c, i]));
    const k = classes?.length ?? 1;
    const classLabels = task === 'classification' ? new Int32Array(n) : undefined;
    const numericLabels = task === 'regression' ? new Float64Array(n) : undefined;
    const outputs = models.map(() => new Float64Array(n * k));
    const sliceValues = sliceColumns.map(() => [] as string[]);
    const sliceMaps = sliceColumns.map(() => new Map<string, number>());
    const sliceCodes = sliceColumns.map(() => new Int32Array(n));

    const select = [
      ...featureColumns.map((f, i) => `try_cast(${sqlIdent(f)} as double) as f${i}`),
      ...featureColumns.map((f, i) => `${sqlIdent(f)} as r${i}`),
      `${sqlIdent(label)} as y`,
      ...sliceColumns.map((s, i) => `${sqlIdent(s)}::varchar as s${i}`),
    ].join(', ');
    let at = 0;
    for (let start = 0; start < total; start += limits.EVALUATION_BATCH_ROWS) {
      const rows = await session.rows<Record<string, Cell>>(
        `select ${select} from ${source} where file_row_number >= ${start} and file_row_number < ${start + limits.EVALUATION_BATCH_ROWS} and ${sqlIdent(label)} is not null order by file_row_number`,
      );
      if (rows.length === 0) continue;
      const m = rows.length;
      for (const [fi, f] of featureColumns.entries())
        for (const row of rows)
          if (typeof row[`f${fi}`] !== 'number')
            throw new MobiusError(
              'INVALID_ARGUMENT',
              `feature column '${f}' holds ${JSON.stringify(row[`r${fi}`])}, which is not a number; models are fed numeric features`,
            );
      for (const [mi, model] of models.entries()) {
        const width = model.features.length;
        const data = new Array<number>(m * width);
        const at0 = model.features.map((f) => featureColumns.indexOf(f));
        for (let r = 0; r < m; r++)
          for (let j = 0; j < width; j++) data[r * width + j] = rows[r]![`f${at0[j]}`] as number;
        const input: Tensor = {
          name: model.runtime.signature.inputs[0]!.name,
          datatype: model.runtime.signature.inputs[0]!.datatype,
          shape: [m, width],
          data,
        };
        const result = await model.runtime.infer([input]);
        const out = result[model.output]!;
        const values = out.data as number[];
        if (values.length !== m * k)
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `version ${model.version.version}'s output '${out.name}' has ${values.length} values for ${m} rows; expected ${m * k}`,
          );
        outputs[mi]!.set(values, at * k);
        if (task === 'classification') checkLabelOutput(result, model, values, classes!, m);
      }
      for (let r = 0; r < m; r++) {
        const row = rows[r]!;
        const y = row.y ?? null;
        if (task === 'classification') {
          const c = classIndex.get(cellText(y));
          if (c === undefined)
            throw new MobiusError(
              'INVALID_ARGUMENT',
              `label ${JSON.stringify(y)} in '${label}' is not one of the model's classes (${classes!.join(', ')})`,
            );
          classLabels![at + r] = c;
        } else {
          const v = typeof y === 'number' ? y : typeof y === 'string' ? Number(y) : NaN;
          if (!Number.isFinite(v))
            throw new MobiusError(
              'INVALID_ARGUMENT',
              `label ${JSON.stringify(y)} in '${label}' is not a finite number; a regression is evaluated on numeric labels`,
            );
          numericLabels![at + r] = v;
        }
        sliceColumns.forEach((_, s) => {
          const cell = row[`s${s}`];
          const value = cell === null || cell === undefined ? '(null)' : cellText(cell);
          let code = sliceMaps[s]!.get(value);
          if (code === undefined) {
            code = sliceValues[s]!.length;
            if (code >= limits.MAX_EVALUATION_SLICES)
              throw new MobiusError(
                'INVALID_ARGUMENT',
                `slice column '${sliceColumns[s]}' has more than ${limits.MAX_EVALUATION_SLICES} distinct values; slice by a column with fewer (bucket it in a new dataset version)`,
              );
            sliceMaps[s]!.set(value, code);
            sliceValues[s]!.push(value);
          }
          sliceCodes[s]![at + r] = code;
        });
      }
      at += m;
    }
    return {
      ...(classes === undefined ? {} : { classes }),
      ...(classLabels === undefined ? {} : { classLabels }),
      ...(numericLabels === undefined ? {} : { numericLabels }),
      outputs,
      sliceValues,
      sliceCodes,
      skipped: total - n,
    };
  });
}

/** A label or slice value as text: scalars as themselves, anything nested as JSON. */
function cellText(cell: Cell): string {
  return typeof cell === 'object' && cell !== null ? JSON.stringify(cell) : String(cell);
}

/**
 * When a classifier also outputs its predicted label, the class of each row's highest
 * probability must be that label: otherwise the assumed class order (sorted labels, for
 * ONNX) is wrong and every metric would be too.
 */
function checkLabelOutput(
  result: Tensor[],
  model: LoadedModel,
  probabilities: number[],
  classes: string[],
  rows: number,
): void {
  const labels = result.find(
    (t, i) => i !== model.output && t.shape.length === 1 && t.shape[0] === rows,
  );
  if (labels === undefined) return;
  const k = classes.length;
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < k; c++)
      if (probabilities[r * k + c]! > probabilities[r * k + best]!) best = c;
    // Exact ties may be broken differently by the model; only a clear winner is checked.
    const top = probabilities[r * k + best]!;
    if (
      probabilities.some((p, i) => i >= r * k && i < (r + 1) * k && i !== r * k + best && p === top)
    )
      continue;
    if (String(labels.data[r]) !== classes[best])
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `version ${model.version.version} predicts '${String(labels.data[r])}' where its highest probability is for '${classes[best]}' under the assumed class order (${classes.join(', ')}): the evaluation data must contain every class the model was trained on`,
      );
  }
}
