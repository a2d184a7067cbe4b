/**
 * Dataset versions: `add` reads files into an immutable version (manifest, schema, row
 * count, profile, canonical Parquet copy), and the rest find, list, tag, fetch and compare
 * versions. Shells (CLI, HTTP) call only this.
 *
 * An add runs in stages, so bad input leaves nothing behind:
 *   1. read: DuckDB reads the files, refusing bad input (malformed rows, encodings,
 *      headers…), and writes the Parquet copy to a scratch directory, while the files
 *      stream into the blob store's staging area, hashed on the way (BlobStore.stage:
 *      written, not yet blobs); bad input discards them, so nothing is stored;
 *   2. profile and store: DuckDB profiles the Parquet copy while the staging finishes; a
 *      file whose size or modification time moved since the add began is refused
 *      (CONFLICT); adding the content `latest` holds stops here (staged bytes discarded);
 *      otherwise the staged files are published as blobs and the Parquet copy is stored;
 *   3. commit: one transaction numbers the version, writes it and its files, moves
 *      `latest` and records the lineage edge from the producing run.
 * Blobs published in stage 2 of an add that then fails (an engine or store outage; user
 * input can no longer fail it) are unreferenced, not wrong: content addressing means they
 * can only ever hold the bytes of their name.
 */
import { createReadStream, createWriteStream, type Stats } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  MobiusError,
  checkDatasetName,
  checkDatasetTag,
  limits,
  newId,
  safeRelativePath,
  type Clock,
} from '../core/index.js';
import type { BlobStore, StagedBlob } from '../blobs/index.js';
import { sqlString, type Engine } from '../engine/index.js';
import {
  constraintViolation,
  type Database,
  type Kysely,
  type Store,
  type Transaction,
} from '../store/index.js';
import { diffVersions, type DatasetDiff, type DiffOptions } from './diff.js';
import { maskSelectList, type MaskOptions } from './mask.js';
import { withParquetFiles } from './parquet-files.js';
import { piiThreshold, scanPii, type PiiOptions, type PiiReport } from './pii.js';
import { ingest, type ReadOptions } from './ingest.js';
import { buildManifest, contentHash } from './manifest.js';
import { profileTable } from './profile.js';
import { parseRef, type DatasetRef } from './refs.js';
import { guessWidth, readHead } from './csv-header.js';
import { resolveSource, type SourceFile } from './sources.js';
import type {
  ColumnSchema,
  DataFormat,
  Dataset,
  DatasetVersion,
  DatasetVersionSummary,
  Manifest,
  ManifestFile,
  Profile,
} from './types.js';

/** What `data add` takes. */
export interface AddInput extends ReadOptions {
  name: string;
  /** A file, a directory or a glob. */
  source: string;
  /** Directory a relative `source` is resolved against. */
  cwd: string;
  /** Overrides the format the file extensions imply. */
  format?: DataFormat;
  /** The run that produced the data: recorded on the version and as a lineage edge. */
  runId?: string;
  /** Where the data came from, as recorded on the version (default: `source`). */
  sourceUri?: string;
  /** Called as each stage starts, for progress output. */
  onStage?: (stage: 'reading' | 'profiling' | 'storing' | 'committing') => void;
}

/** What `add` did: the version, and whether it is new (false: same content as `latest`). */
export interface AddResult {
  version: DatasetVersion;
  created: boolean;
}

/** What `mask` did: the masked version (new, or an equal `latest`) and its source. */
export interface MaskResult extends AddResult {
  source: DatasetVersionSummary;
}

type VersionRow = Database['dataset_version'];

/** Dataset versions over the store, the blob store and the engine. */
export class DataService {
  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    private readonly engine: Engine,
    private readonly clock: Clock,
  ) {}

  /**
   * Adds a version of dataset `name` from files. Adding the same content as the current
   * `latest` again creates nothing and returns that version.
   *
   * @example
   * const { version } = await data.add({ name: 'churn', source: 'data/churn.csv', cwd });
   */
  async add(input: AddInput): Promise<AddResult> {
    return this.#add(input);
  }

  /**
   * `add`, with the version it was derived from when it is one (mask): recorded as a
   * lineage edge `dataset_version —derived→ dataset_version`, also when the content is
   * unchanged and the existing version is returned.
   */
  async #add(input: AddInput, derivedFrom?: string): Promise<AddResult> {
    const name = checkDatasetName(input.name);
    const runId = input.runId;
    if (runId !== undefined && (typeof runId !== 'string' || runId === ''))
      throw new MobiusError('INVALID_ARGUMENT', 'run id must be a non-empty string');
    input.onStage?.('reading');
    const source = await resolveSource(input.source, input.cwd, this.engine, input.format);
    const options: ReadOptions = {};
    if (input.encoding !== undefined) {
      if (source.format !== 'csv')
        throw new MobiusError('INVALID_ARGUMENT', '--encoding applies to CSV files only');
      options.encoding = input.encoding;
    }
    if (input.sampleAll === true) options.sampleAll = true;

    await mkdir(this.engine.tempDirectory, { recursive: true });
    const scratch = await mkdtemp(join(this.engine.tempDirectory, 'add-'));
    try {
      const parquetPath = join(scratch, 'data.parquet');
      const memory = await this.#memoryFor(source.format, source.files[0]!, options);
      // The files stream into the blob store's staging area (hashed on the way) while
      // DuckDB reads them, each on its own core: each file is read once more, not twice,
      // and the write overlaps the read. Staged bytes are not blobs: bad input discards them.
      const before = await Promise.all(source.files.map((f) => stat(f.absolute)));
      const stopStaging = new AbortController();
      const staging = stageFiles(this.blobs, source.files, stopStaging.signal);
      staging.catch(() => undefined); // awaited below; a failed read must not go unhandled
      const stagedRead = async () => {
        try {
          return await this.engine.withSession(
            { directories: [scratch], files: source.files.map((f) => f.absolute), ...memory },
            async (session) => {
              const ingested = await ingest(
                session,
                source.format,
                source.files,
                options,
                parquetPath,
              );
              // The input has been read without error, so nothing a user did can fail the add
              // from here on: DuckDB profiles the copy while the files finish staging (on a
              // slow disk, writing them takes longer than reading them) and are published.
              input.onStage?.('profiling');
              const profiling = profileTable(
                session,
                `read_parquet(${sqlString(parquetPath)})`,
                ingested.schema,
                ingested.rowCount,
              );
              const storing = (async () => {
                const staged = await staging;
                await refuseChanged(source.files, before, staged);
                const files: ManifestFile[] = source.files.map((f, i) => ({
                  path: f.path,
                  sha256: staged[i]!.sha256,
                  size: staged[i]!.size,
                }));
                const manifest = buildManifest(source.format, options, files);
                const hash = contentHash(manifest);
                const unchanged = await this.#unchanged(name, hash, runId);
                if (unchanged !== undefined) return { kind: 'unchanged' as const, row: unchanged };
                for (const blob of staged) await blob.publish();
                const parquet = await this.blobs.put(createReadStream(parquetPath));
                return { kind: 'new' as const, files, manifest, hash, parquet };
              })();
              // Both settle before the session closes (a query must not outlive it); the
              // profile of content `latest` already holds is thrown away.
              const [profiled, stored] = await Promise.allSettled([
                profiling.finally(() => input.onStage?.('storing')),
                storing,
              ]);
              if (stored.status === 'rejected') throw stored.reason;
              if (stored.value.kind === 'unchanged') return stored.value;
              if (profiled.status === 'rejected') throw profiled.reason;
              return { ...stored.value, ...ingested, profile: profiled.value };
            },
          );
        } finally {
          // Stops a staging still running (bad input), and removes what was staged (after
          // publishing, only the temp copies go).
          stopStaging.abort();
          await staging.then(
            (staged) => Promise.all(staged.map((blob) => blob.discard())),
            () => undefined,
          );
        }
      };
      const read = await stagedRead();
      if (read.kind === 'unchanged') {
        if (derivedFrom !== undefined)
          await this.store.write((trx) =>
            derivedEdge(trx, derivedFrom, read.row.id, this.clock.now()),
          );
        return { version: await this.#hydrate(name, read.row, true), created: false };
      }
      const { files, manifest, hash, parquet } = read;

      input.onStage?.('committing');
      const id = newId();
      const now = this.clock.now();
      const row = await this.store
        .write(async (trx) => {
          await trx
            .insertInto('dataset')
            .values({ id: newId(), name, description: null, created_at: now, updated_at: now })
            .onConflict((oc) => oc.column('name').doNothing())
            .execute();
          const counter = await trx
            .updateTable('dataset')
            .set((eb) => ({ last_version: eb('last_version', '+', 1), updated_at: now }))
            .where('name', '=', name)
            .returning(['id', 'last_version'])
            .executeTakeFirstOrThrow();
          const values: VersionRow = {
            id,
            dataset_id: counter.id,
            version: counter.last_version,
            content_hash: hash,
            manifest: JSON.stringify(manifest),
            schema: JSON.stringify(read.schema),
            row_count: read.rowCount,
            profile: JSON.stringify(read.profile),
            source_uri: input.sourceUri ?? input.source,
            run_id: runId ?? null,
            created_at: now,
            format: source.format,
            file_count: files.length,
            total_bytes: files.reduce((sum, f) => sum + f.size, 0),
            parquet_sha256: parquet.sha256,
            parquet_size: parquet.size,
            engine: this.engine.version,
          };
          await trx.insertInto('dataset_version').values(values).execute();
          await this.store.insertMany(
            trx,
            'dataset_file',
            files.map((f) => ({ version_id: id, path: f.path, sha256: f.sha256, size: f.size })),
          );
          await setTag(trx, counter.id, limits.LATEST_TAG, counter.last_version, now);
          if (runId !== undefined) {
            await trx
              .insertInto('edge')
              .values({
                from_kind: 'run',
                from_id: runId,
                to_kind: 'dataset_version',
                to_id: id,
                relation: 'produced',
                created_at: now,
              })
              .onConflict((oc) => oc.doNothing())
              .execute();
          }
          if (derivedFrom !== undefined) await derivedEdge(trx, derivedFrom, id, now);
          return values;
        })
        .catch((error: unknown) => {
          if (constraintViolation(error) === 'foreign_key' && runId !== undefined)
            throw new MobiusError(
              'NOT_FOUND',
              `run '${runId}' does not exist; pass the id of the run that produced the data, or leave --run out`,
              { cause: error },
            );
          throw error;
        });
      return { version: await this.#hydrate(name, row, true), created: true };
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /** Every dataset, by name, with its newest version number and tags. */
  async list(): Promise<Dataset[]> {
    const datasets = await this.store.db
      .selectFrom('dataset')
      .select(['id', 'name', 'description', 'created_at', 'updated_at', 'last_version'])
      .orderBy('name')
      .execute();
    const tags = await this.store.db
      .selectFrom('dataset_tag')
      .select(['dataset_id', 'tag', 'version'])
      .orderBy('tag')
      .execute();
    return datasets.map((d) => ({
      name: d.name,
      description: d.description,
      createdAt: Number(d.created_at),
      updatedAt: d.updated_at === null ? null : Number(d.updated_at),
      latestVersion: Number(d.last_version),
      tags: Object.fromEntries(
        tags.filter((t) => t.dataset_id === d.id).map((t) => [t.tag, Number(t.version)]),
      ),
    }));
  }

  /** A dataset's versions, newest first, without profiles. */
  async log(nameInput: string, options: { limit?: number } = {}): Promise<DatasetVersionSummary[]> {
    const name = checkDatasetName(nameInput);
    const dataset = await this.#dataset(name);
    const rows = await this.store.db
      .selectFrom('dataset_version')
      .selectAll()
      .where('dataset_id', '=', dataset.id)
      .orderBy('version', 'desc')
      .limit(options.limit ?? 1000)
      .execute();
    const tags = await this.#tagsByVersion(dataset.id);
    return rows.map((r) => summary(name, r, tags.get(Number(r.version)) ?? []));
  }

  /** The version a ref names (`churn@3`, `churn@latest`, `churn@1a2b3c4d`), with its profile. */
  async get(refText: string): Promise<DatasetVersion> {
    const ref = parseRef(refText);
    const dataset = await this.#dataset(ref.name);
    return this.#hydrate(ref.name, await this.#versionByRef(dataset.id, ref.name, ref), true);
  }

  /** Points `tag` of the dataset at the version `refText` names (moving it if it exists). */
  async tag(refText: string, tagInput: string): Promise<DatasetVersionSummary> {
    const tag = checkDatasetTag(tagInput);
    const ref = parseRef(refText);
    const dataset = await this.#dataset(ref.name);
    const row = await this.#versionByRef(dataset.id, ref.name, ref);
    await this.store.write((trx) =>
      setTag(trx, dataset.id, tag, Number(row.version), this.clock.now()),
    );
    return summary(
      ref.name,
      row,
      (await this.#tagsByVersion(dataset.id)).get(Number(row.version)) ?? [],
    );
  }

  /** Removes a user tag; NOT_FOUND when the dataset has no such tag. */
  async untag(nameInput: string, tagInput: string): Promise<void> {
    const name = checkDatasetName(nameInput);
    const tag = checkDatasetTag(tagInput);
    const dataset = await this.#dataset(name);
    const deleted = await this.store.write((trx) =>
      trx
        .deleteFrom('dataset_tag')
        .where('dataset_id', '=', dataset.id)
        .where('tag', '=', tag)
        .executeTakeFirst(),
    );
    if (Number(deleted.numDeletedRows) === 0)
      throw new MobiusError('NOT_FOUND', `dataset '${name}' has no tag '${tag}'`);
  }

  /** The bytes of one file of a version (`path` as in its manifest), or of its Parquet copy. */
  async openFile(refText: string, path: string | { parquet: true }): Promise<Readable> {
    const version = await this.get(refText);
    if (typeof path !== 'string') {
      if (version.parquet === null)
        throw new MobiusError('NOT_FOUND', `${refText} has no Parquet copy`);
      return this.blobs.get(version.parquet.sha256);
    }
    const wanted = safeRelativePath(path);
    const file = version.manifest.files.find((f) => f.path === wanted);
    if (file === undefined)
      throw new MobiusError(
        'NOT_FOUND',
        `${version.dataset}@${version.version} has no file '${wanted}'`,
      );
    return this.blobs.get(file.sha256);
  }

  /**
   * Writes a version's files below `outDir` at their manifest paths (or its Parquet copy
   * as `<name>.parquet`). Refuses to overwrite existing files; each file appears whole
   * or not at all (written to a temporary name, then renamed).
   */
  async download(
    refText: string,
    outDir: string,
    options: { parquet?: boolean } = {},
  ): Promise<{ version: DatasetVersion; files: { path: string; size: number }[] }> {
    const version = await this.get(refText);
    const wanted: { path: string; sha256: string; size: number }[] =
      options.parquet === true
        ? version.parquet === null
          ? []
          : [{ path: `${version.dataset}.parquet`, ...version.parquet }]
        : version.manifest.files;
    const targets = wanted.map((f) => ({ ...f, target: join(outDir, safeRelativePath(f.path)) }));
    for (const t of targets) {
      if (await stat(t.target).catch(() => undefined))
        throw new MobiusError(
          'ALREADY_EXISTS',
          `'${t.target}' already exists; choose an empty --out directory or remove the file`,
        );
    }
    for (const t of targets) {
      await mkdir(dirname(t.target), { recursive: true });
      const temp = `${t.target}.mobius-${newId()}.part`;
      try {
        await pipeline(await this.blobs.get(t.sha256), createWriteStream(temp, { flags: 'wx' }));
        await rename(temp, t.target);
      } finally {
        await rm(temp, { force: true });
      }
    }
    return { version, files: targets.map((t) => ({ path: t.path, size: t.size })) };
  }

  /**
   * Scans the string columns of a version for PII (see pii.ts): per column, how many
   * values hold e-mail addresses, phone numbers, card numbers, IBANs or IP addresses.
   *
   * @example
   * const report = await data.pii('churn@3');
   * for (const f of report.flagged) console.log(f.column, f.kind, f.percent);
   */
  async pii(refText: string, options: PiiOptions = {}): Promise<PiiReport> {
    const threshold = piiThreshold(options.threshold);
    const version = await this.get(refText);
    const scan = await withParquetFiles(this.blobs, this.engine, [version], ([path], session) =>
      scanPii(session, `read_parquet(${sqlString(path!)})`, version.schema, threshold),
    );
    return {
      dataset: version.dataset,
      version: version.version,
      contentHash: version.contentHash,
      rowCount: version.rowCount,
      threshold,
      ...scan,
      flagged: scan.columns.flatMap((c) =>
        c.kinds
          .filter((k) => k.flagged)
          .map((k) => ({ column: c.name, kind: k.kind, matches: k.matches, percent: k.percent })),
      ),
    };
  }

  /**
   * Writes a new version with chosen columns hashed or redacted, computed by DuckDB from
   * the source's Parquet copy and added like any file (same profile, storage, commit),
   * to the source's dataset or `options.to`, with an edge `source —derived→ new`. The
   * source is not changed. Masking the same way again returns the existing version.
   *
   * @example
   * await data.mask('churn@3', { columns: { email: 'hash', name: 'redact' }, salt });
   */
  async mask(refText: string, options: MaskOptions): Promise<MaskResult> {
    const source = await this.get(refText);
    const what = `${source.dataset}@${source.version}`;
    const select = maskSelectList(source.schema, options, what);
    const name = checkDatasetName(options.to ?? source.dataset);
    const file = `${source.dataset}-v${source.version}-masked.parquet`;
    const by = (action: string) =>
      Object.entries(options.columns)
        .filter(([, a]) => a === action)
        .map(([c]) => c);
    const how = ['hash', 'redact']
      .filter((a) => by(a).length > 0)
      .map((a) => `${a}(${by(a).join(',')})`)
      .join(' ');
    // The masked file is written below the engine's temp directory, which every session may
    // write to, then added like any file.
    await mkdir(this.engine.tempDirectory, { recursive: true });
    const scratch = await mkdtemp(join(this.engine.tempDirectory, 'mask-'));
    try {
      await withParquetFiles(this.blobs, this.engine, [source], ([path], session) =>
        session.run(
          `copy (select ${select} from read_parquet(${sqlString(path!)})) to ${sqlString(join(scratch, file))} (format parquet, compression zstd)`,
        ),
      );
      const added = await this.#add(
        {
          name,
          source: file,
          cwd: scratch,
          format: 'parquet',
          sourceUri: `mask:${what} ${how}`,
          ...(options.runId === undefined ? {} : { runId: options.runId }),
        },
        source.id,
      );
      const { manifest, schema, parquet, engine, profile, ...sourceSummary } = source;
      void [manifest, schema, parquet, engine, profile];
      return { ...added, source: sourceSummary };
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /** Compares two versions (`a`, `b` as refs); see diff.ts. */
  async diff(aRef: string, bRef: string, options: DiffOptions = {}): Promise<DatasetDiff> {
    const [a, b] = [await this.get(aRef), await this.get(bRef)];
    return diffVersions(a, b, options, this.engine, this.blobs);
  }

  /** The `latest` version of `name` when it already holds `hash` (from the same run). */
  async #unchanged(
    name: string,
    hash: string,
    runId: string | undefined,
  ): Promise<VersionRow | undefined> {
    const current = await this.#findDataset(this.store.db, name);
    if (current === undefined) return undefined;
    const latest = await this.#versionByRef(current.id, name, {
      name,
      ref: { kind: 'tag', tag: limits.LATEST_TAG },
      text: `${name}@latest`,
    }).catch(() => undefined);
    return latest !== undefined && latest.content_hash === hash && (runId ?? null) === latest.run_id
      ? latest
      : undefined;
  }

  /**
   * Session memory for reading: DuckDB's CSV reader needs memory per column (see
   * ENGINE_MEMORY_PER_CSV_COLUMN_KB), so a wide CSV gets more, on one thread.
   */
  async #memoryFor(
    format: DataFormat,
    first: SourceFile,
    options: ReadOptions,
  ): Promise<{ memoryLimitMb?: number; threads?: number }> {
    const base = {
      memoryLimitMb: Math.min(limits.INGEST_MEMORY_LIMIT_MB, this.engine.memoryLimitMb),
    };
    if (format !== 'csv') return base;
    const width = guessWidth(await readHead(first.absolute, first.path, options.encoding));
    const needed = Math.ceil((width * limits.ENGINE_MEMORY_PER_CSV_COLUMN_KB) / 1024);
    return needed <= base.memoryLimitMb ? base : { memoryLimitMb: needed, threads: 1 };
  }

  async #findDataset(db: Kysely<Database>, name: string) {
    return db
      .selectFrom('dataset')
      .select(['id', 'name'])
      .where('name', '=', name)
      .executeTakeFirst();
  }

  async #dataset(name: string): Promise<{ id: string; name: string }> {
    const found = await this.#findDataset(this.store.db, name);
    if (found === undefined)
      throw new MobiusError(
        'NOT_FOUND',
        `dataset '${name}' does not exist; 'mobius data ls' lists datasets`,
      );
    return found;
  }

  async #versionByRef(datasetId: string, name: string, ref: DatasetRef): Promise<VersionRow> {
    const db = this.store.db;
    const r = ref.ref;
    let rows: VersionRow[];
    switch (r.kind) {
      case 'number':
        rows = await db
          .selectFrom('dataset_version')
          .selectAll()
          .where('dataset_id', '=', datasetId)
          .where('version', '=', r.version)
          .execute();
        break;
      case 'tag':
        rows = await db
          .selectFrom('dataset_tag as t')
          .innerJoin('dataset_version as v', (j) =>
            j.onRef('v.dataset_id', '=', 't.dataset_id').onRef('v.version', '=', 't.version'),
          )
          .selectAll('v')
          .where('t.dataset_id', '=', datasetId)
          .where('t.tag', '=', r.tag)
          .execute();
        break;
      case 'hash': {
        rows = await db
          .selectFrom('dataset_version')
          .selectAll()
          .where('dataset_id', '=', datasetId)
          .where('content_hash', '>=', r.prefix)
          .where('content_hash', '<=', `${r.prefix}g`)
          .orderBy('version', 'desc')
          .execute();
        rows = rows.filter((v) => v.content_hash.startsWith(r.prefix));
        const distinct = new Set(rows.map((v) => v.content_hash));
        if (distinct.size > 1)
          throw new MobiusError(
            'INVALID_ARGUMENT',
            `'${r.prefix}' matches ${distinct.size} content hashes of '${name}'; give more characters`,
          );
        // The same content may have been added more than once; the newest stands for it.
        rows = rows.slice(0, 1);
        break;
      }
    }
    const row = rows[0];
    if (row === undefined)
      throw new MobiusError(
        'NOT_FOUND',
        `${ref.text} does not exist; 'mobius data log ${name}' lists its versions and tags`,
      );
    return row;
  }

  async #tagsByVersion(datasetId: string): Promise<Map<number, string[]>> {
    const rows = await this.store.db
      .selectFrom('dataset_tag')
      .select(['tag', 'version'])
      .where('dataset_id', '=', datasetId)
      .orderBy('tag')
      .execute();
    const out = new Map<number, string[]>();
    for (const r of rows)
      out.set(Number(r.version), [...(out.get(Number(r.version)) ?? []), r.tag]);
    return out;
  }

  async #hydrate(name: string, row: VersionRow, withProfile: boolean): Promise<DatasetVersion> {
    const tags = (await this.#tagsByVersion(row.dataset_id)).get(Number(row.version)) ?? [];
    return {
      ...summary(name, row, tags),
      manifest: JSON.parse(row.manifest) as Manifest,
      schema: JSON.parse(row.schema) as ColumnSchema[],
      parquet:
        row.parquet_sha256 === null
          ? null
          : { sha256: row.parquet_sha256, size: Number(row.parquet_size) },
      engine: row.engine,
      profile: withProfile && row.profile !== null ? (JSON.parse(row.profile) as Profile) : null,
    };
  }
}

function summary(name: string, row: VersionRow, tags: string[]): DatasetVersionSummary {
  return {
    dataset: name,
    version: Number(row.version),
    id: row.id,
    contentHash: row.content_hash,
    format: (row.format ?? 'csv') as DataFormat,
    rowCount: Number(row.row_count),
    columnCount: (JSON.parse(row.schema) as unknown[]).length,
    fileCount: Number(row.file_count ?? 0),
    totalBytes: Number(row.total_bytes ?? 0),
    runId: row.run_id,
    sourceUri: row.source_uri,
    createdAt: Number(row.created_at),
    tags,
  };
}

async function setTag(
  trx: Transaction<Database>,
  datasetId: string,
  tag: string,
  version: number,
  now: number,
): Promise<void> {
  await trx
    .insertInto('dataset_tag')
    .values({ dataset_id: datasetId, tag, version, updated_at: now })
    .onConflict((oc) => oc.columns(['dataset_id', 'tag']).doUpdateSet({ version, updated_at: now }))
    .execute();
}

/** The lineage edge from a version to one derived from it (written once). */
async function derivedEdge(
  trx: Transaction<Database>,
  fromVersionId: string,
  toVersionId: string,
  now: number,
): Promise<void> {
  await trx
    .insertInto('edge')
    .values({
      from_kind: 'dataset_version',
      from_id: fromVersionId,
      to_kind: 'dataset_version',
      to_id: toVersionId,
      relation: 'derived',
      created_at: now,
    })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/**
 * Stages each file in the blob store (hashed as it streams), one after the other; on
 * failure or abort, what was staged is discarded. `signal` stops it when the read failed.
 */
async function stageFiles(
  blobs: BlobStore,
  files: readonly SourceFile[],
  signal: AbortSignal,
): Promise<StagedBlob[]> {
  const staged: StagedBlob[] = [];
  try {
    for (const f of files) {
      signal.throwIfAborted();
      staged.push(await blobs.stage(createReadStream(f.absolute, { signal })));
    }
    return staged;
  } catch (error) {
    await Promise.all(staged.map((blob) => blob.discard()));
    throw error;
  }
}

/**
 * Refuses the add when a file changed while it was read (its size or modification time
 * moved, or the staged bytes are not as long as the file): DuckDB and the staging read
 * it separately, so the version could otherwise hold a copy that disagrees with its file.
 */
async function refuseChanged(
  files: readonly SourceFile[],
  before: readonly Stats[],
  staged: readonly StagedBlob[],
): Promise<void> {
  for (const [i, f] of files.entries()) {
    const now = await stat(f.absolute).catch(() => undefined);
    const was = before[i]!;
    if (
      now === undefined ||
      now.size !== was.size ||
      now.mtimeMs !== was.mtimeMs ||
      staged[i]!.size !== was.size
    )
      throw new MobiusError(
        'CONFLICT',
        `'${f.path}' changed while it was being added; add it again once nothing writes to it`,
      );
  }
}
