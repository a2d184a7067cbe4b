/**
 * What `data add <file|dir|glob>` reads: the files behind the argument, each with the
 * path it will have inside the version (relative to the directory given, or to the
 * glob's fixed leading directories), checked so nothing outside that root is read.
 * Security checklist 2 (REFERENCE.md): a symlink that leaves the root is refused, never
 * followed. Files and directories whose names start with '.' or '_' are skipped, as
 * Arrow and Spark skip `.DS_Store`, `_SUCCESS` and `_metadata`.
 */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { MobiusError, limits } from '../core/index.js';
import { sqlString, type Engine } from '../engine/index.js';
import type { DataFormat } from './types.js';

/** A file to add: where it is now, and its path inside the version. */
export interface SourceFile {
  absolute: string;
  path: string;
  size: number;
}

/** The files behind one `data add` argument, all of one format. */
export interface ResolvedSource {
  /** The directory every file sits below (real path). */
  root: string;
  files: SourceFile[];
  format: DataFormat;
}

const EXTENSIONS: readonly [RegExp, DataFormat][] = [
  [/\.(csv|tsv)(\.gz)?$/i, 'csv'],
  [/\.(parquet|pq)$/i, 'parquet'],
  [/\.(json|ndjson|jsonl)(\.gz)?$/i, 'json'],
];

/** The format a file name implies, or undefined. */
export function formatOf(path: string): DataFormat | undefined {
  return EXTENSIONS.find(([pattern]) => pattern.test(path))?.[1];
}

const isGlob = (s: string) => /[*?[]/.test(s);
const skipped = (name: string) => name.startsWith('.') || name.startsWith('_');

/**
 * Resolves `source` (a file, a directory, or a glob such as `data/2024-*.csv`) against
 * `cwd` into the files to add, or throws INVALID_ARGUMENT saying what to fix.
 */
export async function resolveSource(
  source: string,
  cwd: string,
  engine: Engine,
  format?: DataFormat,
): Promise<ResolvedSource> {
  if (source.trim() === '')
    throw new MobiusError('INVALID_ARGUMENT', 'give a file, directory or glob to add');
  const absolute = isAbsolute(source) ? source : resolve(cwd, source);
  let root: string;
  let candidates: string[];
  if (isGlob(source)) {
    const segments = absolute.split(sep);
    const firstGlob = segments.findIndex(isGlob);
    const base = segments.slice(0, firstGlob).join(sep) || sep;
    root = await realRoot(base, source);
    const pattern = join(root, ...segments.slice(firstGlob));
    candidates = (
      await engine.withSession({ directories: [root] }, (s) =>
        s.rows<{ file: string }>(`select file from glob(${sqlString(pattern)}) order by file`),
      )
    )
      .map((r) => r.file)
      .filter((f) => !relative(root, f).split(sep).some(skipped));
    if (candidates.length === 0)
      throw new MobiusError('INVALID_ARGUMENT', `no files match '${source}'`);
  } else {
    const info = await stat(absolute).catch(() => undefined);
    if (info === undefined) throw new MobiusError('INVALID_ARGUMENT', `'${source}' does not exist`);
    if (info.isDirectory()) {
      root = await realRoot(absolute, source);
      candidates = await walk(root, root);
      if (candidates.length === 0)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `directory '${source}' holds no files (names starting with '.' or '_' are skipped)`,
        );
    } else {
      const real = await realpath(absolute);
      root = resolve(real, '..');
      candidates = [real];
    }
  }
  if (candidates.length > limits.MAX_DATASET_FILES) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `'${source}' holds ${candidates.length} files; a version takes at most ${limits.MAX_DATASET_FILES}: compact them or add parts as separate datasets`,
    );
  }

  const files: SourceFile[] = [];
  for (const candidate of candidates) {
    const real = await insideRoot(candidate, root, relative(root, candidate) || candidate);
    const info = await stat(real);
    if (!info.isFile())
      throw new MobiusError('INVALID_ARGUMENT', `'${candidate}' is not a regular file`);
    const path = relative(root, candidate).split(sep).join('/') || basename(candidate);
    if (info.size === 0)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `file '${path}' is empty (0 bytes); remove it or fill it, since an empty file has no header or schema to read`,
      );
    files.push({ absolute: real, path, size: info.size });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { root, files, format: format ?? singleFormat(files, source) };
}

async function realRoot(dir: string, source: string): Promise<string> {
  const info = await stat(dir).catch(() => undefined);
  if (info?.isDirectory() !== true)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `directory '${dir}' (from '${source}') does not exist`,
    );
  return realpath(dir);
}

/** Every non-skipped file below `dir`; symlinks are checked, never followed out of `root`. */
async function walk(dir: string, root: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of entries) {
    if (skipped(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path, root)));
    else if (entry.isSymbolicLink()) {
      const target = await insideRoot(path, root, relative(root, path));
      if ((await stat(target)).isDirectory())
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `'${relative(root, path)}' is a symlink to a directory; symlinked directories are not followed: add the directory itself`,
        );
      out.push(path);
    } else out.push(path);
  }
  return out;
}

/** The real path of `path`, refused unless it lies inside `root` (a symlink out is an escape). */
async function insideRoot(path: string, root: string, shown: string): Promise<string> {
  const real = await realpath(path).catch(() => {
    throw new MobiusError('INVALID_ARGUMENT', `'${shown}' is a broken symlink`);
  });
  const rel = relative(root, real);
  if (rel.startsWith('..') || isAbsolute(rel)) {
    const link = (await lstat(path)).isSymbolicLink() ? 'is a symlink that points' : 'resolves';
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `'${shown}' ${link} outside the directory being added (to '${real}'); copy the file in instead of linking to it`,
    );
  }
  return real;
}

function singleFormat(files: SourceFile[], source: string): DataFormat {
  const formats = new Map<DataFormat, string>();
  for (const f of files) {
    const format = formatOf(f.path);
    if (format === undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `'${f.path}' is not a CSV, Parquet or JSON file by its extension (.csv, .tsv, .parquet, .json, .ndjson, .jsonl); pass --format, or narrow '${source}' with a glob`,
      );
    if (!formats.has(format)) formats.set(format, f.path);
  }
  if (formats.size > 1)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `'${source}' mixes formats (${[...formats].map(([fmt, p]) => `${fmt}: ${p}`).join(', ')}); a version holds files of one format`,
    );
  return [...formats.keys()][0]!;
}
