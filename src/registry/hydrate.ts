/** Turns registry rows into entities, loading tags, aliases and latest versions in batches. */
import { sql, MODEL_STAGES, type Kysely, type Database, type Row } from '../store/index.js';
import type { ModelVersion, RegisteredModel } from './types.js';

/** Versions with their tags and aliases, in the order of `rows`. */
export async function hydrateVersions(
  db: Kysely<Database>,
  rows: readonly Row<'model_version'>[],
): Promise<ModelVersion[]> {
  if (rows.length === 0) return [];
  const names = [...new Set(rows.map((r) => r.name))];
  const [tags, aliases] = await Promise.all([
    db.selectFrom('model_version_tag').selectAll().where('name', 'in', names).execute(),
    db
      .selectFrom('registered_model_alias')
      .selectAll()
      .where('name', 'in', names)
      .orderBy('alias')
      .execute(),
  ]);
  const key = (name: string, version: number) => `${name}\u0000${version}`;
  const byKey = new Map<string, ModelVersion>(
    rows.map((r) => [
      key(r.name, r.version),
      {
        name: r.name,
        version: r.version,
        source: r.source,
        runId: r.run_id,
        runLink: r.run_link,
        status: r.status,
        statusMessage: r.status_message,
        description: r.description,
        currentStage: r.current_stage,
        userId: r.user_id,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
        tags: {},
        aliases: [],
      },
    ]),
  );
  for (const t of tags) {
    const v = byKey.get(key(t.name, t.version));
    if (v !== undefined) v.tags[t.key] = t.value;
  }
  for (const a of aliases) byKey.get(key(a.name, a.version))?.aliases.push(a.alias);
  return rows.map((r) => byKey.get(key(r.name, r.version))!);
}

/** Models with their tags, aliases and the newest version per stage, in the order of `rows`. */
export async function hydrateModels(
  db: Kysely<Database>,
  rows: readonly Row<'registered_model'>[],
): Promise<RegisteredModel[]> {
  if (rows.length === 0) return [];
  const names = rows.map((r) => r.name);
  const [tags, aliases, latestRows] = await Promise.all([
    db.selectFrom('registered_model_tag').selectAll().where('name', 'in', names).execute(),
    db
      .selectFrom('registered_model_alias')
      .selectAll()
      .where('name', 'in', names)
      .orderBy('alias')
      .execute(),
    latestVersionRows(db, names),
  ]);
  const latest = await hydrateVersions(db, latestRows);
  return rows.map((r) => ({
    name: r.name,
    description: r.description,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    tags: Object.fromEntries(tags.filter((t) => t.name === r.name).map((t) => [t.key, t.value])),
    aliases: aliases
      .filter((a) => a.name === r.name)
      .map((a) => ({ alias: a.alias, version: a.version })),
    latestVersions: latest.filter((v) => v.name === r.name),
  }));
}

/** The highest-numbered version in each stage of each model, ordered by model then stage. */
export async function latestVersionRows(
  db: Kysely<Database>,
  names: readonly string[],
  stages: readonly string[] = MODEL_STAGES,
): Promise<Row<'model_version'>[]> {
  if (names.length === 0 || stages.length === 0) return [];
  const rows = await db
    .selectFrom('model_version as mv')
    .selectAll()
    .where('mv.name', 'in', names)
    .where('mv.current_stage', 'in', stages as never)
    .where(
      'mv.version',
      '=',
      sql<number>`(select max(m2.version) from model_version m2
                   where m2.name = mv.name and m2.current_stage = mv.current_stage)`,
    )
    .execute();
  const stageOrder = (s: string) => (MODEL_STAGES as readonly string[]).indexOf(s);
  return rows.sort(
    (a, b) =>
      names.indexOf(a.name) - names.indexOf(b.name) ||
      stageOrder(a.current_stage) - stageOrder(b.current_stage),
  );
}
