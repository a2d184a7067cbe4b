/**
 * Stored evaluations of model versions and the history of protected aliases — the
 * registry side of the evaluation gate. Computing an evaluation is `evaluate.ts`;
 * this file records results, answers "did this version pass?", and lists what
 * happened to a version (evaluations, and protected aliases set on it, gated or forced).
 */
import { MobiusError, newId, type Clock } from '../core/index.js';
import type { Store, Transaction, Database } from '../store/index.js';
import type { MetricSet, MetricValue } from './evaluation-metrics.js';
import type { EvaluationPolicy, EvaluationTask } from './evaluation-policy.js';
import { modelKey } from './models.js';
import { requireVersion } from './versions.js';

/** Metrics of one slice value of one column. */
export interface SliceResult extends MetricSet {
  column: string;
  value: string;
}

/** What `mobius models evaluate` found, as stored on the candidate version. */
export interface EvaluationResult {
  task: EvaluationTask;
  dataset: { name: string; version: number };
  label: string;
  features: string[];
  /** The class labels in the model's probability order (classification). */
  classes?: string[];
  metrics: MetricSet;
  slices: SliceResult[];
  /** Per slice column, the largest minus the smallest value of each metric across its slices. */
  gaps: Record<string, Record<string, MetricValue>>;
  champion?: {
    alias: string;
    version: number;
    metrics: MetricSet;
    gaps: Record<string, Record<string, MetricValue>>;
  };
  policy: EvaluationPolicy;
  verdict: 'pass' | 'fail';
  /** Why the verdict is fail (empty on a pass). */
  reasons: string[];
  /** Rows left out because their label was null. */
  skippedRows: number;
  durationMs: number;
}

/** A stored evaluation. */
export interface ModelEvaluation extends EvaluationResult {
  id: string;
  name: string;
  version: number;
  userId: string | null;
  createdAt: number;
}

/** One move of a protected alias onto a version. */
export interface AliasEvent {
  id: string;
  name: string;
  version: number;
  alias: string;
  previousVersion: number | null;
  /** `passed`: the version's newest evaluation passed; `forced`: moved with --force. */
  gate: 'passed' | 'forced';
  evaluationId: string | null;
  reason: string | null;
  userId: string | null;
  createdAt: number;
}

/** Records and reads evaluations and protected-alias history. */
export class EvaluationRecords {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Stores `result` on version `version` of `name`. */
  async record(
    name: string,
    version: number,
    result: EvaluationResult,
    userId?: string,
  ): Promise<ModelEvaluation> {
    const model = modelKey(name);
    const row = {
      id: newId(),
      name: model,
      version,
      dataset: result.dataset.name,
      dataset_version: result.dataset.version,
      label: result.label,
      task: result.task,
      against: result.champion?.alias ?? null,
      champion_version: result.champion?.version ?? null,
      verdict: result.verdict,
      result: JSON.stringify(result),
      user_id: userId ?? null,
      created_at: this.clock.now(),
    };
    await this.store.write(async (trx) => {
      await requireVersion(trx, model, version);
      await trx.insertInto('model_evaluation').values(row).execute();
    });
    return {
      ...result,
      id: row.id,
      name: model,
      version,
      userId: row.user_id,
      createdAt: row.created_at,
    };
  }

  /** The evaluations of a version, newest first. */
  async list(name: string, version: number): Promise<ModelEvaluation[]> {
    const model = modelKey(name);
    const exists = await this.store.db
      .selectFrom('model_version')
      .select('version')
      .where('name', '=', model)
      .where('version', '=', version)
      .executeTakeFirst();
    if (exists === undefined)
      throw new MobiusError(
        'NOT_FOUND',
        `Model Version (name=${name}, version=${version}) not found`,
      );
    const rows = await this.store.db
      .selectFrom('model_evaluation')
      .selectAll()
      .where('name', '=', model)
      .where('version', '=', version)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map(toEvaluation);
  }

  /** Protected-alias moves onto a version, newest first. */
  async aliasEvents(name: string, version: number): Promise<AliasEvent[]> {
    const rows = await this.store.db
      .selectFrom('model_alias_event')
      .selectAll()
      .where('name', '=', modelKey(name))
      .where('version', '=', version)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      version: r.version,
      alias: r.alias,
      previousVersion: r.previous_version,
      gate: r.gate === 'forced' ? 'forced' : 'passed',
      evaluationId: r.evaluation_id,
      reason: r.reason,
      userId: r.user_id,
      createdAt: Number(r.created_at),
    }));
  }
}

function toEvaluation(row: {
  id: string;
  name: string;
  version: number;
  result: string;
  user_id: string | null;
  created_at: number;
}): ModelEvaluation {
  const result = JSON.parse(row.result) as EvaluationResult;
  return {
    ...result,
    id: row.id,
    name: row.name,
    version: row.version,
    userId: row.user_id,
    createdAt: Number(row.created_at),
  };
}

/** The newest evaluation of a version inside `trx`: its id and verdict, or undefined. */
export async function latestVerdict(
  trx: Transaction<Database>,
  name: string,
  version: number,
): Promise<{ id: string; verdict: string; reasons: string[] } | undefined> {
  const row = await trx
    .selectFrom('model_evaluation')
    .select(['id', 'verdict', 'result'])
    .where('name', '=', name)
    .where('version', '=', version)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirst();
  if (row === undefined) return undefined;
  return {
    id: row.id,
    verdict: row.verdict,
    reasons: (JSON.parse(row.result) as EvaluationResult).reasons,
  };
}

/** Who forces a protected alias past the gate, and why (both required: the move is audited). */
export interface ForceAlias {
  reason: string;
  user?: string | undefined;
}

/** Checks a `--force` reason: non-empty and of a readable length. */
export function checkForce(force: ForceAlias): ForceAlias {
  const reason = typeof force.reason === 'string' ? force.reason.trim() : '';
  if (reason === '')
    throw new MobiusError(
      'INVALID_ARGUMENT',
      'forcing a protected alias needs a reason (it is audited): --force --reason "<why>"',
    );
  if (reason.length > 1000)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `the reason is ${reason.length} characters; keep it to 1000`,
    );
  return { ...force, reason };
}
