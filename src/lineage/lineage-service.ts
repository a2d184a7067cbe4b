/**
 * Lineage walks over the spine's `edge` graph: from any node, everything upstream of it —
 * "which run produced this dataset version, which data did that run read, which code did
 * it run". One recursive SQL query does the walk (SQLite and PostgreSQL alike), then one
 * query per kind labels the nodes found.
 *
 * Edges are stored in the direction their writer saw them (`run —produced→ version`,
 * `check_run —consumed→ version`); the walk reads each as "upstream → downstream":
 *   produced, derived, deployed, predicted: from is upstream of to;
 *   consumed: to (what was read) is upstream of from (the reader).
 * A registered model version's source run (`model_version.run_id`) counts as
 * `run —produced→ model_version`.
 */
import { sql, type Kysely } from 'kysely';
import { MobiusError, limits } from '../core/index.js';
import type { Database } from '../store/index.js';

/** A node of the graph: `run:<id>`, `dataset_version:<id>`, `model_version:<name>@<v>`, … */
export interface LineageNode {
  kind: string;
  id: string;
  /** Steps from the start (0 for the start itself). */
  depth: number;
  /** The node this one is upstream of, and the edge between them; null for the start. */
  downstream: { kind: string; id: string; relation: string } | null;
  /** A human label: `orders@3`, `run train (FINISHED)`, `churn@2`. */
  label: string;
  /** Kind-specific facts: a run's status and git commit, a version's rows and hash. */
  details: Record<string, unknown>;
}

/** The start node and everything upstream of it, nearest first. */
export interface LineageGraph {
  start: LineageNode;
  upstream: LineageNode[];
}

export class LineageService {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Everything upstream of `ref`: `run:<id>`, `dataset:<name>@<version>`,
   * `model:<name>@<version|alias>`, `prediction:<request-id>`, or any stored
   * `<kind>:<id>` (`dataset_version:<id>`, `check_run:<id>`).
   *
   * @example
   * const { upstream } = await ctx.lineage.upstream('model:churn@production');
   */
  async upstream(ref: string, maxDepth = limits.LINEAGE_MAX_DEPTH): Promise<LineageGraph> {
    const start = await this.resolve(ref);
    if (start.next === null)
      return {
        start: {
          ...start,
          depth: 0,
          downstream: null,
          label: `prediction ${start.id}`,
          details: start.details ?? {},
        },
        upstream: [],
      };
    // A prediction is not an edge row (one per request would be one write per inference):
    // it stands at the top, with its model version as the first upstream node.
    const from = start.next ?? start;
    const rows = await sql<{
      kind: string;
      id: string;
      depth: number | string;
      down_kind: string | null;
      down_id: string | null;
      relation: string | null;
    }>`
      WITH RECURSIVE
      links (up_kind, up_id, down_kind, down_id, relation) AS (
        SELECT from_kind, from_id, to_kind, to_id, relation FROM edge WHERE relation <> 'consumed'
        UNION ALL
        SELECT to_kind, to_id, from_kind, from_id, relation FROM edge WHERE relation = 'consumed'
        UNION ALL
        SELECT 'run', run_id, 'model_version', name || '@' || CAST(version AS TEXT), 'produced'
        FROM model_version WHERE run_id IS NOT NULL
      ),
      walk (kind, id, depth, down_kind, down_id, relation) AS (
        SELECT CAST(${from.kind} AS TEXT), CAST(${from.id} AS TEXT), 0,
               CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT)
        UNION
        SELECT l.up_kind, l.up_id, w.depth + 1, w.kind, w.id, l.relation
        FROM links l JOIN walk w ON l.down_kind = w.kind AND l.down_id = w.id
        WHERE w.depth < ${maxDepth}
      )
      SELECT kind, id, depth, down_kind, down_id, relation FROM (
        SELECT walk.*, row_number() OVER (
          PARTITION BY kind, id ORDER BY depth, down_kind, down_id, relation) AS nearest
        FROM walk) found
      WHERE nearest = 1 ORDER BY depth, kind, id
      LIMIT ${limits.LINEAGE_MAX_NODES}
    `.execute(this.db);
    const nodes = rows.rows.map((r) => ({
      kind: r.kind,
      id: r.id,
      depth: Number(r.depth) + (start.next === undefined ? 0 : 1),
      downstream:
        r.down_kind === null || r.down_id === null
          ? start.next === undefined
            ? null
            : { kind: start.kind, id: start.id, relation: 'predicted' }
          : { kind: r.down_kind, id: r.down_id, relation: r.relation ?? '' },
    }));
    const labelled = await this.label(nodes);
    if (start.next === undefined) {
      const [first, ...rest] = labelled;
      return { start: first!, upstream: rest };
    }
    return {
      start: {
        kind: start.kind,
        id: start.id,
        depth: 0,
        downstream: null,
        label: `prediction ${start.id}`,
        details: start.details ?? {},
      },
      upstream: labelled,
    };
  }

  /** The node a reference names, checked to exist. */
  private async resolve(ref: string): Promise<{
    kind: string;
    id: string;
    /** A prediction's model version, where the walk starts (null: an unregistered model). */
    next?: { kind: string; id: string } | null;
    details?: Record<string, unknown>;
  }> {
    const colon = ref.indexOf(':');
    if (colon <= 0 || colon === ref.length - 1)
      throw bad(
        `'${ref.slice(0, 200)}' is not a lineage reference: give run:<id>, dataset:<name>@<version>, model:<name>@<version|alias>, prediction:<request-id> or <kind>:<id>`,
      );
    const kind = ref.slice(0, colon);
    const rest = ref.slice(colon + 1);
    if (kind === 'dataset' || kind === 'model') {
      const at = rest.lastIndexOf('@');
      if (at <= 0 || at === rest.length - 1)
        throw bad(`'${ref.slice(0, 200)}': write ${kind}:<name>@<version>`);
      const name = rest.slice(0, at);
      const which = rest.slice(at + 1);
      if (kind === 'dataset') {
        if (!/^\d+$/.test(which))
          throw bad(`'${ref.slice(0, 200)}': a dataset version is a number (orders@3)`);
        const row = await this.db
          .selectFrom('dataset_version')
          .innerJoin('dataset', 'dataset.id', 'dataset_version.dataset_id')
          .select('dataset_version.id')
          .where('dataset.name', '=', name)
          .where('dataset_version.version', '=', Number(which))
          .executeTakeFirst();
        if (row === undefined) throw missing(`no dataset version ${name}@${which}`);
        return { kind: 'dataset_version', id: row.id };
      }
      const version = /^\d+$/.test(which)
        ? Number(which)
        : (
            await this.db
              .selectFrom('registered_model_alias')
              .select('version')
              .where('name', '=', name)
              .where('alias', '=', which)
              .executeTakeFirst()
          )?.version;
      if (version === undefined) throw missing(`model '${name}' has no alias '${which}'`);
      const row = await this.db
        .selectFrom('model_version')
        .select('version')
        .where('name', '=', name)
        .where('version', '=', version)
        .executeTakeFirst();
      if (row === undefined) throw missing(`no model version ${name}@${version}`);
      return { kind: 'model_version', id: `${name}@${version}` };
    }
    if (kind === 'prediction') {
      // The answer the client got (a shadow's copy has the same request id).
      const row = await this.db
        .selectFrom('prediction_log')
        .select(['deployment', 'model', 'version', 'latency_ms', 'error', 'created_at'])
        .where('request_id', '=', rest)
        .where('route', '=', 'primary')
        .orderBy('seq')
        .executeTakeFirst();
      if (row === undefined)
        throw missing(
          `no logged prediction with request id '${rest}' (the log is written in batches: a prediction of the last second may not be there yet)`,
        );
      const details = {
        deployment: row.deployment,
        at: Number(row.created_at),
        latencyMs: Number(row.latency_ms),
        ...(row.error === null ? {} : { error: row.error }),
      };
      // An in-process model (ctx.serving.deploy) is no registered version: nothing upstream.
      if (row.model === null || row.version === null)
        return { kind, id: rest, details, next: null };
      return {
        kind,
        id: rest,
        next: { kind: 'model_version', id: `${row.model}@${row.version}` },
        details,
      };
    }
    if (kind === 'run') {
      const row = await this.db
        .selectFrom('run')
        .select('id')
        .where('id', '=', rest)
        .executeTakeFirst();
      if (row === undefined) throw missing(`no run '${rest}'`);
    }
    return { kind, id: rest };
  }

  /** Labels and details per kind, one query per kind found. */
  private async label(nodes: Omit<LineageNode, 'label' | 'details'>[]): Promise<LineageNode[]> {
    const ids = (kind: string) => nodes.filter((n) => n.kind === kind).map((n) => n.id);
    const facts = new Map<string, { label: string; details: Record<string, unknown> }>();
    const runIds = ids('run');
    if (runIds.length > 0) {
      const runs = await this.db
        .selectFrom('run')
        .select(['id', 'name', 'status', 'experiment_id', 'start_time', 'parent_run_id'])
        .where('id', 'in', runIds)
        .execute();
      const tags = await this.db
        .selectFrom('tag')
        .select(['run_id', 'key', 'value'])
        .where('run_id', 'in', runIds)
        .where('key', 'in', [...CODE_TAGS.keys()])
        .execute();
      for (const r of runs) {
        const code = Object.fromEntries(
          tags.filter((t) => t.run_id === r.id).map((t) => [CODE_TAGS.get(t.key)!, t.value]),
        );
        facts.set(`run:${r.id}`, {
          label: `run ${r.name ?? r.id} (${r.status})`,
          details: {
            experimentId: r.experiment_id,
            startTime: r.start_time,
            ...(r.parent_run_id === null ? {} : { parentRunId: r.parent_run_id }),
            ...code,
          },
        });
      }
    }
    const versionIds = ids('dataset_version');
    if (versionIds.length > 0) {
      const versions = await this.db
        .selectFrom('dataset_version')
        .innerJoin('dataset', 'dataset.id', 'dataset_version.dataset_id')
        .select([
          'dataset_version.id as id',
          'dataset.name as name',
          'dataset_version.version as version',
          'dataset_version.content_hash as hash',
          'dataset_version.row_count as rows',
        ])
        .where('dataset_version.id', 'in', versionIds)
        .execute();
      for (const v of versions)
        facts.set(`dataset_version:${v.id}`, {
          label: `dataset ${v.name}@${v.version}`,
          details: { contentHash: v.hash, rowCount: Number(v.rows) },
        });
    }
    const modelIds = ids('model_version');
    if (modelIds.length > 0) {
      const keys = modelIds.map((id) => {
        const at = id.lastIndexOf('@');
        return { name: id.slice(0, at), version: Number(id.slice(at + 1)) };
      });
      const versions = await this.db
        .selectFrom('model_version')
        .select(['name', 'version', 'source', 'status'])
        .where((eb) =>
          eb.or(keys.map((k) => eb.and([eb('name', '=', k.name), eb('version', '=', k.version)]))),
        )
        .execute();
      for (const id of modelIds)
        facts.set(`model_version:${id}`, { label: `model ${id}`, details: {} });
      for (const v of versions)
        facts.set(`model_version:${v.name}@${v.version}`, {
          label: `model ${v.name}@${v.version}`,
          details: { source: v.source, status: v.status },
        });
    }
    return nodes.map((n) => ({
      ...n,
      ...(facts.get(`${n.kind}:${n.id}`) ?? { label: `${n.kind} ${n.id}`, details: {} }),
    }));
  }
}

/** Run tags that identify code, as MLflow clients and Mobius pipelines set them. */
const CODE_TAGS = new Map([
  ['mlflow.source.git.commit', 'gitCommit'],
  ['mlflow.source.name', 'sourceName'],
]);

function bad(message: string): MobiusError {
  return new MobiusError('INVALID_ARGUMENT', message);
}

function missing(message: string): MobiusError {
  return new MobiusError('NOT_FOUND', message);
}
