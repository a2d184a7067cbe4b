/**
 * The YAML form of a pipeline (`mobius.yaml`), for teams that do not write TypeScript:
 * the same shape as `pipeline()`/`step()` with command steps only (argv `run:` or an
 * explicit `shell:`). Unknown keys are rejected, and errors name the step.
 *
 * @example
 * name: etl
 * params: { rows: 10 }
 * steps:
 *   - name: extract
 *     run: [python3, extract.py]
 *     inputs: { raw: "file:data.csv" }
 *     outputs: [rows]
 *     params: [rows]
 * schedule: { cron: '0 * * * *' }            # or a list of them
 * trigger: { datasets: [raw], when: all }     # runs on new versions of `raw`
 */
import { parse } from 'yaml';
import { z } from 'zod';
import { MobiusError } from '../core/index.js';
import {
  DATASET_OUTPUT_FORMATS,
  check,
  pipeline,
  step,
  type DatasetOutput,
  type PipelineDefinition,
  type StepOptions,
} from './definition.js';

const paramValue = z.union([z.string(), z.number(), z.boolean()]);

const stepSchema = z
  .object({
    name: z.string(),
    run: z.array(z.string()).min(1).optional(),
    shell: z.string().min(1).optional(),
    cwd: z.string().optional(),
    inputs: z.record(z.string(), z.string()).optional(),
    outputs: z
      .array(
        z.union([
          z.string(),
          z
            .object({
              dataset: z.string(),
              as: z.string().optional(),
              format: z.enum(DATASET_OUTPUT_FORMATS).optional(),
            })
            .strict(),
        ]),
      )
      .optional(),
    check: z
      .object({ dataset: z.string(), suite: z.string().min(1) })
      .strict()
      .optional(),
    params: z.array(z.string()).optional(),
    after: z.array(z.string()).optional(),
    timeoutMs: z.number().positive().optional(),
    retries: z.number().int().min(0).optional(),
    retryDelayMs: z.number().min(0).optional(),
    env: z.array(z.string()).optional(),
    codeFiles: z.array(z.string()).optional(),
    cache: z.boolean().optional(),
    pool: z.string().optional(),
    sandbox: z.boolean().optional(),
  })
  .strict();

const scheduleSchema = z
  .object({
    cron: z.string(),
    timezone: z.string().optional(),
    catchup: z.enum(['latest', 'all']).optional(),
  })
  .strict();

const triggerSchema = z
  .object({
    datasets: z.array(z.string()).min(1),
    when: z.enum(['all', 'any']).optional(),
    coalesceMs: z.number().int().min(0).optional(),
    maxWaitMs: z.number().int().min(0).optional(),
  })
  .strict();

const pipelineSchema = z
  .object({
    name: z.string(),
    params: z.record(z.string(), paramValue).optional(),
    steps: z.array(stepSchema).min(1),
    schedule: z.union([scheduleSchema, z.array(scheduleSchema)]).optional(),
    trigger: triggerSchema.optional(),
    pools: z.record(z.string(), z.number()).optional(),
  })
  .strict();

/** Parses and validates a YAML pipeline; INVALID_ARGUMENT naming the step and field on any problem. */
export function parsePipelineYaml(text: string, source = 'mobius.yaml'): PipelineDefinition {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${source}: not valid YAML: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const parsed = pipelineSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const [top, index, ...rest] = issue.path;
    const steps = (document as { steps?: { name?: unknown }[] } | null)?.steps;
    const stepName =
      top === 'steps' && typeof index === 'number' ? steps?.[index]?.name : undefined;
    const where =
      typeof stepName === 'string'
        ? `step '${stepName}'${rest.length > 0 ? ` (${rest.join('.')})` : ''}`
        : issue.path.join('.') || 'document';
    throw new MobiusError('INVALID_ARGUMENT', `${source}: ${where}: ${issue.message}`);
  }
  const doc = parsed.data;
  return pipeline(doc.name, {
    ...(doc.params === undefined ? {} : { params: doc.params }),
    ...(doc.schedule === undefined ? {} : { schedule: doc.schedule }),
    ...(doc.trigger === undefined ? {} : { trigger: doc.trigger }),
    ...(doc.pools === undefined ? {} : { pools: doc.pools }),
    steps: doc.steps.map((s) => {
      if (s.check !== undefined) {
        const extra = Object.keys(s).filter(
          (k) => !['name', 'check', 'cache', 'after', 'pool'].includes(k),
        );
        if (extra.length > 0)
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `${source}: step '${s.name}': a check step takes only 'check' (and 'cache'), not ${extra.map((k) => `'${k}'`).join(', ')}`,
          );
        const gate = check(s.name, {
          dataset: s.check.dataset,
          suite: s.check.suite,
          ...(s.cache === undefined ? {} : { cache: s.cache }),
          ...(s.pool === undefined ? {} : { pool: s.pool }),
        });
        return { ...gate, after: s.after ?? [] };
      }
      if ((s.run === undefined) === (s.shell === undefined))
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `${source}: step '${s.name}': give exactly one of 'run' (an argv list), 'shell' (a shell string) or 'check' (a quality gate)`,
        );
      // `check` is undefined here (handled above); taken out so `rest` holds step options only.
      // eslint-disable-next-line @typescript-eslint/no-unused-vars
      const { name, run, shell, check: _check, outputs, ...rest } = s;
      const options: StepOptions = {
        ...dropUndefined(rest),
        ...(outputs === undefined
          ? {}
          : {
              outputs: outputs.map((o) =>
                typeof o === 'string' ? o : (dropUndefined(o) as DatasetOutput),
              ),
            }),
        run: run ?? { shell: shell! },
      };
      return step(name, options);
    }),
  });
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
