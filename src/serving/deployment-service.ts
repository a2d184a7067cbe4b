/**
 * Registry-backed deployments: the controller that turns `mobius deploy churn churn@champion
 * --canary 10` into stored state and into routes served by `ServingService`.
 *
 * A deployment is a row (migration 020): weighted routes to model versions, an optional
 * mirror, a sticky key and the last-good version; every change is a `deployment_event`
 * with who and why. A change is computed from the stored row, its models are loaded and
 * warmed up, and only then is the row written (over the revision it was computed from, so
 * two concurrent changes cannot silently overwrite each other) and the routes swapped. A
 * model that does not load or answer therefore never replaces the serving one.
 *
 * Aliases are resolved once, at deploy time: the row names versions, so moving the
 * `champion` alias later does not change what a deployment serves until someone deploys
 * again. `mobius server` loads every stored deployment at start and re-reads the table
 * every DEPLOYMENT_SYNC_MS, so a CLI that wrote to the store is served within seconds.
 *
 * Deleting (`remove`) marks the row deleted (migration 023) rather than dropping it: the
 * event history and the prediction log stay, servers following the table stop serving
 * the name on their next sync, and deploying the name again continues its revisions.
 */
import { MobiusError, limits, type Clock, type Logger } from '../core/index.js';
import type { Row, Store } from '../store/index.js';
import type { PredictionLog } from './prediction-log.js';
import type {
  DeployOptions,
  DeploymentPlan,
  LiveRouteInfo,
  ModelSource,
  RoutePlan,
  ServingService,
} from './serving-service.js';

/** A model version's files, as the registry adapter finds them. */
export interface ResolvedModel {
  model: string;
  version: number;
  source: ModelSource;
  options?: DeployOptions | undefined;
}

/** Resolves `model` at `ref` (a version number or an alias) to a version and its model file. */
export type ResolveModel = (model: string, ref: string) => Promise<ResolvedModel>;

/** One weighted route of a stored deployment. */
export interface RouteSpec {
  model: string;
  version: number;
  /** What the user asked for (`champion`, `3`): kept for the history. */
  ref: string;
  /** Percent of the traffic. */
  weight: number;
  /** `stable` serves the rest; `candidate` is the canary or the B arm, what `promote` promotes. */
  role: 'stable' | 'candidate';
}

/** A stored mirror: a version that gets a copy of `percent`% of the requests. */
export interface MirrorSpec {
  model: string;
  version: number;
  ref: string;
  percent: number;
}

/** Automatic canary analysis: when to judge a candidate and how. */
export interface AnalysisSpec {
  /** Judge once the candidate has answered this many requests… */
  minRequests: number;
  /** …or this long after it started taking traffic (with at least one request). */
  windowMs: number;
  /** Roll back when the candidate's error rate exceeds stable's by more than this (0.01 = 1 point). */
  maxErrorRateIncrease: number;
  /** Roll back when the candidate's latency p95 exceeds stable's times this. */
  maxLatencyRatio: number;
  /**
   * Roll back when the two routes' predictions (first output value per row) differ by more
   * than this Kolmogorov–Smirnov distance D (0–1). Unset: D is reported, not judged — a
   * better model may rightly predict differently.
   */
  maxPredictionShift?: number;
}

/** A deployment as stored. */
export interface DeploymentState {
  name: string;
  routes: RouteSpec[];
  mirror: MirrorSpec | null;
  sticky: string | null;
  lastGood: { model: string; version: number } | null;
  analysis: AnalysisSpec | null;
  candidateSince: number | null;
  revision: number;
  createdAt: number;
  updatedAt: number;
}

/** One entry of a deployment's history. */
export interface DeploymentEvent {
  seq: number;
  revision: number;
  at: number;
  kind: string;
  actor: string;
  reason: string | null;
  detail: unknown;
}

/** A deleted deployment: the routes it served when it was deleted, and when. */
export interface DeletedDeployment extends DeploymentState {
  deletedAt: number;
}

/** What `deployments show` prints. */
export interface DeploymentView extends DeploymentState {
  /** When it was deleted (`deployments rm`); null while it exists. A deleted one is not live. */
  deletedAt: number | null;
  /** Whether this process serves it (and the live counters per route). */
  live: { routes: LiveRouteInfo[]; mirror?: LiveRouteInfo & { percent: number } } | null;
  /** Prediction records dropped because the log's buffer was full (this process). */
  droppedPredictions: number;
  events: DeploymentEvent[];
}

/** One B arm of an A/B deployment: `model@version|alias` and its percent of the traffic. */
export interface AbArm {
  model: string;
  percent: number;
}

/** `mobius deploy`'s arguments. At most one of canary, shadow and ab. */
export interface DeployInput {
  name: string;
  /** `model@version` or `model@alias`. */
  model: string;
  /** Percent of traffic the new version takes next to the current stable version. */
  canary?: number | undefined;
  /** Percent of traffic mirrored to the new version; the current routes keep answering. */
  shadow?: number | undefined;
  /**
   * A/B: `model` is arm A (it takes what the others leave), this is arm B with its percent,
   * or several arms (A/B/n), each with its percent.
   */
  ab?: AbArm | AbArm[] | undefined;
  /** Request header, OIP parameter, input or record field whose value pins the route. */
  sticky?: string | undefined;
  /** Judge the canary automatically (promote or roll back by itself). */
  analysis?: Partial<AnalysisSpec> | undefined;
  reason?: string | undefined;
}

/** Defaults for automatic canary analysis (used for fields not given). */
export const DEFAULT_ANALYSIS: AnalysisSpec = {
  minRequests: 100,
  windowMs: 10 * 60_000,
  maxErrorRateIncrease: 0.01,
  maxLatencyRatio: 1.5,
};

/** A history entry's reason: INVALID_ARGUMENT past MAX_DEPLOYMENT_REASON_LENGTH. */
function checkReason(reason: string | undefined): void {
  if (reason !== undefined && reason.length > limits.MAX_DEPLOYMENT_REASON_LENGTH)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `reason: keep it to ${limits.MAX_DEPLOYMENT_REASON_LENGTH} characters`,
    );
}

/** `model@ref` → its parts; INVALID_ARGUMENT saying what to write otherwise. */
export function parseModelRef(text: string, field = 'model'): { model: string; ref: string } {
  const at = typeof text === 'string' ? text.lastIndexOf('@') : -1;
  if (at <= 0 || at === text.length - 1)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${field}: '${String(text).slice(0, 200)}' must be <model>@<version> or <model>@<alias> (e.g. churn@3 or churn@champion)`,
    );
  return { model: text.slice(0, at), ref: text.slice(at + 1) };
}

function checkPercent(value: unknown, flag: string, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${flag} must be a percent greater than 0 and ${max === 100 ? 'at most 100' : 'below 100'}, not ${String(value)}`,
    );
  return value;
}

/** The B arms of an A/B deployment, checked: percents, refs, how many, their total. */
function checkArms(ab: AbArm | AbArm[]): (AbArm & { ref: string })[] {
  const list = Array.isArray(ab) ? ab : [ab];
  if (list.length === 0)
    throw new MobiusError('INVALID_ARGUMENT', 'ab: give at least one B arm (<model>@<v>=<pct>)');
  if (list.length + 1 > limits.MAX_DEPLOYMENT_ROUTES)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `ab: ${list.length} B arms; a deployment takes up to ${limits.MAX_DEPLOYMENT_ROUTES} routes (A and ${limits.MAX_DEPLOYMENT_ROUTES - 1} B arms)`,
    );
  const arms = list.map((arm, i) => {
    const field = list.length === 1 ? 'ab' : `ab[${i}]`;
    const percent = checkPercent(arm?.percent, `${field} percent`, 99.999);
    return { ...parseModelRef(arm.model, field), percent };
  });
  const total = arms.reduce((sum, arm) => sum + arm.percent, 0);
  // A must keep some traffic: it is the stable route a canary or rollback goes back to.
  if (total >= 100)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `ab: the B arms take ${total}% together; leave arm A some traffic (below 100% in all)`,
    );
  return arms;
}

function checkAnalysis(input: Partial<AnalysisSpec>): AnalysisSpec {
  const spec = { ...DEFAULT_ANALYSIS, ...input };
  const positive = (key: keyof AnalysisSpec) => {
    const v = spec[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new MobiusError('INVALID_ARGUMENT', `analysis.${key} must be a positive number`);
  };
  positive('minRequests');
  positive('windowMs');
  positive('maxLatencyRatio');
  if (!(spec.maxErrorRateIncrease >= 0 && spec.maxErrorRateIncrease <= 1))
    throw new MobiusError('INVALID_ARGUMENT', 'analysis.maxErrorRateIncrease must be from 0 to 1');
  const shift = spec.maxPredictionShift;
  if (shift !== undefined && !(typeof shift === 'number' && shift > 0 && shift <= 1))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      'analysis.maxPredictionShift must be a Kolmogorov–Smirnov distance above 0 and at most 1',
    );
  return spec;
}

const label = (m: { model: string; version: number }) => `${m.model}@${m.version}`;

/** Two-sample Kolmogorov–Smirnov distance: the largest gap between the two empirical CDFs. */
function ksDistance(a: readonly number[], b: readonly number[]): number {
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i] === v) i++;
    while (j < y.length && y[j] === v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

/** The value at fraction `q` of `values` (nearest rank). */
function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

function toState(row: Row<'deployment'>): DeploymentState {
  return {
    name: row.name,
    routes: JSON.parse(row.routes) as RouteSpec[],
    mirror: row.mirror === null ? null : (JSON.parse(row.mirror) as MirrorSpec),
    sticky: row.sticky,
    lastGood:
      row.last_good_model === null || row.last_good_version === null
        ? null
        : { model: row.last_good_model, version: Number(row.last_good_version) },
    analysis: row.analysis === null ? null : (JSON.parse(row.analysis) as AnalysisSpec),
    candidateSince: row.candidate_since === null ? null : Number(row.candidate_since),
    revision: Number(row.revision),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** A stored row, deleted or not. */
interface Stored {
  state: DeploymentState;
  deletedAt: number | null;
}

function toStored(row: Row<'deployment'>): Stored {
  return {
    state: toState(row),
    deletedAt: row.deleted_at === null ? null : Number(row.deleted_at),
  };
}

/** The parts of a state a change sets. */
type Next = Pick<DeploymentState, 'routes' | 'mirror' | 'sticky' | 'lastGood' | 'analysis'>;

/** Creates, changes, loads and judges deployments. */
export class DeploymentService {
  /** Revision each deployment is served at in this process. */
  private readonly served = new Map<string, number>();
  /** Revisions that failed to load here, so a sync does not retry them every tick. */
  private readonly failed = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private pruning: NodeJS.Timeout | undefined;
  /** The prune in progress, which `stop` waits for. */
  private pruned: Promise<number> | undefined;
  private syncing: Promise<void> | undefined;
  /** Changes and syncs of this process run one at a time, so an older revision never lands last. */
  private queue: Promise<unknown> = Promise.resolve();

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => {});
    return run;
  }

  constructor(
    private readonly deps: {
      store: Store;
      clock: Clock;
      logger: Logger;
      serving: ServingService;
      resolve: ResolveModel;
      log: PredictionLog;
      /** Keep prediction records this many days (`serving.predictionRetentionDays`); unset: all. */
      predictionRetentionDays?: number | undefined;
    },
  ) {}

  /**
   * Deploys `input.model`: replaces the deployment (no strategy), or adds a canary, a
   * shadow or an A/B arm next to what it serves.
   *
   * @example
   * await ctx.deployments.deploy({ name: 'churn', model: 'churn@challenger', canary: 10 }, 'alice');
   */
  async deploy(input: DeployInput, actor: string): Promise<DeploymentState> {
    const strategies = [input.canary, input.shadow, input.ab].filter((s) => s !== undefined);
    if (strategies.length > 1)
      throw new MobiusError('INVALID_ARGUMENT', 'give at most one of canary, shadow and ab');
    if (input.sticky !== undefined && !limits.STICKY_KEY_PATTERN.test(input.sticky))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `sticky: '${String(input.sticky).slice(0, 200)}' must be a header or field name (letters, digits, '_', '.', '-'; up to 128)`,
      );
    const { model, ref } = parseModelRef(input.model);
    const kind =
      input.canary !== undefined
        ? 'canary'
        : input.shadow !== undefined
          ? 'shadow'
          : input.ab !== undefined
            ? 'ab'
            : 'deploy';
    const arms = input.ab === undefined ? [] : checkArms(input.ab);
    const percent =
      kind === 'canary'
        ? checkPercent(input.canary, 'canary', 99.999)
        : kind === 'shadow'
          ? checkPercent(input.shadow, 'shadow', 100)
          : kind === 'ab'
            ? arms.reduce((sum, arm) => sum + arm.percent, 0)
            : 100;
    const analysis = input.analysis === undefined ? null : checkAnalysis(input.analysis);
    if (analysis !== null && kind !== 'canary' && kind !== 'ab')
      throw new MobiusError(
        'INVALID_ARGUMENT',
        'automatic analysis judges a canary or an A/B arm; add --canary or --ab',
      );
    if (analysis !== null && arms.length > 1)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `automatic analysis judges one candidate against stable, and this A/B has ${arms.length} B arms; drop the analysis and promote by hand (promote --to <model>@<version>)`,
      );
    return this.change(input.name, kind, actor, input.reason, async (current) => {
      const target = await this.deps.resolve(model, ref);
      const sticky = input.sticky ?? current?.sticky ?? null;
      const spec = (role: RouteSpec['role'], weight: number, r = ref, t = target): RouteSpec => ({
        model: t.model,
        version: t.version,
        ref: r,
        weight,
        role,
      });
      switch (kind) {
        case 'deploy':
          return {
            routes: [spec('stable', 100)],
            mirror: null,
            sticky,
            lastGood: { model: target.model, version: target.version },
            analysis: null,
          };
        case 'ab': {
          const routes = [spec('stable', 100 - percent)];
          for (const arm of arms) {
            const b = await this.deps.resolve(arm.model, arm.ref);
            const twin = routes.find((r) => label(r) === label(b));
            if (twin !== undefined)
              throw new MobiusError(
                'INVALID_ARGUMENT',
                twin.role === 'stable'
                  ? `A and B are both ${label(b)}`
                  : `two B arms are both ${label(b)}`,
              );
            routes.push(spec('candidate', arm.percent, arm.ref, b));
          }
          return {
            routes,
            mirror: null,
            sticky,
            lastGood: current?.lastGood ?? null,
            analysis,
          };
        }
        case 'canary':
        case 'shadow': {
          const stable = current?.routes.find((r) => r.role === 'stable');
          if (current === undefined || stable === undefined)
            throw new MobiusError(
              'NOT_FOUND',
              `no deployment named '${input.name}' to ${kind} against; deploy a first version without --${kind}`,
            );
          if (kind === 'canary') {
            if (label(stable) === label(target))
              throw new MobiusError(
                'INVALID_ARGUMENT',
                `${label(target)} is already the stable version of '${input.name}'`,
              );
            return {
              routes: [{ ...stable, weight: 100 - percent }, spec('candidate', percent)],
              mirror: null,
              sticky,
              lastGood: current.lastGood,
              analysis,
            };
          }
          return {
            routes: current.routes,
            mirror: { model: target.model, version: target.version, ref, percent },
            sticky,
            lastGood: current.lastGood,
            analysis: current.analysis,
          };
        }
      }
    });
  }

  /**
   * Makes the candidate (canary, B arm or shadow) the only route and the last-good version.
   * With several B arms, `to` (`model@version` or `model@alias`) says which one.
   */
  async promote(
    name: string,
    actor: string,
    reason?: string,
    to?: string,
  ): Promise<DeploymentState> {
    return this.promoteAs('promote', name, actor, reason, to);
  }

  private async promoteAs(
    kind: string,
    name: string,
    actor: string,
    reason?: string,
    to?: string,
  ): Promise<DeploymentState> {
    const wanted = to === undefined ? undefined : parseModelRef(to, 'to');
    return this.change(name, kind, actor, reason, async (current) => {
      const state = this.require(name, current);
      const candidates: { model: string; version: number; ref: string }[] = [
        ...state.routes.filter((r) => r.role === 'candidate'),
        ...(state.mirror === null ? [] : [state.mirror]),
      ];
      if (candidates.length === 0)
        throw new MobiusError(
          'CONFLICT',
          `'${name}' has no canary, A/B arm or shadow to promote; it serves ${state.routes.map(label).join(', ')}`,
        );
      if (wanted === undefined) {
        // A canary or B arm before a mirror, as before several arms existed.
        const routes = candidates.length - (state.mirror === null ? 0 : 1);
        if (routes > 1)
          throw new MobiusError(
            'CONFLICT',
            `'${name}' has ${routes} B arms (${candidates.map(label).join(', ')}); say which to promote with --to <model>@<version>`,
          );
        return this.only(state, candidates[0]!);
      }
      const target = await this.deps.resolve(wanted.model, wanted.ref);
      const candidate = candidates.find((c) => label(c) === label(target));
      if (candidate === undefined)
        throw new MobiusError(
          'CONFLICT',
          `${label(target)} is not a candidate of '${name}'; its candidates are ${candidates.map(label).join(', ')}`,
        );
      return this.only(state, candidate);
    });
  }

  /** Sends all traffic back to the last-good version and drops candidates and the mirror. */
  async rollback(name: string, actor: string, reason?: string): Promise<DeploymentState> {
    return this.rollbackAs('rollback', name, actor, reason);
  }

  private async rollbackAs(
    kind: string,
    name: string,
    actor: string,
    reason?: string,
  ): Promise<DeploymentState> {
    return this.change(name, kind, actor, reason, async (current) => {
      const state = this.require(name, current);
      if (state.lastGood === null)
        throw new MobiusError(
          'CONFLICT',
          `'${name}' has no last-good version to roll back to (nothing was fully rolled out yet)`,
        );
      const ref = String(state.lastGood.version);
      return this.only(state, { ...state.lastGood, ref });
    });
  }

  private only(
    state: DeploymentState,
    target: { model: string; version: number; ref: string },
  ): Next {
    return {
      routes: [
        {
          model: target.model,
          version: target.version,
          ref: target.ref,
          weight: 100,
          role: 'stable',
        },
      ],
      mirror: null,
      sticky: state.sticky,
      lastGood: { model: target.model, version: target.version },
      analysis: null,
    };
  }

  private require(name: string, current: DeploymentState | undefined): DeploymentState {
    if (current === undefined) throw this.notFound(name);
    return current;
  }

  private notFound(name: string): MobiusError {
    return new MobiusError(
      'NOT_FOUND',
      `no deployment named '${name.slice(0, 200)}'; 'mobius deployments ls' lists them`,
    );
  }

  /**
   * Computes a change from the stored row, loads its models, writes the row and the event
   * over the revision it read, then serves it.
   */
  private async change(
    name: string,
    kind: string,
    actor: string,
    reason: string | undefined,
    compute: (current: DeploymentState | undefined) => Promise<Next>,
  ): Promise<DeploymentState> {
    if (!limits.DEPLOYMENT_NAME_PATTERN.test(name))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `deployment name '${name.slice(0, 200)}' is not allowed: use letters, digits, '_', '.', '-' (up to 128, starting with a letter or digit)`,
      );
    checkReason(reason);
    return this.exclusive(async () => {
      // A deleted deployment is computed from nothing (a canary against it is refused), but
      // its row is reused: the revision continues, so servers see the change, and so does
      // the history.
      const stored = await this.stored(name);
      const current = stored?.deletedAt === null ? stored.state : undefined;
      const next = await compute(current);
      const now = this.deps.clock.now();
      const state: DeploymentState = {
        name,
        ...next,
        // Every change starts the candidate's analysis window afresh, as it does the live
        // counters the analysis reads (apply() gives each route new ones).
        candidateSince: next.routes.some((r) => r.role === 'candidate') ? now : null,
        revision: (stored?.state.revision ?? 0) + 1,
        createdAt: current?.createdAt ?? now,
        updatedAt: now,
      };
      const plan = await this.plan(state);
      await this.deps.serving.apply(name, plan, async () => {
        await this.write(state, stored?.state.revision, { kind, actor, reason });
      });
      this.served.set(name, state.revision);
      return state;
    });
  }

  /** Resolves the stored versions to model files. */
  private async plan(state: DeploymentState): Promise<DeploymentPlan> {
    const route = async (m: {
      model: string;
      version: number;
    }): Promise<Omit<RoutePlan, 'weight'>> => {
      const resolved = await this.deps.resolve(m.model, String(m.version));
      return {
        model: m.model,
        version: m.version,
        source: resolved.source,
        options: resolved.options,
      };
    };
    const routes: RoutePlan[] = [];
    for (const r of state.routes) routes.push({ ...(await route(r)), weight: r.weight });
    const plan: DeploymentPlan = { routes };
    if (state.mirror !== null)
      plan.mirror = { ...(await route(state.mirror)), percent: state.mirror.percent };
    if (state.sticky !== null) plan.sticky = state.sticky;
    return plan;
  }

  private async write(
    state: DeploymentState,
    expected: number | undefined,
    event: { kind: string; actor: string; reason: string | undefined },
  ): Promise<void> {
    const values = {
      routes: JSON.stringify(state.routes),
      mirror: state.mirror === null ? null : JSON.stringify(state.mirror),
      sticky: state.sticky,
      last_good_model: state.lastGood?.model ?? null,
      last_good_version: state.lastGood?.version ?? null,
      analysis: state.analysis === null ? null : JSON.stringify(state.analysis),
      candidate_since: state.candidateSince,
      revision: state.revision,
      created_at: state.createdAt,
      updated_at: state.updatedAt,
      deleted_at: null,
    };
    await this.deps.store.write(async (trx) => {
      if (expected === undefined) {
        const taken = await trx
          .selectFrom('deployment')
          .select('name')
          .where('name', '=', state.name)
          .executeTakeFirst();
        if (taken !== undefined) throw this.raced(state.name);
        await trx
          .insertInto('deployment')
          .values({ name: state.name, ...values })
          .execute();
      } else {
        const result = await trx
          .updateTable('deployment')
          .set(values)
          .where('name', '=', state.name)
          .where('revision', '=', expected)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) !== 1) throw this.raced(state.name);
      }
      await trx.insertInto('deployment_event').values(this.event(state, event)).execute();
    });
  }

  /** The `deployment_event` row of a change: who, why, and the routes it set (or left). */
  private event(
    state: DeploymentState,
    event: { kind: string; actor: string; reason: string | undefined },
  ) {
    return {
      deployment: state.name,
      revision: state.revision,
      at: state.updatedAt,
      kind: event.kind,
      actor: event.actor,
      reason: event.reason ?? null,
      detail: JSON.stringify({
        routes: state.routes,
        mirror: state.mirror,
        lastGood: state.lastGood,
        ...(state.sticky === null ? {} : { sticky: state.sticky }),
      }),
    };
  }

  private raced(name: string): MobiusError {
    return new MobiusError(
      'CONFLICT',
      `deployment '${name}' was changed by someone else meanwhile; look at 'mobius deployments show ${name}' and try again`,
    );
  }

  /**
   * Deletes `name`: this process stops serving it at once (requests in flight finish), other
   * servers on their next sync; its event history (with a `deleted` event naming who and
   * why) and its logged predictions are kept. Deploying the name again starts it afresh
   * with its history continuing. NOT_FOUND when there is no such (undeleted) deployment.
   *
   * @example
   * await ctx.deployments.remove('churn', 'alice', 'replaced by churn-v2');
   */
  async remove(name: string, actor: string, reason?: string): Promise<DeletedDeployment> {
    checkReason(reason);
    return this.exclusive(async () => {
      const stored = await this.stored(name);
      if (stored === undefined || stored.deletedAt !== null) throw this.notFound(name);
      const now = this.deps.clock.now();
      const state: DeletedDeployment = {
        ...stored.state,
        candidateSince: null,
        revision: stored.state.revision + 1,
        updatedAt: now,
        deletedAt: now,
      };
      await this.deps.store.write(async (trx) => {
        const result = await trx
          .updateTable('deployment')
          .set({
            deleted_at: now,
            candidate_since: null,
            revision: state.revision,
            updated_at: now,
          })
          .where('name', '=', name)
          .where('revision', '=', stored.state.revision)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) !== 1) throw this.raced(name);
        await trx
          .insertInto('deployment_event')
          .values(this.event(state, { kind: 'deleted', actor, reason }))
          .execute();
      });
      // After the commit: a failed write leaves it serving, as every refused change does.
      await this.stopServing(name);
      return state;
    });
  }

  /** Stops serving a registry-backed deployment here (deleted, or its row is gone). */
  private async stopServing(name: string): Promise<void> {
    this.served.delete(name);
    this.failed.delete(name);
    await this.deps.serving.undeploy(name);
  }

  /** Writes the buffered prediction records now (tests, shutdown, before reading the log). */
  async flushPredictions(): Promise<void> {
    await this.deps.log.flush();
  }

  /** Prediction records of `name` dropped by this process's log buffer. */
  dropped(name: string): number {
    return this.deps.log.dropped(name);
  }

  /** The stored deployment `name`, or undefined (also when it was deleted). */
  async get(name: string): Promise<DeploymentState | undefined> {
    const stored = await this.stored(name);
    return stored?.deletedAt === null ? stored.state : undefined;
  }

  /** The row of `name`, deleted or not. */
  private async stored(name: string): Promise<Stored | undefined> {
    const row = await this.deps.store.db
      .selectFrom('deployment')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row === undefined ? undefined : toStored(row);
  }

  /** Every stored deployment (not deleted ones), by name. */
  async list(): Promise<DeploymentState[]> {
    const rows = await this.deps.store.db
      .selectFrom('deployment')
      .selectAll()
      .where('deleted_at', 'is', null)
      .orderBy('name')
      .execute();
    return rows.map(toState);
  }

  /**
   * A deployment with its recent events, live counters and dropped predictions. A deleted
   * one is shown too (with `deletedAt`), so its history stays readable.
   */
  async show(
    name: string,
    events: number = limits.DEPLOYMENT_EVENTS_SHOWN,
  ): Promise<DeploymentView> {
    const stored = await this.stored(name);
    if (stored === undefined) throw this.notFound(name);
    const { state, deletedAt } = stored;
    const rows = await this.deps.store.db
      .selectFrom('deployment_event')
      .selectAll()
      .where('deployment', '=', name)
      .orderBy('seq', 'desc')
      .limit(events)
      .execute();
    const { serving, log } = this.deps;
    return {
      ...state,
      deletedAt,
      live: deletedAt === null && serving.has(name) ? serving.routes(name) : null,
      droppedPredictions: log.dropped(name),
      events: rows.map((r) => ({
        seq: Number(r.seq),
        revision: Number(r.revision),
        at: Number(r.at),
        kind: r.kind,
        actor: r.actor,
        reason: r.reason,
        detail: JSON.parse(r.detail) as unknown,
      })),
    };
  }

  /**
   * Attaches ground truth to the predictions of `requestId` (the primary's and a shadow's).
   * Buffered predictions are written first, so feedback right after the answer finds it.
   */
  async feedback(
    name: string,
    requestId: unknown,
    groundTruth: unknown,
  ): Promise<{ updated: number }> {
    if (
      typeof requestId !== 'string' ||
      requestId === '' ||
      requestId.length > limits.MAX_REQUEST_ID_LENGTH
    )
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `request_id must be the id an answer returned (a string of 1..${limits.MAX_REQUEST_ID_LENGTH} characters)`,
      );
    if (groundTruth === undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        'ground_truth is missing: send the true label or value',
      );
    // A deleted deployment's predictions still take feedback: ground truth often arrives
    // days later, and the log is kept for exactly that.
    if ((await this.stored(name)) === undefined && !this.deps.serving.has(name))
      throw this.notFound(name);
    await this.deps.log.flush();
    const result = await this.deps.store.write((trx) =>
      trx
        .updateTable('prediction_log')
        .set({ ground_truth: JSON.stringify(groundTruth), feedback_at: this.deps.clock.now() })
        .where('deployment', '=', name)
        .where('request_id', '=', requestId)
        .executeTakeFirst(),
    );
    const updated = Number(result.numUpdatedRows);
    if (updated === 0)
      throw new MobiusError(
        'NOT_FOUND',
        `deployment '${name}' has no logged prediction with request id '${requestId.slice(0, 200)}' (use the id the answer returned)`,
      );
    return { updated };
  }

  /**
   * Serves every stored deployment whose revision this process does not serve yet. A
   * deployment that fails to load is logged and left as it was (the previous routes keep
   * serving); it is retried only when its row changes again.
   */
  async sync(): Promise<void> {
    while (this.syncing !== undefined) await this.syncing;
    this.syncing = this.exclusive(() => this.syncOnce());
    try {
      await this.syncing;
    } finally {
      this.syncing = undefined;
    }
    // Outside the queue: a verdict promotes or rolls back, which is a change of its own.
    await this.analyzeAll();
  }

  private async syncOnce(): Promise<void> {
    const rows = await this.deps.store.db
      .selectFrom('deployment')
      .selectAll()
      .orderBy('name')
      .execute();
    const stored = rows.map(toStored);
    // Deployments this process serves from the table that were deleted (or whose row is
    // gone) stop here; in-process `serving.deploy` names are not this service's to stop.
    const existing = new Set(stored.filter((s) => s.deletedAt === null).map((s) => s.state.name));
    for (const name of [...this.served.keys()])
      if (!existing.has(name)) await this.stopServing(name);
    for (const { state, deletedAt } of stored) {
      if (deletedAt !== null) continue;
      if (this.served.get(state.name) === state.revision) continue;
      if (this.failed.get(state.name) === state.revision) continue;
      try {
        await this.deps.serving.apply(state.name, await this.plan(state));
        this.served.set(state.name, state.revision);
        this.failed.delete(state.name);
      } catch (error) {
        this.failed.set(state.name, state.revision);
        this.deps.logger.error(
          { err: error, deployment: state.name, revision: state.revision },
          `deployment '${state.name}' (revision ${state.revision}) did not load; it keeps serving what it served before`,
        );
      }
    }
  }

  /** Syncs now and then every `intervalMs` (what `mobius server` does). */
  async start(intervalMs: number = limits.DEPLOYMENT_SYNC_MS): Promise<void> {
    await this.sync();
    this.timer = setInterval(() => {
      this.sync().catch((error: unknown) =>
        this.deps.logger.error({ err: error }, 'deployment sync failed; retrying on the next tick'),
      );
    }, intervalMs);
    this.timer.unref();
    const days = this.deps.predictionRetentionDays;
    if (days !== undefined) {
      const prune = () => {
        this.pruned ??= this.prunePredictions(days).finally(() => (this.pruned = undefined));
      };
      prune();
      this.pruning = setInterval(prune, limits.PREDICTION_LOG_PRUNE_MS);
      this.pruning.unref();
    }
  }

  /** Deletes prediction records older than `days` days; failures are logged, not thrown. */
  async prunePredictions(days: number): Promise<number> {
    try {
      const deleted = await this.deps.log.prune(this.deps.clock.now() - days * 86_400_000);
      if (deleted > 0)
        this.deps.logger.info({ deleted, days }, 'prediction log: deleted records past retention');
      return deleted;
    } catch (error) {
      this.deps.logger.error({ err: error }, 'prediction log: pruning failed; retrying later');
      return 0;
    }
  }

  /** Stops syncing and writes the buffered predictions. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.pruning !== undefined) clearInterval(this.pruning);
    this.timer = undefined;
    this.pruning = undefined;
    await this.pruned;
    while (this.syncing !== undefined) await this.syncing;
    await this.deps.log.close();
  }

  /** Judges every deployment with automatic analysis that this process serves. */
  async analyzeAll(): Promise<void> {
    for (const name of this.served.keys()) {
      try {
        await this.analyze(name);
      } catch (error) {
        this.deps.logger.error({ err: error, deployment: name }, 'canary analysis failed');
      }
    }
  }

  /**
   * Automatic canary analysis: once the candidate has answered `minRequests` requests (or
   * `windowMs` passed since it started with at least one), compare its error rate and
   * latency p95 with the stable route's, as this process measured them, and promote it or
   * roll back, recording the figures as the reason. Returns what it decided.
   */
  async analyze(name: string): Promise<'promote' | 'rollback' | 'wait' | 'none'> {
    const state = await this.get(name);
    if (state?.analysis == null || !this.deps.serving.has(name)) return 'none';
    if (this.served.get(name) !== state.revision) return 'wait';
    const spec = state.analysis;
    const live = this.deps.serving.routes(name).routes;
    const index = state.routes.findIndex((r) => r.role === 'candidate');
    const stableIndex = state.routes.findIndex((r) => r.role === 'stable');
    const candidate = live[index];
    const stable = live[stableIndex];
    if (candidate === undefined || stable === undefined) return 'none';
    const n = candidate.stats.requests;
    const elapsed = this.deps.clock.now() - (state.candidateSince ?? state.updatedAt);
    if (n < spec.minRequests && !(elapsed >= spec.windowMs && n > 0)) return 'wait';
    const rate = (s: LiveRouteInfo['stats']) => (s.requests === 0 ? 0 : s.errors / s.requests);
    const cRate = rate(candidate.stats);
    const sRate = rate(stable.stats);
    const cP95 = quantile(candidate.stats.latencies, 0.95);
    const sP95 = quantile(stable.stats.latencies, 0.95);
    // Predictions are compared once both routes answered enough rows to have a shape.
    const shift =
      candidate.stats.predictions.length >= 20 && stable.stats.predictions.length >= 20
        ? ksDistance(candidate.stats.predictions, stable.stats.predictions)
        : undefined;
    const figures =
      `candidate ${label(state.routes[index]!)}: ${n} requests, error rate ${(cRate * 100).toFixed(2)}%, p95 ${cP95.toFixed(2)} ms; ` +
      `stable ${label(state.routes[stableIndex]!)}: ${stable.stats.requests} requests, error rate ${(sRate * 100).toFixed(2)}%, p95 ${sP95.toFixed(2)} ms` +
      (shift === undefined ? '' : `; prediction shift KS D ${shift.toFixed(3)}`);
    const why: string[] = [];
    if (cRate - sRate > spec.maxErrorRateIncrease)
      why.push(
        `error rate exceeds stable's by more than ${(spec.maxErrorRateIncrease * 100).toFixed(2)} points`,
      );
    // Latency is compared only with enough stable samples to have a p95, and with a floor of
    // 1 ms so sub-millisecond jitter on tiny models does not roll back a healthy candidate.
    if (stable.stats.latencies.length >= 20 && cP95 > Math.max(sP95, 1) * spec.maxLatencyRatio)
      why.push(`latency p95 exceeds ${spec.maxLatencyRatio}× stable's`);
    if (
      spec.maxPredictionShift !== undefined &&
      shift !== undefined &&
      shift > spec.maxPredictionShift
    )
      why.push(`predictions shifted from stable's by more than KS D ${spec.maxPredictionShift}`);
    if (why.length > 0) {
      await this.rollbackAs(
        'auto-rollback',
        name,
        'canary-analysis',
        `automatic rollback: ${why.join('; ')} (${figures})`,
      );
      return 'rollback';
    }
    await this.promoteAs(
      'auto-promote',
      name,
      'canary-analysis',
      `automatic promotion: within limits (${figures})`,
    );
    return 'promote';
  }
}
