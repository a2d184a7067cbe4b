/**
 * `mobius data …`: add, list, inspect, fetch, tag and compare dataset versions. Like
 * `runs …` these open the store directly; remote mode (MOBIUS_URL) is refused rather than
 * silently reading another store (the server's /api/v1/datasets routes are the remote way).
 */
import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { MobiusError } from '../core/index.js';
import {
  CSV_ENCODINGS,
  DATA_FORMATS,
  DEFAULT_PII_THRESHOLD,
  type MaskAction,
  type MaskResult,
  type PiiReport,
  type ColumnProfile,
  type CsvEncoding,
  type DataFormat,
  type DatasetDiff,
  type DatasetVersion,
  type DatasetVersionSummary,
} from '../data/index.js';
import { emit, table } from './output.js';
import { formatTime, withLocalContext, type CommandDeps } from './run-commands.js';

/**
 * The command deps plus the directory relative paths are resolved against, and the
 * process environment (read only by name, for `data mask --salt-env`).
 */
export interface DataCommandDeps extends CommandDeps {
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
}

/** Adds `mobius data add|ls|log|show|get|diff|pii|mask|tag|untag` to `program`. */
export function registerDataCommands(program: Command, deps: DataCommandDeps): void {
  const data = program
    .command('data')
    .description('dataset versions: add files as immutable versions, inspect, fetch, compare');

  data
    .command('add <name> <source>')
    .description(
      'add a file, directory or glob (CSV, Parquet, JSON/NDJSON) as the next version of <name>',
    )
    .addOption(new Option('--format <format>', 'read files as this format').choices(DATA_FORMATS))
    .addOption(
      new Option('--encoding <encoding>', 'CSV text encoding (default utf-8)').choices(
        CSV_ENCODINGS,
      ),
    )
    .option('--sample-all', 'detect CSV column types from every row (slower; never guesses wrong)')
    .option('--run <runId>', 'the run that produced the data (recorded as lineage)')
    .action(
      async (
        name: string,
        source: string,
        options: { format?: DataFormat; encoding?: CsvEncoding; sampleAll?: boolean; run?: string },
        command: Command,
      ) => {
        const json = deps.json(command);
        const started = performance.now();
        const result = await withLocalContext(await deps.config(command), 'data add', (ctx) =>
          ctx.data.add({
            name,
            source,
            cwd: deps.cwd,
            ...(options.format === undefined ? {} : { format: options.format }),
            ...(options.encoding === undefined ? {} : { encoding: options.encoding }),
            ...(options.sampleAll === true ? { sampleAll: true } : {}),
            ...(options.run === undefined ? {} : { runId: options.run }),
            onStage: (stage) => {
              if (!json) process.stderr.write(`${stage}…\n`);
            },
          }),
        );
        const v = result.version;
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        emit(json, { created: result.created, version: withoutProfile(v) }, () =>
          result.created
            ? `added ${v.dataset}@${v.version} (${v.contentHash.slice(0, 12)}): ${v.rowCount} rows × ${v.columnCount} columns from ${v.fileCount} file${v.fileCount === 1 ? '' : 's'} (${bytes(v.totalBytes)}) in ${seconds} s`
            : `unchanged: ${v.dataset}@${v.version} (${v.contentHash.slice(0, 12)}) already holds this content`,
        );
      },
    );

  data
    .command('ls')
    .description('list datasets with their newest version and tags')
    .action(async (_options: unknown, command: Command) => {
      const list = await withLocalContext(await deps.config(command), 'data ls', (ctx) =>
        ctx.data.list(),
      );
      emit(deps.json(command), { datasets: list }, () =>
        table(
          ['NAME', 'LATEST', 'TAGS', 'UPDATED'],
          list.map((d) => [
            d.name,
            String(d.latestVersion),
            Object.entries(d.tags)
              .map(([t, v]) => `${t}=${v}`)
              .join(' '),
            d.updatedAt === null ? '' : formatTime(d.updatedAt),
          ]),
        ),
      );
    });

  data
    .command('log <name>')
    .description('list the versions of a dataset, newest first')
    .action(async (name: string, _options: unknown, command: Command) => {
      const versions = await withLocalContext(await deps.config(command), 'data log', (ctx) =>
        ctx.data.log(name),
      );
      emit(deps.json(command), { versions }, () => logTable(versions));
    });

  data
    .command('show <ref>')
    .description('show a version (<name>@<number|hash|tag>): files, schema and column profile')
    .action(async (ref: string, _options: unknown, command: Command) => {
      const version = await withLocalContext(await deps.config(command), 'data show', (ctx) =>
        ctx.data.get(ref),
      );
      emit(deps.json(command), version, () => versionDetails(version));
    });

  data
    .command('get <ref>')
    .description("write a version's files (or its Parquet copy) into a directory")
    .requiredOption('-o, --out <dir>', 'directory to write into (files must not exist yet)')
    .option('--parquet', "write the version's canonical Parquet copy instead of its files")
    .action(async (ref: string, options: { out: string; parquet?: boolean }, command: Command) => {
      const got = await withLocalContext(await deps.config(command), 'data get', (ctx) =>
        ctx.data.download(ref, resolve(deps.cwd, options.out), {
          parquet: options.parquet === true,
        }),
      );
      emit(
        deps.json(command),
        { dataset: got.version.dataset, version: got.version.version, files: got.files },
        () =>
          `wrote ${got.files.length} file${got.files.length === 1 ? '' : 's'} of ${got.version.dataset}@${got.version.version} to ${options.out}:\n${got.files.map((f) => `  ${f.path} (${bytes(f.size)})`).join('\n')}`,
      );
    });

  data
    .command('diff <from> <to>')
    .description(
      'compare two versions: schema, row count, column statistics, and rows by --key (<to> may be @<version> of the same dataset)',
    )
    .option('-k, --key <columns>', 'comma-separated key columns for a row-level diff')
    .action(async (from: string, to: string, options: { key?: string }, command: Command) => {
      const toRef = to.startsWith('@') ? `${from.split('@')[0]}${to}` : to;
      const key = options.key
        ?.split(',')
        .map((k) => k.trim())
        .filter((k) => k !== '');
      const diff = await withLocalContext(await deps.config(command), 'data diff', (ctx) =>
        ctx.data.diff(from, toRef, key === undefined ? {} : { key }),
      );
      emit(deps.json(command), diff, () => diffText(diff));
    });

  data
    .command('pii <ref>')
    .description(
      'scan the string columns of a version for e-mails, phones, card numbers, IBANs and IP addresses',
    )
    .option(
      '--threshold <fraction>',
      `flag a column when this fraction of its non-null values match (default ${DEFAULT_PII_THRESHOLD})`,
    )
    .action(async (ref: string, options: { threshold?: string }, command: Command) => {
      const threshold = options.threshold === undefined ? undefined : Number(options.threshold);
      const report = await withLocalContext(await deps.config(command), 'data pii', (ctx) =>
        ctx.data.pii(ref, threshold === undefined ? {} : { threshold }),
      );
      emit(deps.json(command), report, () => piiText(report));
    });

  data
    .command('mask <ref>')
    .description(
      'write a new version with columns hashed (sha256 of salt + value) or redacted, linked to its source',
    )
    .option(
      '--hash <columns>',
      'comma-separated columns to replace by the hex sha256 of salt + value',
    )
    .option('--redact <columns>', `comma-separated columns to replace by '[REDACTED]'`)
    .option(
      '--salt-env <variable>',
      'environment variable holding the salt (kept out of shell history); without one, hashes of guessable values can be reversed',
    )
    .option('--to <name>', "dataset to add the masked version to (default: the source's)")
    .option('--run <runId>', 'the run that masked the data (recorded as lineage)')
    .action(
      async (
        ref: string,
        options: { hash?: string; redact?: string; saltEnv?: string; to?: string; run?: string },
        command: Command,
      ) => {
        // A Map, so a column named like an Object property (__proto__) is just a name.
        const chosen = new Map<string, MaskAction>();
        for (const action of ['hash', 'redact'] as const)
          for (const column of splitList(options[action])) {
            if (chosen.has(column) && chosen.get(column) !== action)
              throw new MobiusError(
                'INVALID_ARGUMENT',
                `column '${column}' is given to both --hash and --redact; choose one`,
              );
            chosen.set(column, action);
          }
        const columns = Object.fromEntries(chosen);
        if (Object.keys(columns).length === 0)
          throw new MobiusError(
            'INVALID_ARGUMENT',
            'nothing to mask: pass --hash col1,col2 and/or --redact col3',
          );
        let salt: string | undefined;
        if (options.saltEnv !== undefined) {
          salt = deps.env[options.saltEnv];
          if (salt === undefined || salt === '')
            throw new MobiusError(
              'INVALID_ARGUMENT',
              `environment variable ${options.saltEnv} (--salt-env) is not set or empty; export it with the salt first`,
            );
        } else if (Object.values(columns).includes('hash') && !deps.json(command))
          process.stderr.write(
            'warning: hashing without a salt (--salt-env): anyone can hash guessable values (e-mails, phone numbers) and match them\n',
          );
        const result = await withLocalContext(await deps.config(command), 'data mask', (ctx) =>
          ctx.data.mask(ref, {
            columns,
            ...(salt === undefined ? {} : { salt }),
            ...(options.to === undefined ? {} : { to: options.to }),
            ...(options.run === undefined ? {} : { runId: options.run }),
          }),
        );
        emit(
          deps.json(command),
          {
            created: result.created,
            version: withoutProfile(result.version),
            source: result.source,
          },
          () => maskText(result),
        );
      },
    );

  data
    .command('tag <ref> <tag>')
    .description('point a tag at a version (moving it if it exists), e.g. data tag churn@3 prod')
    .action(async (ref: string, tag: string, _options: unknown, command: Command) => {
      const v = await withLocalContext(await deps.config(command), 'data tag', (ctx) =>
        ctx.data.tag(ref, tag),
      );
      emit(deps.json(command), v, () => `${v.dataset}@${tag} → version ${v.version}`);
    });

  data
    .command('untag <name> <tag>')
    .description('remove a tag from a dataset')
    .action(async (name: string, tag: string, _options: unknown, command: Command) => {
      await withLocalContext(await deps.config(command), 'data untag', (ctx) =>
        ctx.data.untag(name, tag),
      );
      emit(
        deps.json(command),
        { dataset: name, tag, removed: true },
        () => `removed ${name}@${tag}`,
      );
    });
}

const splitList = (text: string | undefined): string[] =>
  (text ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');

function piiText(r: PiiReport): string {
  const out: string[] = [];
  const pct = (p: number) => `${p.toFixed(p < 10 ? 2 : 1)}%`;
  const scanned = `${r.columns.length} string column${r.columns.length === 1 ? '' : 's'} of ${r.dataset}@${r.version} (${r.rowCount} rows)`;
  const flagged = r.columns.filter((c) => c.flagged.length > 0);
  out.push(
    flagged.length === 0
      ? `no column flagged at ${pct(r.threshold * 100)} of its values in ${scanned}`
      : `${flagged.length} of ${scanned} flagged (at ${pct(r.threshold * 100)} of non-null values or more):`,
  );
  for (const c of flagged) {
    out.push('', `${c.name} (${c.type}): ${c.nonNull} non-null of ${c.rows} rows`);
    out.push(
      table(
        ['KIND', 'VALUES', 'PERCENT', 'EXAMPLES (MASKED)'],
        c.kinds
          .filter((k) => k.matches > 0)
          .map((k) => [
            `${k.kind}${k.flagged ? '' : ' (below threshold)'}`,
            String(k.matches),
            pct(k.percent),
            k.examples.join('  '),
          ]),
      )
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  const below = r.columns.filter(
    (c) => c.flagged.length === 0 && c.kinds.some((k) => k.matches > 0),
  );
  if (below.length > 0) {
    out.push('', 'below the threshold:');
    for (const c of below)
      out.push(
        `  ${c.name}: ${c.kinds
          .filter((k) => k.matches > 0)
          .map((k) => `${k.kind} in ${k.matches} values (${pct(k.percent)})`)
          .join(', ')}`,
      );
  }
  if (r.notScanned.length > 0)
    out.push(
      '',
      `not scanned (not strings): ${r.notScanned
        .slice(0, 20)
        .map((c) => `${c.name} ${c.type}`)
        .join(', ')}${r.notScanned.length > 20 ? ', …' : ''}`,
    );
  return out.join('\n');
}

function maskText(r: MaskResult): string {
  const v = r.version;
  const from = `${r.source.dataset}@${r.source.version}`;
  return r.created
    ? `masked ${from} → ${v.dataset}@${v.version} (${v.contentHash.slice(0, 12)}): ${v.rowCount} rows × ${v.columnCount} columns; ${from} is unchanged`
    : `unchanged: ${v.dataset}@${v.version} (${v.contentHash.slice(0, 12)}) already holds ${from} masked this way`;
}

function withoutProfile(v: DatasetVersion): Omit<DatasetVersion, 'profile'> {
  const { profile, ...rest } = v;
  void profile;
  return rest;
}

function bytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function logTable(versions: DatasetVersionSummary[]): string {
  return table(
    ['VERSION', 'HASH', 'ROWS', 'COLUMNS', 'FILES', 'SIZE', 'TAGS', 'CREATED', 'RUN'],
    versions.map((v) => [
      String(v.version),
      v.contentHash.slice(0, 12),
      String(v.rowCount),
      String(v.columnCount),
      String(v.fileCount),
      bytes(v.totalBytes),
      v.tags.join(' '),
      formatTime(v.createdAt),
      v.runId ?? '',
    ]),
  );
}

const show = (value: unknown): string => {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number')
    return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  return typeof value === 'string' ? value : JSON.stringify(value);
};

function profileRow(c: ColumnProfile): string[] {
  const top = (c.topValues ?? [])
    .slice(0, 3)
    .map((t) => `${t.value.slice(0, 16)}(${t.count})`)
    .join(' ');
  return [
    c.name,
    c.type,
    show(c.nullCount),
    `${c.distinctExact ? '' : '~'}${show(c.approxDistinct)}`,
    show(c.min).slice(0, 24),
    show(c.max).slice(0, 24),
    show(c.mean),
    show(c.stddev),
    top,
  ];
}

function versionDetails(v: DatasetVersion): string {
  const lines = [
    `${v.dataset}@${v.version}  ${v.contentHash}`,
    `  tags:     ${v.tags.join(' ') || '(none)'}`,
    `  created:  ${formatTime(v.createdAt)}${v.runId === null ? '' : `  by run ${v.runId}`}`,
    `  format:   ${v.format}  ${v.rowCount} rows × ${v.columnCount} columns  ${v.fileCount} files, ${bytes(v.totalBytes)}`,
    `  source:   ${v.sourceUri ?? ''}`,
    `  engine:   ${v.engine ?? ''}`,
    '',
    'files:',
    ...v.manifest.files
      .slice(0, 50)
      .map((f) => `  ${f.path}  ${bytes(f.size)}  ${f.sha256.slice(0, 12)}`),
    ...(v.manifest.files.length > 50 ? [`  … ${v.manifest.files.length - 50} more`] : []),
    '',
    'columns:',
    table(
      ['NAME', 'TYPE', 'NULLS', 'DISTINCT', 'MIN', 'MAX', 'MEAN', 'STDDEV', 'TOP'],
      (v.profile?.columns ?? []).map(profileRow),
    ),
  ];
  return lines.join('\n');
}

function diffText(d: DatasetDiff): string {
  const name = (s: DatasetDiff['from']) => `${s.dataset}@${s.version}`;
  const out = [`${name(d.from)} → ${name(d.to)}${d.sameContent ? ' (same content)' : ''}`];
  const sign = (n: number) => (n > 0 ? `+${n}` : String(n));
  out.push(`rows: ${d.rowCount.from} → ${d.rowCount.to} (${sign(d.rowCount.change)})`);
  const s = d.schema;
  if (s.added.length + s.removed.length + s.typeChanged.length === 0 && !s.reordered)
    out.push('schema: unchanged');
  else {
    out.push('schema:');
    for (const c of s.added) out.push(`  + ${c.name} ${c.type}`);
    for (const c of s.removed) out.push(`  - ${c.name} ${c.type}`);
    for (const c of s.typeChanged) out.push(`  ~ ${c.name} ${c.from} → ${c.to}`);
    if (s.reordered) out.push('  columns reordered');
  }
  if (d.columns.length > 0) {
    out.push('statistics:');
    out.push(
      table(
        ['COLUMN', 'STATISTIC', 'FROM', 'TO', 'CHANGE'],
        d.columns.flatMap((c) =>
          c.changes.map((x) => [c.name, x.stat, show(x.from), show(x.to), show(x.change)]),
        ),
      )
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  const r = d.rows;
  if (r !== null) {
    out.push(
      `rows by key (${r.key.join(', ')}): ${r.added} added, ${r.removed} removed, ${r.changed} changed, ${r.unchanged} unchanged`,
    );
    for (const [column, n] of Object.entries(r.changedByColumn))
      out.push(`  ${column}: changed in ${n} rows`);
    for (const c of r.samples.changed.slice(0, 5))
      out.push(
        `  ~ ${JSON.stringify(c.key)}: ${c.changes.map((x) => `${x.column} ${x.from ?? 'null'} → ${x.to ?? 'null'}`).join(', ')}`,
      );
    for (const row of r.samples.added.slice(0, 5)) out.push(`  + ${JSON.stringify(row)}`);
    for (const row of r.samples.removed.slice(0, 5)) out.push(`  - ${JSON.stringify(row)}`);
  }
  return out.join('\n');
}
