/**
 * The one typed configuration loader. Sources, later ones winning:
 * defaults → config file (`mobius.yaml` or `mobius.config.ts`) → environment → flags.
 *
 * This is the only module that looks at environment variables, and even here the
 * environment is passed in, so tests and embedders control it completely.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { MobiusError } from './errors.js';
import {
  MAX_JSON_BODY_BYTES,
  MAX_OPENLINEAGE_TIMEOUT_MS,
  OPENLINEAGE_TIMEOUT_MS,
} from './limits.js';
import { LOG_LEVELS, type LogLevel } from './logger.js';

/** The resolved configuration every part of Mobius receives. */
export interface MobiusConfig {
  /** Directory for embedded state (SQLite file, blobs); absolute. */
  home: string;
  /** `sqlite:<path>` or `postgres://…`. */
  store: string;
  /** `file:<path>` or `s3://bucket[/prefix]`. */
  blobs: string;
  s3: {
    endpoint: string | undefined;
    region: string;
    forcePathStyle: boolean;
    accessKeyId: string | undefined;
    secretAccessKey: string | undefined;
  };
  /** A remote Mobius server the CLI talks to instead of opening the store itself. */
  url: string | undefined;
  /** The admin token; setting it turns auth on. */
  token: string | undefined;
  server: {
    host: string;
    port: number;
    bodyLimit: number;
    /** Extra Host header values accepted besides loopback names ('*' accepts any). */
    allowedHosts: string[];
    /** Origins allowed to send mutations besides the server's own. */
    allowedOrigins: string[];
    /** Require a token on every route. On when `token` is set. */
    auth: boolean;
  };
  log: { level: LogLevel };
  /** Where pipeline runs are reported as OpenLineage RunEvents (docs/pipelines.md). */
  openlineage: OpenLineageConfig;
  registry: {
    /**
     * Aliases that may name only a version whose newest evaluation passed, unless forced
     * (audited); default `production`, `champion` (docs/serving.md, evaluation gate).
     */
    protectedAliases: string[];
  };
  serving: {
    /**
     * The Python interpreter that serves MLflow models out of process (docs/serving.md);
     * it needs mlflow and each model's requirements. A command name or a path.
     */
    python: string;
    /**
     * Days `mobius server` keeps prediction-log records (older ones are deleted hourly);
     * unset keeps them all. Keep it longer than ground truth takes to arrive.
     */
    predictionRetentionDays?: number | undefined;
  };
  /** How pipelines run (docs/pipelines.md, docs/scaling.md). */
  pipelines: PipelinesConfig;
}

/** The resolved `pipelines` section. */
export interface PipelinesConfig {
  /**
   * Where steps run when a run does not say: `local` (this process and its children) or
   * `queue` (`mobius worker` processes through the PostgreSQL queue).
   */
  executor: 'local' | 'queue';
  /** Named pools (`gpu: 1`): how many steps of each may run at once; they win over a pipeline's own sizes. */
  pools: Record<string, number>;
  /**
   * Run command steps under bubblewrap, writable only in their scratch: `auto` when it
   * works on this machine, `on` (a step fails saying why when it cannot), `off`.
   */
  sandbox: 'auto' | 'on' | 'off';
}

/** The resolved `openlineage` section. */
export interface OpenLineageConfig {
  /** `none` sends nothing; `http` POSTs each event; `file` appends NDJSON lines. */
  transport: 'none' | 'http' | 'file';
  /** http: the OpenLineage server's base URL (Marquez: http://host:5000). */
  url: string | undefined;
  /** http: the path events are POSTed to, under `url`. */
  endpoint: string;
  /** http: sent as `Authorization: Bearer <apiKey>`. */
  apiKey: string | undefined;
  /** http: how long one POST may take before it is given up (and logged). */
  timeoutMs: number;
  /** file: the NDJSON file events are appended to; absolute. */
  path: string | undefined;
  /** The OpenLineage namespace of Mobius' jobs and datasets. */
  namespace: string;
}

/** What a config file or the flags may set: every key optional, unknown keys rejected. */
const partialSchema = z.strictObject({
  home: z.string().min(1).optional(),
  store: z.string().min(1).optional(),
  blobs: z.string().min(1).optional(),
  s3: z
    .strictObject({
      endpoint: z.url().optional(),
      region: z.string().min(1).optional(),
      forcePathStyle: z.boolean().optional(),
      accessKeyId: z.string().min(1).optional(),
      secretAccessKey: z.string().min(1).optional(),
    })
    .optional(),
  url: z.url().optional(),
  token: z.string().min(16, 'a token needs at least 16 characters').optional(),
  server: z
    .strictObject({
      host: z.string().min(1).optional(),
      port: z.number().int().min(0).max(65535).optional(),
      bodyLimit: z.number().int().min(1024).optional(),
      allowedHosts: z.array(z.string().min(1)).optional(),
      allowedOrigins: z.array(z.string().min(1)).optional(),
      auth: z.boolean().optional(),
    })
    .optional(),
  log: z.strictObject({ level: z.enum(LOG_LEVELS).optional() }).optional(),
  serving: z
    .strictObject({
      python: z.string().min(1).optional(),
      predictionRetentionDays: z.number().int().min(1).optional(),
    })
    .optional(),
  openlineage: z
    .strictObject({
      transport: z.enum(['none', 'http', 'file']).optional(),
      url: z.url({ protocol: /^https?$/ }).optional(),
      endpoint: z.string().min(1).optional(),
      apiKey: z.string().min(1).optional(),
      timeoutMs: z.number().int().min(1).max(MAX_OPENLINEAGE_TIMEOUT_MS).optional(),
      path: z.string().min(1).optional(),
      namespace: z.string().min(1).max(1000).optional(),
    })
    .optional(),
  pipelines: z
    .strictObject({
      executor: z.enum(['local', 'queue']).optional(),
      sandbox: z.enum(['auto', 'on', 'off']).optional(),
      pools: z
        .record(
          z
            .string()
            .regex(
              /^[A-Za-z][A-Za-z0-9_-]{0,99}$/,
              'a pool name is a letter, then letters, digits, - and _',
            ),
          z.number().int().min(1),
        )
        .optional(),
    })
    .optional(),
  registry: z
    .strictObject({
      protectedAliases: z.array(z.string().min(1).max(255)).optional(),
    })
    .optional(),
});

/** A partial configuration, as a file, the environment or flags give it. */
export type ConfigInput = z.infer<typeof partialSchema>;

type EnvReader = (value: string) => ConfigInput;

/** Environment variables Mobius reads, each mapped onto the config shape. */
const ENV: Record<string, EnvReader> = {
  MOBIUS_HOME: (v) => ({ home: v }),
  MOBIUS_STORE: (v) => ({ store: v }),
  MOBIUS_BLOBS: (v) => ({ blobs: v }),
  MOBIUS_S3_ENDPOINT: (v) => ({ s3: { endpoint: v } }),
  MOBIUS_S3_REGION: (v) => ({ s3: { region: v } }),
  MOBIUS_S3_FORCE_PATH_STYLE: (v) => ({
    s3: { forcePathStyle: strictBool('MOBIUS_S3_FORCE_PATH_STYLE', v) },
  }),
  MOBIUS_URL: (v) => ({ url: v }),
  MOBIUS_TOKEN: (v) => ({ token: v }),
  MOBIUS_HOST: (v) => ({ server: { host: v } }),
  MOBIUS_PORT: (v) => ({ server: { port: strictInt('MOBIUS_PORT', v) } }),
  MOBIUS_AUTH: (v) => ({ server: { auth: strictBool('MOBIUS_AUTH', v) } }),
  MOBIUS_LOG_LEVEL: (v) => ({ log: { level: v as LogLevel } }),
  MOBIUS_PIPELINES_EXECUTOR: (v) => ({ pipelines: { executor: v as 'local' | 'queue' } }),
  MOBIUS_SERVING_PYTHON: (v) => ({ serving: { python: v } }),
  MOBIUS_PREDICTION_RETENTION_DAYS: (v) => ({
    serving: { predictionRetentionDays: strictInt('MOBIUS_PREDICTION_RETENTION_DAYS', v) },
  }),
  // Comma-separated; empty protects no alias.
  MOBIUS_PROTECTED_ALIASES: (v) => ({
    registry: {
      protectedAliases: v
        .split(',')
        .map((a) => a.trim())
        .filter((a) => a !== ''),
    },
  }),
  // The S3 client's standard credential variables, read here so the SDK gets them
  // explicitly instead of reaching into process.env on its own.
  AWS_ACCESS_KEY_ID: (v) => ({ s3: { accessKeyId: v } }),
  AWS_SECRET_ACCESS_KEY: (v) => ({ s3: { secretAccessKey: v } }),
  AWS_REGION: (v) => ({ s3: { region: v } }),
  // The OpenLineage clients' own variables, so one environment configures every emitter.
  MOBIUS_PIPELINES_SANDBOX: (v) => ({ pipelines: { sandbox: v as 'auto' | 'on' | 'off' } }),
  OPENLINEAGE_URL: (v) => ({ openlineage: { url: v } }),
  OPENLINEAGE_ENDPOINT: (v) => ({ openlineage: { endpoint: v } }),
  OPENLINEAGE_API_KEY: (v) => ({ openlineage: { apiKey: v } }),
  OPENLINEAGE_NAMESPACE: (v) => ({ openlineage: { namespace: v } }),
  OPENLINEAGE_DISABLED: (v) =>
    strictBool('OPENLINEAGE_DISABLED', v) ? { openlineage: { transport: 'none' } } : {},
};

/** Names the loader reads but that do not map onto the config shape. */
const ENV_META = new Set(['MOBIUS_CONFIG']);

/** Config file names looked for in the working directory, in this order. */
export const CONFIG_FILES = ['mobius.config.ts', 'mobius.yaml', 'mobius.yml'] as const;

export interface LoadConfigOptions {
  /** Directory relative paths resolve against. */
  cwd: string;
  /** The environment (pass `process.env` from the entry point). */
  env: Readonly<Record<string, string | undefined>>;
  /** Values from command-line flags; they win over everything else. */
  flags?: ConfigInput;
  /** Explicit config file; otherwise `MOBIUS_CONFIG`, then the files in CONFIG_FILES. */
  configFile?: string;
}

/**
 * Loads and validates the configuration.
 *
 * @example
 * const config = await loadConfig({ cwd: process.cwd(), env: process.env });
 */
export async function loadConfig(options: LoadConfigOptions): Promise<MobiusConfig> {
  const { cwd, env } = options;
  const file = findConfigFile(cwd, options.configFile ?? env.MOBIUS_CONFIG);
  const fromFile = file === undefined ? {} : validate(await readConfigFile(file), file);
  const fromEnv = validate(readEnv(env), 'environment');
  const fromFlags = validate(options.flags ?? {}, 'command-line flags');
  const merged = merge(merge(fromFile, fromEnv), fromFlags);
  return resolveConfig(merged, cwd);
}

/** Fills defaults and resolves paths; exported so tests and embedders can skip file and env. */
export function resolveConfig(input: ConfigInput, cwd: string): MobiusConfig {
  const home = resolve(cwd, input.home ?? '.mobius');
  const token = input.token;
  const config: MobiusConfig = {
    home,
    store: resolveLocation(input.store ?? `sqlite:${resolve(home, 'mobius.db')}`, 'sqlite:', cwd),
    blobs: resolveLocation(input.blobs ?? `file:${resolve(home, 'blobs')}`, 'file:', cwd),
    s3: {
      endpoint: input.s3?.endpoint,
      region: input.s3?.region ?? 'us-east-1',
      // A custom endpoint (MinIO, SeaweedFS, …) almost always needs path-style addressing.
      forcePathStyle: input.s3?.forcePathStyle ?? input.s3?.endpoint !== undefined,
      accessKeyId: input.s3?.accessKeyId,
      secretAccessKey: input.s3?.secretAccessKey,
    },
    url: input.url,
    token,
    server: {
      host: input.server?.host ?? '127.0.0.1',
      port: input.server?.port ?? 4600,
      bodyLimit: input.server?.bodyLimit ?? MAX_JSON_BODY_BYTES,
      allowedHosts: input.server?.allowedHosts ?? [],
      allowedOrigins: input.server?.allowedOrigins ?? [],
      auth: input.server?.auth ?? token !== undefined,
    },
    log: { level: input.log?.level ?? 'info' },
    openlineage: resolveOpenLineage(input.openlineage ?? {}, cwd),
    pipelines: {
      executor: input.pipelines?.executor ?? 'local',
      pools: { ...input.pipelines?.pools },
      sandbox: input.pipelines?.sandbox ?? 'auto',
    },
    // A relative path (./venv/bin/python) is taken from the working directory; a bare
    // name (python3) is looked up on PATH when the runtime starts.
    serving: {
      python: resolveProgram(input.serving?.python ?? 'python3', cwd),
      predictionRetentionDays: input.serving?.predictionRetentionDays,
    },
    registry: {
      protectedAliases: input.registry?.protectedAliases ?? ['production', 'champion'],
    },
  };
  checkLocations(config);
  return config;
}

/** The transport is the one asked for, or the one the given url/path implies. */
function resolveOpenLineage(
  input: NonNullable<ConfigInput['openlineage']>,
  cwd: string,
): OpenLineageConfig {
  if (input.transport === undefined && input.url !== undefined && input.path !== undefined)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      "openlineage has both 'url' and 'path': set 'openlineage.transport' to 'http' or 'file' to say which one to use",
    );
  const transport =
    input.transport ??
    (input.url !== undefined ? 'http' : input.path !== undefined ? 'file' : 'none');
  if (transport === 'http' && input.url === undefined)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      "openlineage.transport is 'http' but 'openlineage.url' is not set: give the OpenLineage server's base URL (or OPENLINEAGE_URL), e.g. http://localhost:5000",
    );
  if (transport === 'file' && input.path === undefined)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      "openlineage.transport is 'file' but 'openlineage.path' is not set: give the file events are appended to, e.g. lineage.ndjson",
    );
  return {
    transport,
    url: input.url,
    endpoint: input.endpoint ?? 'api/v1/lineage',
    apiKey: input.apiKey,
    timeoutMs: input.timeoutMs ?? OPENLINEAGE_TIMEOUT_MS,
    path: input.path === undefined ? undefined : resolve(cwd, input.path),
    namespace: input.namespace ?? 'mobius',
  };
}

function findConfigFile(cwd: string, explicit: string | undefined): string | undefined {
  if (explicit !== undefined) {
    const path = resolve(cwd, explicit);
    if (!existsSync(path)) {
      throw new MobiusError('INVALID_ARGUMENT', `config file ${path} does not exist`);
    }
    return path;
  }
  const found = CONFIG_FILES.map((name) => resolve(cwd, name)).filter((p) => existsSync(p));
  if (found.length > 1) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `found both ${found.join(' and ')}: keep one config file so it is clear which one applies`,
    );
  }
  return found[0];
}

async function readConfigFile(path: string): Promise<unknown> {
  try {
    if (path.endsWith('.ts')) {
      // Loaded only for TypeScript configs: jiti costs ~50 ms at start-up.
      const { createJiti } = await import('jiti');
      const jiti = createJiti(import.meta.url, { moduleCache: false });
      return await jiti.import(path, { default: true });
    }
    return parseYaml(readFileSync(path, 'utf8')) ?? {};
  } catch (cause) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `could not read config file ${path}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

function readEnv(env: Readonly<Record<string, string | undefined>>): ConfigInput {
  let out: ConfigInput = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const reader = ENV[name];
    if (reader !== undefined) {
      out = merge(out, reader(value));
    } else if (name.startsWith('MOBIUS_') && !ENV_META.has(name)) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `unknown environment variable ${name}; Mobius reads ${[...Object.keys(ENV), ...ENV_META].filter((n) => n.startsWith('MOBIUS_')).join(', ')}`,
      );
    }
  }
  return out;
}

function validate(input: unknown, source: string): ConfigInput {
  const parsed = partialSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const at = issue.path.length > 0 ? `${issue.path.join('.')}.` : '';
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${at}${k}'`).join(', ')}`;
    }
    return `'${issue.path.join('.')}': ${issue.message}`;
  });
  throw new MobiusError(
    'INVALID_ARGUMENT',
    `invalid configuration in ${source}: ${problems.join('; ')}`,
  );
}

function strictBool(name: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new MobiusError('INVALID_ARGUMENT', `${name} must be 'true' or 'false', not '${value}'`);
}

function strictInt(name: string, value: string): number {
  if (!/^\d+$/.test(value)) {
    throw new MobiusError('INVALID_ARGUMENT', `${name} must be a whole number, not '${value}'`);
  }
  return Number(value);
}

/** Deep-merges plain objects; arrays and scalars from `b` replace those in `a`. */
function merge<T extends object>(a: T, b: T): T {
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [key, value] of Object.entries(b)) {
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? merge(prev, value) : value;
  }
  return out as T;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A program given with a '/' is a path (made absolute); a bare name stays for PATH lookup. */
function resolveProgram(value: string, cwd: string): string {
  return value.includes('/') ? resolve(cwd, value) : value;
}

/** Makes a relative `sqlite:`/`file:` path absolute; other schemes pass through. */
function resolveLocation(value: string, localScheme: string, cwd: string): string {
  if (!value.startsWith(localScheme)) return value;
  const path = value.slice(localScheme.length);
  return `${localScheme}${isAbsolute(path) ? path : resolve(cwd, path)}`;
}

function checkLocations(config: MobiusConfig): void {
  if (!/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(config.store)) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `store '${config.store}' is not understood: use sqlite:<path> or postgres://user@host/db`,
    );
  }
  if (!/^(file:.+|s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?)$/.test(config.blobs)) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `blobs '${config.blobs}' is not understood: use file:<path> or s3://bucket/prefix`,
    );
  }
}
