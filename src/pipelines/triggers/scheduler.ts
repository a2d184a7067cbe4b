/**
 * The scheduler: decides when registered pipelines run — on cron boundaries and when the
 * datasets a trigger declares get new versions — and starts them through an injected
 * `launch`. Driven by `tick(now)`, so tests move an injected clock instead of waiting;
 * `start()` ticks on a real timer for `mobius server`.
 *
 * Everything it knows is in the store, not in memory (migration 017):
 *   - a schedule's `next_fire_at` is advanced in the same transaction that records the
 *     fire (unique per pipeline and boundary), so a restart neither repeats nor skips one;
 *   - a trigger compares each dataset's newest version number with the version the last
 *     triggered run consumed, so versions added while the scheduler was down or the
 *     pipeline paused are seen on the next tick — there is no event to lose;
 *   - a fire is `pending` until launched; one claimed but not launched within
 *     FIRE_LAUNCH_LEASE_MS (its process died) is launched again. So a decided run starts
 *     at least once; a crash in the instant between starting a run and recording it can
 *     start it twice (cheap: unchanged steps are cache hits), never zero times.
 */
import { MobiusError, limits, newId, type Clock, type Logger } from '../../core/index.js';
import type { Database, Kysely, Store } from '../../store/index.js';
import type { PipelineDefinition } from '../definition.js';
import type { RunPipelineOptions } from '../pipeline-runner.js';
import { nextCronTime, parseCron, previousCronTime, type CronExpression } from './cron.js';
import type { CatchupPolicy, DatasetTrigger, TriggerWhen } from './trigger-spec.js';

/** Why a pipeline run started. */
export type FireReason =
  | { trigger: 'schedule'; cron: string; scheduledFor: number }
  | { trigger: 'dataset'; datasets: Record<string, number> }
  | { trigger: 'manual' };

/** Tags on a triggered run's tracking run. */
export const TRIGGER_TAG = 'mobius.trigger';
export const TRIGGER_FIRE_TAG = 'mobius.trigger.fireId';
export const TRIGGER_SCHEDULED_FOR_TAG = 'mobius.trigger.scheduledFor';
export const TRIGGER_CRON_TAG = 'mobius.trigger.cron';
export const TRIGGER_DATASETS_TAG = 'mobius.trigger.datasets';

/** Run options a registration carries to each launch (where paths resolve, the base env, …). */
export type LaunchRunOptions = Omit<RunPipelineOptions, 'signal' | 'tags' | 'onStarted'>;

/** What `launch` is asked to start. */
export interface LaunchRequest {
  pipeline: PipelineDefinition;
  fireId: string;
  reason: FireReason;
  /** Tags for the pipeline run's tracking run: why it started. */
  tags: Record<string, string>;
  runOptions: LaunchRunOptions;
}

/** Starts a pipeline run and resolves with its id once it is recorded (not when it ends). */
export type Launch = (request: LaunchRequest) => Promise<string>;

export interface SchedulerDeps {
  store: Store;
  clock: Clock;
  launch: Launch;
  logger?: Logger;
}

/** What `register` found: problems worth a warning, not an error. */
export interface Registration {
  pipeline: string;
  warnings: string[];
}

/** One fire as `tick` and `trigger` report it. */
export interface Fire {
  id: string;
  pipeline: string;
  reason: FireReason;
  status: 'launched' | 'failed';
  pipelineRunId: string | null;
  error: string | null;
}

/** What `schedules ls` shows for one pipeline. */
export interface ScheduleStatus {
  pipeline: string;
  paused: boolean;
  pausedAt: number | null;
  schedules: {
    cron: string;
    catchup: CatchupPolicy;
    nextFireAt: number;
    lastFiredAt: number | null;
  }[];
  trigger: {
    datasets: string[];
    when: TriggerWhen;
    coalesceMs: number;
    maxWaitMs: number;
    /** Per dataset: the version the last triggered run consumed, and the newest (null: no such dataset yet). */
    state: { dataset: string; consumedVersion: number; newestVersion: number | null }[];
  } | null;
  lastFire: {
    id: string;
    trigger: FireReason['trigger'];
    scheduledFor: number;
    status: string;
    pipelineRunId: string | null;
    error: string | null;
    createdAt: number;
  } | null;
  /** Fires decided but not yet launched. */
  pendingFires: number;
}

interface Registered {
  definition: PipelineDefinition;
  runOptions: LaunchRunOptions;
}

/** Rolls a write back when another scheduler got there first. */
class LostRace extends Error {}

/** Decides when registered pipelines run and starts them. */
export class Scheduler {
  readonly #deps: SchedulerDeps;
  readonly #registered = new Map<string, Registered>();
  readonly #crons = new Map<string, CronExpression>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = true;

  constructor(deps: SchedulerDeps) {
    this.#deps = deps;
  }

  /**
   * Registers a pipeline (again, after a restart: its state is kept). New schedules fire
   * from the first boundary after now; a new trigger starts from each dataset's newest
   * version now (registering does not run the pipeline on data it already had). A trigger
   * on a dataset that has no version yet is a warning: its producer may not have run yet.
   *
   * @example
   * await ctx.scheduler.register(nightly, { run: { baseDir: projectDir, env: baseEnv } });
   */
  async register(
    definition: PipelineDefinition,
    options: { run?: LaunchRunOptions } = {},
  ): Promise<Registration> {
    const { store, clock } = this.#deps;
    const now = clock.now();
    const name = definition.name;
    const schedules = definition.schedules ?? [];
    const trigger = definition.trigger;
    for (const s of schedules) this.#cron(s.cron);
    const newest =
      trigger === undefined
        ? new Map<string, { version: number; createdAt: number }>()
        : await this.#newestVersions(trigger.datasets);
    const warnings =
      trigger === undefined
        ? []
        : trigger.datasets
            .filter((d) => !newest.has(d))
            .map(
              (d) =>
                `pipeline '${name}': trigger dataset '${d}' has no versions yet; the pipeline runs once it gets one (check the name if it should exist)`,
            );
    await store.write(async (trx) => {
      await trx
        .insertInto('scheduled_pipeline')
        .values({
          pipeline: name,
          paused_at: null,
          trigger: trigger === undefined ? null : JSON.stringify(trigger),
          registered_at: now,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc.column('pipeline').doUpdateSet({
            trigger: trigger === undefined ? null : JSON.stringify(trigger),
            updated_at: now,
          }),
        )
        .execute();
      const existing = await trx
        .selectFrom('pipeline_schedule')
        .select(['cron'])
        .where('pipeline', '=', name)
        .execute();
      const keep = new Set(schedules.map((s) => s.cron));
      const gone = existing.map((r) => r.cron).filter((c) => !keep.has(c));
      if (gone.length > 0)
        await trx
          .deleteFrom('pipeline_schedule')
          .where('pipeline', '=', name)
          .where('cron', 'in', gone)
          .execute();
      for (const s of schedules) {
        if (existing.some((r) => r.cron === s.cron)) {
          await trx
            .updateTable('pipeline_schedule')
            .set({ catchup: s.catchup })
            .where('pipeline', '=', name)
            .where('cron', '=', s.cron)
            .execute();
        } else {
          await trx
            .insertInto('pipeline_schedule')
            .values({
              pipeline: name,
              cron: s.cron,
              catchup: s.catchup,
              next_fire_at: nextCronTime(this.#cron(s.cron), now),
              last_fired_at: null,
            })
            // Two servers registering at once: the first row stands.
            .onConflict((oc) => oc.columns(['pipeline', 'cron']).doNothing())
            .execute();
        }
      }
      const declared = trigger?.datasets ?? [];
      let stale = trx.deleteFrom('pipeline_trigger_state').where('pipeline', '=', name);
      if (declared.length > 0) stale = stale.where('dataset', 'not in', declared);
      await stale.execute();
      for (const d of declared)
        await trx
          .insertInto('pipeline_trigger_state')
          .values({ pipeline: name, dataset: d, consumed_version: newest.get(d)?.version ?? 0 })
          .onConflict((oc) => oc.columns(['pipeline', 'dataset']).doNothing())
          .execute();
    });
    this.#registered.set(name, { definition, runOptions: options.run ?? {} });
    for (const w of warnings) this.#deps.logger?.warn(w);
    return { pipeline: name, warnings };
  }

  /**
   * Decides what is due at `now` and launches it: due cron boundaries (per the schedule's
   * catch-up policy), ready dataset triggers, and fires an earlier scheduler decided but
   * did not launch. Paused pipelines are left alone (their due work waits as state).
   *
   * @example
   * clock.advance(15 * 60_000); const fires = await scheduler.tick();
   */
  async tick(now: number = this.#deps.clock.now()): Promise<Fire[]> {
    const names = [...this.#registered.keys()];
    if (names.length === 0) return [];
    const paused = new Set(
      (
        await this.#deps.store.db
          .selectFrom('scheduled_pipeline')
          .select(['pipeline'])
          .where('pipeline', 'in', names)
          .where('paused', '=', 1)
          .execute()
      ).map((r) => r.pipeline),
    );
    for (const name of names) {
      if (paused.has(name)) continue;
      const { definition } = this.#registered.get(name)!;
      try {
        if ((definition.schedules ?? []).length > 0) await this.#decideSchedules(name, now);
        if (definition.trigger !== undefined)
          await this.#decideTrigger(name, definition.trigger, now);
      } catch (error) {
        this.#deps.logger?.error(
          { err: error, pipeline: name },
          `scheduler: could not decide pipeline '${name}'`,
        );
      }
    }
    return this.#launchPending(names, now);
  }

  /**
   * Starts a registered pipeline now, recorded as a manual fire
   * (`POST /api/v1/schedules/:pipeline/run`). It does not consume trigger versions: a
   * dataset trigger still fires for versions the manual run happened to read.
   */
  async trigger(name: string): Promise<Fire> {
    this.#get(name);
    const now = this.#deps.clock.now();
    const id = newId();
    await this.#deps.store.write((trx) =>
      trx
        .insertInto('pipeline_fire')
        .values(fireRow(id, name, `manual:${id}`, { trigger: 'manual' }, now, now))
        .execute(),
    );
    const fires = await this.#launchPending([name], now, id);
    return fires[0]!;
  }

  /** Pauses a pipeline: no fires while paused; what comes due waits as state. */
  async pause(name: string): Promise<ScheduleStatus> {
    const now = this.#deps.clock.now();
    await this.#deps.store.write(async (trx) => {
      await this.#mustExist(trx, name);
      await trx
        .updateTable('scheduled_pipeline')
        .set({ paused: 1, paused_at: now, updated_at: now })
        .where('pipeline', '=', name)
        .where('paused', '=', 0)
        .execute();
    });
    return this.#status(name);
  }

  /**
   * Resumes a pipeline. Whatever came due while paused becomes exactly one run: each
   * schedule's missed boundaries collapse into the latest one (whatever its catch-up
   * policy: a pause is a decision, not an outage), and a trigger consumes the newest
   * versions in one run.
   */
  async resume(name: string): Promise<ScheduleStatus> {
    const now = this.#deps.clock.now();
    await this.#deps.store.write(async (trx) => {
      await this.#mustExist(trx, name);
      await trx
        .updateTable('scheduled_pipeline')
        .set({ paused: 0, paused_at: null, updated_at: now })
        .where('pipeline', '=', name)
        .execute();
      const due = await trx
        .selectFrom('pipeline_schedule')
        .select(['cron', 'next_fire_at'])
        .where('pipeline', '=', name)
        .where('next_fire_at', '<=', now)
        .execute();
      for (const s of due) {
        const latest = previousCronTime(this.#cron(s.cron), now, Number(s.next_fire_at));
        if (latest !== undefined)
          await trx
            .updateTable('pipeline_schedule')
            .set({ next_fire_at: latest })
            .where('pipeline', '=', name)
            .where('cron', '=', s.cron)
            .execute();
      }
    });
    return this.#status(name);
  }

  /** Every pipeline the scheduler has registered (in any process on this store), by name. */
  async list(): Promise<ScheduleStatus[]> {
    const rows = await this.#deps.store.db
      .selectFrom('scheduled_pipeline')
      .select(['pipeline'])
      .orderBy('pipeline')
      .execute();
    const out: ScheduleStatus[] = [];
    for (const r of rows) out.push(await this.#status(r.pipeline));
    return out;
  }

  /**
   * Ticks every `intervalMs` on a real timer until `stop()`; a tick never overlaps the
   * previous one, and a failed tick is logged and the next one runs.
   */
  start(intervalMs: number = limits.SCHEDULER_TICK_MS): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    const loop = (): void => {
      if (this.#stopped) return;
      this.#running = this.tick()
        .catch((error: unknown) =>
          this.#deps.logger?.error({ err: error }, 'scheduler: tick failed'),
        )
        .finally(() => {
          this.#running = undefined;
          if (!this.#stopped) this.#timer = setTimeout(loop, intervalMs);
        });
    };
    loop();
  }

  /** Stops the timer and waits for a tick in progress (runs it launched keep running). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Records the due boundaries of each schedule of `name`, advancing `next_fire_at` with them. */
  async #decideSchedules(name: string, now: number): Promise<void> {
    const { store, logger } = this.#deps;
    const due = await store.db
      .selectFrom('pipeline_schedule')
      .selectAll()
      .where('pipeline', '=', name)
      .where('next_fire_at', '<=', now)
      .execute();
    for (const s of due) {
      const expr = this.#cron(s.cron);
      const from = Number(s.next_fire_at);
      let boundaries: number[];
      if (s.catchup === 'all') {
        // Walk back from now, so a long outage costs at most MAX + 1 steps, not one per boundary.
        const newestFirst: number[] = [];
        for (
          let b = previousCronTime(expr, now, from);
          b !== undefined && newestFirst.length <= limits.MAX_SCHEDULE_CATCHUP_FIRES;
          b = previousCronTime(expr, b - 1, from)
        )
          newestFirst.push(b);
        if (newestFirst.length > limits.MAX_SCHEDULE_CATCHUP_FIRES) {
          newestFirst.length = limits.MAX_SCHEDULE_CATCHUP_FIRES;
          logger?.warn(
            `scheduler: pipeline '${name}' schedule '${s.cron}' missed more than ${limits.MAX_SCHEDULE_CATCHUP_FIRES} boundaries since ${new Date(from).toISOString()}; running the newest ${limits.MAX_SCHEDULE_CATCHUP_FIRES} only`,
          );
        }
        boundaries = newestFirst.reverse();
      } else {
        boundaries = [previousCronTime(expr, now, from) ?? from];
      }
      const next = nextCronTime(expr, now);
      await store.write(async (trx) => {
        const moved = await trx
          .updateTable('pipeline_schedule')
          .set({ next_fire_at: next, last_fired_at: boundaries.at(-1)! })
          .where('pipeline', '=', name)
          .where('cron', '=', s.cron)
          .where('next_fire_at', '=', from)
          .executeTakeFirst();
        // Another scheduler on this store advanced it first: its fires stand.
        if (Number(moved.numUpdatedRows) !== 1) return;
        await trx
          .insertInto('pipeline_fire')
          .values(
            boundaries.map((b) =>
              fireRow(
                newId(),
                name,
                `schedule:${s.cron}@${b}`,
                { trigger: 'schedule', cron: s.cron, scheduledFor: b },
                b,
                now,
              ),
            ),
          )
          .onConflict((oc) => oc.columns(['pipeline', 'fire_key']).doNothing())
          .execute();
      });
    }
  }

  /** Records a dataset fire when the readiness rule holds and the burst has settled. */
  async #decideTrigger(name: string, trigger: DatasetTrigger, now: number): Promise<void> {
    const { store } = this.#deps;
    const newest = await this.#newestVersions(trigger.datasets);
    const consumed = new Map(
      (
        await store.db
          .selectFrom('pipeline_trigger_state')
          .select(['dataset', 'consumed_version'])
          .where('pipeline', '=', name)
          .execute()
      ).map((r) => [r.dataset, Number(r.consumed_version)]),
    );
    const fresh = trigger.datasets.filter(
      (d) => (newest.get(d)?.version ?? 0) > (consumed.get(d) ?? 0),
    );
    const ready =
      trigger.when === 'all' ? fresh.length === trigger.datasets.length : fresh.length > 0;
    if (!ready) return;
    // Coalescing: wait until no new version has arrived for coalesceMs…
    let readyAt = Math.max(...fresh.map((d) => newest.get(d)!.createdAt)) + trigger.coalesceMs;
    if (now < readyAt) {
      // …but at most maxWaitMs after the trigger became ready (the first new version of the
      // dataset that made it ready), or a dataset changing every few seconds never runs.
      const firsts: number[] = [];
      for (const d of fresh) firsts.push(await this.#versionTime(d, (consumed.get(d) ?? 0) + 1));
      const becameReady = trigger.when === 'all' ? Math.max(...firsts) : Math.min(...firsts);
      readyAt = becameReady + trigger.maxWaitMs;
      if (now < readyAt) return;
    }
    const versions: Record<string, number> = {};
    for (const d of trigger.datasets) versions[d] = newest.get(d)?.version ?? 0;
    const key = `dataset:${Object.entries(versions)
      .map(([d, v]) => `${d}@${v}`)
      .join(',')}`;
    try {
      await store.write(async (trx) => {
        for (const d of trigger.datasets) {
          const updated = await trx
            .updateTable('pipeline_trigger_state')
            .set({ consumed_version: versions[d]! })
            .where('pipeline', '=', name)
            .where('dataset', '=', d)
            .where('consumed_version', '=', consumed.get(d) ?? 0)
            .executeTakeFirst();
          if (Number(updated.numUpdatedRows) !== 1) throw new LostRace();
        }
        await trx
          .insertInto('pipeline_fire')
          .values(
            fireRow(newId(), name, key, { trigger: 'dataset', datasets: versions }, readyAt, now),
          )
          .onConflict((oc) => oc.columns(['pipeline', 'fire_key']).doNothing())
          .execute();
      });
    } catch (error) {
      if (!(error instanceof LostRace)) throw error;
    }
  }

  /** Claims and launches the pending fires of `names` (or the one fire `only`), oldest first. */
  async #launchPending(names: string[], now: number, only?: string): Promise<Fire[]> {
    const { store, logger } = this.#deps;
    const staleBefore = now - limits.FIRE_LAUNCH_LEASE_MS;
    let query = store.db
      .selectFrom('pipeline_fire')
      .selectAll()
      .where('pipeline', 'in', names)
      .where((eb) =>
        eb.or([
          eb('status', '=', 'pending'),
          eb.and([eb('status', '=', 'launching'), eb('claimed_at', '<', staleBefore)]),
        ]),
      );
    if (only !== undefined) query = query.where('id', '=', only);
    const pending = await query
      .orderBy('scheduled_for')
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    const fires: Fire[] = [];
    for (const row of pending) {
      const registered = this.#registered.get(row.pipeline);
      if (registered === undefined) continue;
      const claimed = await store.write((trx) =>
        trx
          .updateTable('pipeline_fire')
          .set({ status: 'launching', claimed_at: now })
          .where('id', '=', row.id)
          .where((eb) =>
            eb.or([
              eb('status', '=', 'pending'),
              eb.and([eb('status', '=', 'launching'), eb('claimed_at', '<', staleBefore)]),
            ]),
          )
          .executeTakeFirst(),
      );
      if (Number(claimed.numUpdatedRows) !== 1) continue;
      const reason = reasonOf(row.trigger, row.detail, Number(row.scheduled_for));
      let fire: Fire;
      try {
        const runId = await this.#deps.launch({
          pipeline: registered.definition,
          fireId: row.id,
          reason,
          tags: tagsFor(row.id, reason),
          runOptions: registered.runOptions,
        });
        fire = {
          id: row.id,
          pipeline: row.pipeline,
          reason,
          status: 'launched',
          pipelineRunId: runId,
          error: null,
        };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        logger?.error(
          { err: error, pipeline: row.pipeline },
          `scheduler: could not start pipeline '${row.pipeline}' (${reason.trigger}): ${message}`,
        );
        fire = {
          id: row.id,
          pipeline: row.pipeline,
          reason,
          status: 'failed',
          pipelineRunId: null,
          error: message.slice(0, 5000),
        };
      }
      await store.write((trx) =>
        trx
          .updateTable('pipeline_fire')
          .set({ status: fire.status, pipeline_run_id: fire.pipelineRunId, error: fire.error })
          .where('id', '=', row.id)
          .execute(),
      );
      fires.push(fire);
    }
    return fires;
  }

  /** Newest version number and its time, per dataset name that has any version. */
  async #newestVersions(
    datasets: readonly string[],
  ): Promise<Map<string, { version: number; createdAt: number }>> {
    const rows = await this.#deps.store.db
      .selectFrom('dataset as d')
      .innerJoin('dataset_version as v', (j) =>
        j.onRef('v.dataset_id', '=', 'd.id').onRef('v.version', '=', 'd.last_version'),
      )
      .select(['d.name', 'v.version', 'v.created_at'])
      .where('d.name', 'in', [...datasets])
      .execute();
    return new Map(
      rows.map((r) => [r.name, { version: Number(r.version), createdAt: Number(r.created_at) }]),
    );
  }

  /** When version `version` of `dataset` was added. */
  async #versionTime(dataset: string, version: number): Promise<number> {
    const row = await this.#deps.store.db
      .selectFrom('dataset as d')
      .innerJoin('dataset_version as v', 'v.dataset_id', 'd.id')
      .select(['v.created_at'])
      .where('d.name', '=', dataset)
      .where('v.version', '=', version)
      .executeTakeFirst();
    // Versions are numbered without gaps, so it exists; if not, do not hold the run back.
    return row === undefined ? 0 : Number(row.created_at);
  }

  async #status(name: string): Promise<ScheduleStatus> {
    const db = this.#deps.store.db;
    const row = await db
      .selectFrom('scheduled_pipeline')
      .selectAll()
      .where('pipeline', '=', name)
      .executeTakeFirst();
    if (row === undefined) throw notRegistered(name, await this.#names());
    const schedules = await db
      .selectFrom('pipeline_schedule')
      .selectAll()
      .where('pipeline', '=', name)
      .orderBy('cron')
      .execute();
    const trigger = row.trigger === null ? null : (JSON.parse(row.trigger) as DatasetTrigger);
    let triggerStatus: ScheduleStatus['trigger'] = null;
    if (trigger !== null) {
      const consumed = await db
        .selectFrom('pipeline_trigger_state')
        .select(['dataset', 'consumed_version'])
        .where('pipeline', '=', name)
        .execute();
      const newest = await this.#newestVersions(trigger.datasets);
      triggerStatus = {
        datasets: [...trigger.datasets],
        when: trigger.when,
        coalesceMs: trigger.coalesceMs,
        maxWaitMs: trigger.maxWaitMs ?? trigger.coalesceMs * 10,
        state: trigger.datasets.map((d) => ({
          dataset: d,
          consumedVersion: Number(consumed.find((c) => c.dataset === d)?.consumed_version ?? 0),
          newestVersion: newest.get(d)?.version ?? null,
        })),
      };
    }
    const last = await db
      .selectFrom('pipeline_fire')
      .selectAll()
      .where('pipeline', '=', name)
      .orderBy('created_at', 'desc')
      .orderBy('scheduled_for', 'desc')
      .limit(1)
      .executeTakeFirst();
    const pending = await db
      .selectFrom('pipeline_fire')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('pipeline', '=', name)
      .where('status', 'in', ['pending', 'launching'])
      .executeTakeFirstOrThrow();
    return {
      pipeline: name,
      paused: Number(row.paused) === 1,
      pausedAt: row.paused_at === null ? null : Number(row.paused_at),
      schedules: schedules.map((s) => ({
        cron: s.cron,
        catchup: s.catchup as CatchupPolicy,
        nextFireAt: Number(s.next_fire_at),
        lastFiredAt: s.last_fired_at === null ? null : Number(s.last_fired_at),
      })),
      trigger: triggerStatus,
      lastFire:
        last === undefined
          ? null
          : {
              id: last.id,
              trigger: last.trigger as FireReason['trigger'],
              scheduledFor: Number(last.scheduled_for),
              status: last.status,
              pipelineRunId: last.pipeline_run_id,
              error: last.error,
              createdAt: Number(last.created_at),
            },
      pendingFires: Number(pending.n),
    };
  }

  /** Inside a transaction: must not read through `store.db` (one SQLite connection). */
  async #mustExist(trx: Kysely<Database>, name: string): Promise<void> {
    const rows = await trx.selectFrom('scheduled_pipeline').select(['pipeline']).execute();
    if (!rows.some((r) => r.pipeline === name))
      throw notRegistered(
        name,
        rows.map((r) => r.pipeline),
      );
  }

  async #names(): Promise<string[]> {
    return (
      await this.#deps.store.db.selectFrom('scheduled_pipeline').select(['pipeline']).execute()
    ).map((r) => r.pipeline);
  }

  #get(name: string): Registered {
    const r = this.#registered.get(name);
    if (r === undefined)
      throw new MobiusError(
        'NOT_FOUND',
        `pipeline '${name}' is not registered with this scheduler; registered: ${[...this.#registered.keys()].map((n) => `'${n}'`).join(', ') || 'none'}`,
      );
    return r;
  }

  #cron(text: string): CronExpression {
    let e = this.#crons.get(text);
    if (e === undefined) {
      e = parseCron(text);
      this.#crons.set(text, e);
    }
    return e;
  }
}

function notRegistered(name: string, names: string[]): MobiusError {
  return new MobiusError(
    'NOT_FOUND',
    `no pipeline '${name}' has a schedule or trigger; known: ${names.map((n) => `'${n}'`).join(', ') || 'none (mobius server registers them)'}`,
  );
}

function fireRow(
  id: string,
  pipeline: string,
  key: string,
  reason: FireReason,
  scheduledFor: number,
  now: number,
) {
  const detail =
    reason.trigger === 'schedule'
      ? { cron: reason.cron }
      : reason.trigger === 'dataset'
        ? { datasets: reason.datasets }
        : {};
  return {
    id,
    pipeline,
    fire_key: key,
    trigger: reason.trigger,
    scheduled_for: scheduledFor,
    detail: JSON.stringify(detail),
    created_at: now,
    status: 'pending',
    claimed_at: null,
    pipeline_run_id: null,
    error: null,
  };
}

function reasonOf(trigger: string, detailText: string, scheduledFor: number): FireReason {
  const detail = JSON.parse(detailText) as { cron?: string; datasets?: Record<string, number> };
  if (trigger === 'schedule') return { trigger, cron: detail.cron ?? '', scheduledFor };
  if (trigger === 'dataset') return { trigger, datasets: detail.datasets ?? {} };
  return { trigger: 'manual' };
}

/** The tags that say why a run started. */
export function tagsFor(fireId: string, reason: FireReason): Record<string, string> {
  const tags: Record<string, string> = {
    [TRIGGER_TAG]: reason.trigger,
    [TRIGGER_FIRE_TAG]: fireId,
  };
  if (reason.trigger === 'schedule') {
    tags[TRIGGER_CRON_TAG] = reason.cron;
    tags[TRIGGER_SCHEDULED_FOR_TAG] = new Date(reason.scheduledFor).toISOString();
  }
  if (reason.trigger === 'dataset')
    tags[TRIGGER_DATASETS_TAG] = Object.entries(reason.datasets)
      .map(([d, v]) => `${d}@${v}`)
      .join(',');
  return tags;
}
