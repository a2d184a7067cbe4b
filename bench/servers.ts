/** Servers for benchmarks: Mobius or MLflow on a fresh directory and a free loopback port, started, waited for and stopped the same way by every bench. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once `url`/health answers 2xx; fails if `child` exits or 60 s pass. */
export async function waitHealthy(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error(`${url}: not healthy after 60 s`);
}

/**
 * Kills a server and every process it started: MLflow's uvicorn workers outlive a killed
 * parent and keep a core busy. Spawn servers with `detached: true` so each leads its own
 * process group, which this kills whole.
 */
export function stopServer(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/** Which server a benchmark talks to: Mobius from `src/` (through tsx, no build needed), Mobius from `dist/` (the shipped CLI), or MLflow's own `mlflow server` on SQLite. */
export type BenchServer = 'mobius-source' | 'mobius-dist' | 'mlflow';

const CLI_SOURCE = new URL('../src/cli/index.ts', import.meta.url).href;
const CLI_DIST = fileURLToPath(new URL('../bin/mobius.js', import.meta.url));
const RUN_CLI_SOURCE = `const { runCli } = await import(${JSON.stringify(CLI_SOURCE)});
process.exitCode = await runCli(process.argv.slice(1), process.env, process.cwd());`;

function spawnServer(server: BenchServer, port: number, dir: string): ChildProcess {
  // Each server leads its own process group, so stopServer can kill all it started.
  const options = { cwd: dir, stdio: 'ignore', detached: true } as const;
  const mobiusEnv = { PATH: process.env.PATH ?? '', MOBIUS_LOG_LEVEL: 'warn' };
  const mobiusArgs = ['--home', dir, 'server', '--port', String(port)];
  switch (server) {
    case 'mobius-source':
      return spawn(
        process.execPath,
        [
          '--import',
          import.meta.resolve('tsx'),
          '--input-type=module',
          '-e',
          RUN_CLI_SOURCE,
          '--',
          ...mobiusArgs,
        ],
        { ...options, env: mobiusEnv },
      );
    case 'mobius-dist':
      return spawn(process.execPath, [CLI_DIST, ...mobiusArgs], { ...options, env: mobiusEnv });
    case 'mlflow':
      return spawn(
        'mlflow',
        [
          'server',
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--backend-store-uri',
          `sqlite:///${join(dir, 'mlflow.db')}`,
          '--default-artifact-root',
          join(dir, 'artifacts'),
        ],
        options,
      );
  }
}

/**
 * Starts `server` on a fresh directory and a free port, runs `fn` against its URL once
 * /health answers, then stops it (whole process group) and removes the directory.
 */
export async function withServer<T>(
  server: BenchServer,
  fn: (url: string) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), `mobius-bench-${server}-`));
  const port = await freePort();
  const child = spawnServer(server, port, dir);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(url, child);
    return await fn(url);
  } finally {
    stopServer(child);
    rmSync(dir, { recursive: true, force: true });
  }
}
