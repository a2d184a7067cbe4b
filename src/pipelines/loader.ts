/**
 * Finding and loading pipeline files: a TypeScript or JavaScript module whose default
 * export is a `pipeline(…)` (TypeScript loaded with jiti, as the config loader does), or
 * a YAML file in the `parsePipelineYaml` shape. `mobius run`, triggers, schedules and
 * workers all load pipelines through `loadPipeline`.
 *
 * Pipeline files are found by name: `pipeline.{ts,js,mjs,yaml,yml}` and
 * `*.pipeline.{ts,js,mjs,yaml,yml}` in the project directory and in its `pipelines/`
 * folder. `mobius.yaml` is the config file (core/config.ts rejects unknown keys), so a
 * YAML pipeline lives in `<name>.pipeline.yaml` instead; an explicit path to any `.yaml`
 * file is loaded as a pipeline.
 */
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MobiusError } from '../core/index.js';
import { resolvePools, type PipelineDefinition } from './definition.js';
import { parsePipelineYaml } from './yaml-definition.js';

/** A pipeline file found in a project. */
export interface DiscoveredPipeline {
  /** The pipeline's name (from the file's definition). */
  name: string;
  /** Absolute path of the file. */
  path: string;
}

const EXTENSIONS = ['ts', 'js', 'mjs', 'yaml', 'yml'];
const FILE_PATTERN = new RegExp(
  `^(?:pipeline|[A-Za-z0-9_.-]+\\.pipeline)\\.(?:${EXTENSIONS.join('|')})$`,
);

/**
 * Loads a pipeline from a file path, or by name from the project's pipeline files.
 *
 * @example
 * const p = await loadPipeline('train', { cwd: projectDir });
 * const q = await loadPipeline('pipelines/etl.pipeline.ts', { cwd: projectDir });
 */
export async function loadPipeline(
  pathOrName: string,
  options: LoadPipelineOptions,
): Promise<PipelineDefinition> {
  return (await loadPipelineFile(pathOrName, options)).pipeline;
}

export interface LoadPipelineOptions {
  cwd: string;
  /**
   * The pools the config defines (`pipelines.pools`): when given, a step naming a pool
   * neither the pipeline nor these define is an error at load.
   */
  pools?: Readonly<Record<string, number>>;
}

/**
 * `loadPipeline`, also saying which file the pipeline came from (queue workers import it
 * to run TypeScript steps).
 *
 * @example
 * const { pipeline, path } = await loadPipelineFile('train', { cwd: projectDir });
 */
export async function loadPipelineFile(
  pathOrName: string,
  options: LoadPipelineOptions,
): Promise<{ pipeline: PipelineDefinition; path: string }> {
  const found = await findPipeline(pathOrName, options.cwd);
  if (options.pools !== undefined) resolvePools(found.pipeline, options.pools);
  return found;
}

async function findPipeline(
  pathOrName: string,
  cwd: string,
): Promise<{ pipeline: PipelineDefinition; path: string }> {
  const options = { cwd };
  const asPath = resolve(options.cwd, pathOrName);
  if (existsSync(asPath)) return { pipeline: await loadFile(asPath), path: asPath };
  if (/[\\/]/.test(pathOrName) || /\.(?:ts|js|mjs|ya?ml)$/.test(pathOrName))
    throw new MobiusError('NOT_FOUND', `pipeline file '${asPath}' does not exist`);
  const files = await pipelineFiles(options.cwd);
  // Fast path: `<name>.pipeline.<ext>` names its pipeline, so no other file is loaded.
  const named = files.filter((f) => basename(f).replace(/\.pipeline\.[a-z]+$/, '') === pathOrName);
  for (const file of [...named, ...files.filter((f) => !named.includes(f))]) {
    const p = await loadFile(file);
    if (p.name === pathOrName) return { pipeline: p, path: file };
  }
  throw new MobiusError(
    'NOT_FOUND',
    files.length === 0
      ? `no pipeline '${pathOrName}': ${options.cwd} has no pipeline files (pipeline.ts or *.pipeline.{ts,yaml} here or in pipelines/); 'mobius init' creates one`
      : `no pipeline '${pathOrName}' in ${files.map((f) => relative(options.cwd, f)).join(', ')}; give its file path or one of the names 'mobius pipelines discover' shows`,
  );
}

/** The pipelines defined in the project at `cwd`, by name. Loading a file runs its module. */
export async function discoverPipelines(cwd: string): Promise<DiscoveredPipeline[]> {
  const found: DiscoveredPipeline[] = [];
  for (const path of await pipelineFiles(cwd)) {
    const p = await loadFile(path);
    found.push({ name: p.name, path });
  }
  return found;
}

async function pipelineFiles(cwd: string): Promise<string[]> {
  const files: string[] = [];
  for (const dir of [cwd, join(cwd, 'pipelines')]) {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries)
      if (e.isFile() && FILE_PATTERN.test(e.name) && !e.name.endsWith('.d.ts'))
        files.push(join(dir, e.name));
  }
  return files.sort();
}

async function loadFile(path: string): Promise<PipelineDefinition> {
  if (/\.ya?ml$/.test(path)) return parsePipelineYaml(await readFile(path, 'utf8'), path);
  if (!/\.(?:ts|js|mjs|cjs|mts)$/.test(path))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `'${path}' is not a pipeline file: give a .ts, .js or .yaml file`,
    );
  let loaded: unknown;
  try {
    const { createJiti } = await import('jiti');
    // `import … from 'mobius'` in a project without Mobius installed resolves to this
    // Mobius's pipeline API (the door of this folder).
    const jiti = createJiti(import.meta.url, { moduleCache: false, alias: { mobius: doorPath() } });
    loaded = await jiti.import(path);
  } catch (error) {
    if ((error as { name?: unknown }).name === 'MobiusError') throw error;
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `could not load pipeline file ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const module = loaded as { default?: unknown; pipeline?: unknown };
  const candidate = module.default ?? module.pipeline;
  if (!isPipeline(candidate))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${path} does not export a pipeline: end it with 'export default pipeline("name", { steps: [...] })'`,
    );
  return candidate;
}

function isPipeline(value: unknown): value is PipelineDefinition {
  const v = value as Partial<PipelineDefinition> | null | undefined;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.name === 'string' &&
    Array.isArray(v.steps) &&
    typeof v.params === 'object'
  );
}

/** This folder's index: `index.js` when built, `index.ts` when run from source (tests). */
function doorPath(): string {
  const js = fileURLToPath(new URL('./index.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('./index.ts', import.meta.url));
}
