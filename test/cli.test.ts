/** The `mobius` executable as users run it: bin/mobius.js over the built CLI. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openTestContext } from './helpers/context.js';
import { STORE_BACKENDS, freshLocation } from './helpers/stores.js';

const BIN = fileURLToPath(new URL('../bin/mobius.js', import.meta.url));

function mobius(
  args: string[],
  env: Record<string, string> = {},
  cwd = mkdtempSync(join(tmpdir(), 'mobius-cli-')),
) {
  const res = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Like mobius(), but without blocking the event loop (for talking to an in-process server). */
function mobiusAsync(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const cwd = mkdtempSync(join(tmpdir(), 'mobius-cli-'));
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('cli (no store)', () => {
  it('--help shows a newcomer where to start', () => {
    const r = mobius(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Start here:');
    expect(r.stdout).toContain('mobius server');
  });

  it('version --json prints JSON', () => {
    const r = mobius(['version', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ version: expect.any(String) as string });
  });

  it('a bad store location is one clear line, a hint, and exit code 2', () => {
    const r = mobius(['--store', 'mysql://x', 'migrate']);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^mobius: store 'mysql:\/\/x' is not understood/);
    expect(lines[1]).toMatch(/^ {2}hint: /);
    expect(lines).toHaveLength(2);
  });

  it('errors are JSON with --json', () => {
    const r = mobius(['--json', '--store', 'mysql://x', 'migrate']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
  });

  it('a misspelt MOBIUS_ variable is named', () => {
    const r = mobius(['migrate'], { MOBIUS_STROE: 'x' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('MOBIUS_STROE');
  });

  it('an unreachable PostgreSQL says so with exit code 6', () => {
    const r = mobius(['--store', 'postgres://nobody@127.0.0.1:1/none', 'migrate']);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/cannot reach PostgreSQL/);
  });

  it('an unknown command exits 2', () => {
    expect(mobius(['bogus']).code).toBe(2);
  });
});

for (const backend of STORE_BACKENDS) {
  describe(`cli: ${backend}`, () => {
    let location: string;
    let remove: () => Promise<void>;
    beforeEach(() => {
      ({ location, remove } = freshLocation(backend));
    });
    afterEach(async () => {
      await remove();
    });

    it('migrate reports each migration, then says up to date', () => {
      const first = mobius(['--json', '--store', location, 'migrate']);
      expect(first.code).toBe(0);
      expect(JSON.parse(first.stdout).steps[0]).toMatchObject({
        name: '001-spine',
        status: 'applied',
      });
      const again = mobius(['--store', location, 'migrate']);
      expect(again.stdout).toMatch(/^up to date/);
    });

    it('token create / ls / revoke', () => {
      const created = JSON.parse(
        mobius(['--json', '--store', location, 'token', 'create', 'ci', '--role', 'viewer']).stdout,
      );
      expect(created).toMatchObject({
        name: 'ci',
        role: 'viewer',
        secret: expect.stringMatching(/^mbx_/) as string,
      });
      const ls = mobius(['--store', location, 'token', 'ls']);
      expect(ls.stdout).toMatch(/ID\s+NAME\s+ROLE/);
      expect(ls.stdout).toContain('ci');
      expect(ls.stdout).not.toContain(created.secret);
      expect(mobius(['--store', location, 'token', 'revoke', 'ci']).stdout).toContain(
        "revoked token 'ci'",
      );
      const dup = mobius(['--store', location, 'token', 'create', 'ci']);
      expect(dup.code).toBe(4);
      expect(dup.stderr).toContain('already exists');
      expect(mobius(['--store', location, 'token', 'create', 'x', '--role', 'root']).code).toBe(2);
    });

    it('with MOBIUS_URL, token commands go through the server with MOBIUS_TOKEN', async () => {
      const admin = 'remote-admin-token-0123456789';
      const t = await openTestContext(backend, { token: admin });
      const app = await buildServer(t.ctx);
      try {
        const url = await app.listen({ host: '127.0.0.1', port: 0 });
        const env = { MOBIUS_URL: url, MOBIUS_TOKEN: admin };
        const created = await mobiusAsync(['--json', 'token', 'create', 'remote-ci'], env);
        expect(created.code).toBe(0);
        expect(JSON.parse(created.stdout)).toMatchObject({ name: 'remote-ci', role: 'editor' });
        expect((await t.ctx.tokens.list()).map((x) => x.name)).toEqual(['remote-ci']);
        const ls = await mobiusAsync(['token', 'ls'], env);
        expect(ls.stdout).toContain('remote-ci');
        const denied = await mobiusAsync(['token', 'ls'], {
          MOBIUS_URL: url,
          MOBIUS_TOKEN: 'wrong-token-0123456789',
        });
        expect(denied.code).toBe(5);
        expect(denied.stderr).toContain('invalid or revoked token');
        expect((await mobiusAsync(['migrate'], env)).code).toBe(2);
      } finally {
        await app.close();
        await t.cleanup();
      }
    });

    it('server starts, answers /health, and stops cleanly on SIGTERM', async () => {
      const port = await freePort();
      const home = mkdtempSync(join(tmpdir(), 'mobius-srv-'));
      const child = spawn(
        process.execPath,
        [BIN, '--store', location, '--home', home, 'server', '--port', String(port)],
        {
          env: { PATH: process.env.PATH ?? '', MOBIUS_LOG_LEVEL: 'warn' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stderr = '';
      await new Promise<void>((resolve, reject) => {
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          if (stderr.includes('listening on')) resolve();
        });
        child.on('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
      });
      expect(stderr).toContain(`http://127.0.0.1:${port}`);
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      expect(health.status).toBe(200);
      const exit = new Promise<number | null>((r) => child.on('exit', r));
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
    }, 30_000);
  });
}
