import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

function dir(files: Record<string, string> = {}): string {
  const d = mkdtempSync(join(tmpdir(), 'mobius-config-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
}

describe('config loader', () => {
  it('defaults to an embedded home, loopback and port 4600', async () => {
    const cwd = dir();
    const c = await loadConfig({ cwd, env: {} });
    expect(c.home).toBe(join(cwd, '.mobius'));
    expect(c.store).toBe(`sqlite:${join(cwd, '.mobius', 'mobius.db')}`);
    expect(c.blobs).toBe(`file:${join(cwd, '.mobius', 'blobs')}`);
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 4600, auth: false });
  });

  it('layers file, then environment, then flags', async () => {
    const cwd = dir({
      'mobius.yaml': 'server:\n  port: 5000\n  host: 127.0.0.2\nlog:\n  level: warn\n',
    });
    const c = await loadConfig({
      cwd,
      env: { MOBIUS_PORT: '5001' },
      flags: { server: { port: 5002 } },
    });
    expect(c.server.port).toBe(5002);
    expect(c.server.host).toBe('127.0.0.2');
    expect(c.log.level).toBe('warn');
    const c2 = await loadConfig({ cwd, env: { MOBIUS_PORT: '5001' } });
    expect(c2.server.port).toBe(5001);
  });

  it('protects production and champion unless the file or MOBIUS_PROTECTED_ALIASES says otherwise', async () => {
    expect((await loadConfig({ cwd: dir(), env: {} })).registry.protectedAliases).toEqual([
      'production',
      'champion',
    ]);
    const cwd = dir({ 'mobius.yaml': 'registry:\n  protectedAliases: [prod]\n' });
    expect((await loadConfig({ cwd, env: {} })).registry.protectedAliases).toEqual(['prod']);
    const env = { MOBIUS_PROTECTED_ALIASES: ' live, gold ,' };
    expect((await loadConfig({ cwd, env })).registry.protectedAliases).toEqual(['live', 'gold']);
    const none = { MOBIUS_PROTECTED_ALIASES: '' };
    expect((await loadConfig({ cwd, env: none })).registry.protectedAliases).toEqual([]);
  });

  it('reads mobius.config.ts', async () => {
    const cwd = dir({
      'mobius.config.ts': 'const port: number = 4700;\nexport default { server: { port } };\n',
    });
    expect((await loadConfig({ cwd, env: {} })).server.port).toBe(4700);
  });

  it('rejects unknown keys in the file, naming them', async () => {
    const cwd = dir({ 'mobius.yaml': 'server:\n  prot: 1\nstroe: x\n' });
    await expect(loadConfig({ cwd, env: {} })).rejects.toThrow(
      /unknown key 'stroe'.*unknown key 'server.prot'|unknown key 'server.prot'.*unknown key 'stroe'/,
    );
  });

  it('rejects unknown MOBIUS_ environment variables, naming them', async () => {
    await expect(loadConfig({ cwd: dir(), env: { MOBIUS_STROE: 'x' } })).rejects.toThrow(
      /MOBIUS_STROE/,
    );
  });

  it('takes only true/false for booleans', async () => {
    await expect(loadConfig({ cwd: dir(), env: { MOBIUS_AUTH: 'yes' } })).rejects.toThrow(
      /MOBIUS_AUTH must be 'true' or 'false'/,
    );
    const cwd = dir({ 'mobius.yaml': 'server:\n  auth: "true"\n' });
    await expect(loadConfig({ cwd, env: {} })).rejects.toThrow(/server.auth/);
    expect((await loadConfig({ cwd: dir(), env: { MOBIUS_AUTH: 'true' } })).server.auth).toBe(true);
  });

  it('rejects non-numeric ports', async () => {
    await expect(loadConfig({ cwd: dir(), env: { MOBIUS_PORT: '80a' } })).rejects.toThrow(
      /MOBIUS_PORT/,
    );
    await expect(
      loadConfig({ cwd: dir(), env: {}, flags: { server: { port: 70000 } } }),
    ).rejects.toThrow(/server.port/);
  });

  it('turns auth on when a token is set', async () => {
    const c = await loadConfig({ cwd: dir(), env: { MOBIUS_TOKEN: 'a-long-enough-admin-token' } });
    expect(c.server.auth).toBe(true);
    expect(c.token).toBe('a-long-enough-admin-token');
  });

  it('rejects short tokens', async () => {
    await expect(loadConfig({ cwd: dir(), env: { MOBIUS_TOKEN: 'short' } })).rejects.toThrow(
      /16 characters/,
    );
  });

  it('accepts postgres stores and s3 blobs, with path-style addressing for custom endpoints', async () => {
    const c = await loadConfig({
      cwd: dir(),
      env: {
        MOBIUS_STORE: 'postgres://u@db/mobius',
        MOBIUS_BLOBS: 's3://bucket/prefix',
        MOBIUS_S3_ENDPOINT: 'http://127.0.0.1:9000',
        AWS_ACCESS_KEY_ID: 'k',
        AWS_SECRET_ACCESS_KEY: 's',
      },
    });
    expect(c.store).toBe('postgres://u@db/mobius');
    expect(c.blobs).toBe('s3://bucket/prefix');
    expect(c.s3).toMatchObject({
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
      accessKeyId: 'k',
      secretAccessKey: 's',
    });
  });

  it('rejects store and blob locations it does not understand', async () => {
    await expect(loadConfig({ cwd: dir(), env: { MOBIUS_STORE: 'mysql://x' } })).rejects.toThrow(
      /sqlite:<path> or postgres/,
    );
    await expect(loadConfig({ cwd: dir(), env: { MOBIUS_BLOBS: 'gs://x' } })).rejects.toThrow(
      /file:<path> or s3/,
    );
  });

  it('resolves relative sqlite and file paths against the working directory', async () => {
    const cwd = dir();
    const c = await loadConfig({
      cwd,
      env: { MOBIUS_STORE: 'sqlite:data/m.db', MOBIUS_BLOBS: 'file:b' },
    });
    expect(c.store).toBe(`sqlite:${join(cwd, 'data/m.db')}`);
    expect(c.blobs).toBe(`file:${join(cwd, 'b')}`);
  });

  it('refuses two config files at once', async () => {
    const cwd = dir({ 'mobius.yaml': '{}\n', 'mobius.config.ts': 'export default {};\n' });
    await expect(loadConfig({ cwd, env: {} })).rejects.toThrow(/keep one config file/);
  });

  it('reports a missing explicit config file', async () => {
    await expect(loadConfig({ cwd: dir(), env: { MOBIUS_CONFIG: 'nope.yaml' } })).rejects.toThrow(
      /does not exist/,
    );
  });

  it('reports YAML syntax errors with the file name', async () => {
    const cwd = dir({ 'mobius.yaml': 'server: [1, 2\n' });
    await expect(loadConfig({ cwd, env: {} })).rejects.toThrow(/mobius.yaml/);
  });

  it('reads the pipelines section: executor and named pools, with clear errors', async () => {
    const none = await loadConfig({ cwd: dir(), env: {} });
    expect(none.pipelines).toEqual({ executor: 'local', pools: {}, sandbox: 'auto' });
    const cwd = dir({
      'mobius.yaml': 'pipelines:\n  executor: queue\n  pools: { gpu: 1, io: 4 }\n',
    });
    const c = await loadConfig({ cwd, env: {} });
    expect(c.pipelines).toEqual({ executor: 'queue', pools: { gpu: 1, io: 4 }, sandbox: 'auto' });
    const env = await loadConfig({ cwd, env: { MOBIUS_PIPELINES_EXECUTOR: 'local' } });
    expect(env.pipelines.executor).toBe('local');
    const bad = dir({ 'mobius.yaml': 'pipelines:\n  executor: k8s\n  pools: { gpu: 0 }\n' });
    await expect(loadConfig({ cwd: bad, env: {} })).rejects.toThrow(
      /'pipelines\.executor'.*'pipelines\.pools\.gpu'/,
    );
  });

  it('reads pipelines.sandbox from the file and MOBIUS_PIPELINES_SANDBOX, and refuses other values', async () => {
    expect((await loadConfig({ cwd: dir(), env: {} })).pipelines.sandbox).toBe('auto');
    const cwd = dir({ 'mobius.yaml': 'pipelines:\n  sandbox: off\n' });
    expect((await loadConfig({ cwd, env: {} })).pipelines.sandbox).toBe('off');
    const env = await loadConfig({ cwd, env: { MOBIUS_PIPELINES_SANDBOX: 'on' } });
    expect(env.pipelines.sandbox).toBe('on');
    await expect(
      loadConfig({ cwd: dir(), env: { MOBIUS_PIPELINES_SANDBOX: 'yes' } }),
    ).rejects.toThrow(/sandbox/);
  });

  it('serves MLflow models with python3 unless serving.python or MOBIUS_SERVING_PYTHON says otherwise', async () => {
    expect((await loadConfig({ cwd: dir(), env: {} })).serving.python).toBe('python3');
    const cwd = dir({ 'mobius.yaml': 'serving:\n  python: venv/bin/python\n' });
    expect((await loadConfig({ cwd, env: {} })).serving.python).toBe(join(cwd, 'venv/bin/python'));
    const env = { MOBIUS_SERVING_PYTHON: 'python3.12' };
    expect((await loadConfig({ cwd, env })).serving.python).toBe('python3.12');
    const bad = dir({ 'mobius.yaml': 'serving:\n  pyton: x\n' });
    await expect(loadConfig({ cwd: bad, env: {} })).rejects.toThrow(/'serving.pyton'/);
  });

  it('sends no OpenLineage events unless asked', async () => {
    const c = await loadConfig({ cwd: dir(), env: {} });
    expect(c.openlineage).toMatchObject({ transport: 'none', namespace: 'mobius' });
  });

  it('reads the openlineage section: a path means the file transport, resolved against cwd', async () => {
    const cwd = dir({
      'mobius.yaml': 'openlineage:\n  path: out/lineage.ndjson\n  namespace: prod\n',
    });
    const c = await loadConfig({ cwd, env: {} });
    expect(c.openlineage).toMatchObject({
      transport: 'file',
      path: join(cwd, 'out/lineage.ndjson'),
      namespace: 'prod',
    });
  });

  it("reads the OpenLineage clients' own environment variables", async () => {
    const c = await loadConfig({
      cwd: dir(),
      env: {
        OPENLINEAGE_URL: 'http://127.0.0.1:5000',
        OPENLINEAGE_API_KEY: 'k',
        OPENLINEAGE_NAMESPACE: 'ns',
        OPENLINEAGE_ENDPOINT: 'api/v2/lineage',
      },
    });
    expect(c.openlineage).toEqual({
      transport: 'http',
      url: 'http://127.0.0.1:5000',
      endpoint: 'api/v2/lineage',
      apiKey: 'k',
      timeoutMs: 5000,
      path: undefined,
      namespace: 'ns',
    });
    const off = await loadConfig({
      cwd: dir(),
      env: { OPENLINEAGE_URL: 'http://127.0.0.1:5000', OPENLINEAGE_DISABLED: 'true' },
    });
    expect(off.openlineage.transport).toBe('none');
  });

  it('says what is missing or ambiguous in the openlineage section', async () => {
    const http = dir({ 'mobius.yaml': 'openlineage:\n  transport: http\n' });
    await expect(loadConfig({ cwd: http, env: {} })).rejects.toThrow(/openlineage.url' is not set/);
    const file = dir({ 'mobius.yaml': 'openlineage:\n  transport: file\n' });
    await expect(loadConfig({ cwd: file, env: {} })).rejects.toThrow(
      /openlineage.path' is not set/,
    );
    const both = dir({
      'mobius.yaml': 'openlineage:\n  url: http://127.0.0.1:5000\n  path: l.ndjson\n',
    });
    await expect(loadConfig({ cwd: both, env: {} })).rejects.toThrow(/both 'url' and 'path'/);
    const ftp = dir({ 'mobius.yaml': 'openlineage:\n  url: ftp://host/x\n' });
    await expect(loadConfig({ cwd: ftp, env: {} })).rejects.toThrow(/openlineage.url/);
    const slow = dir({ 'mobius.yaml': 'openlineage:\n  url: http://h\n  timeoutMs: 600000\n' });
    await expect(loadConfig({ cwd: slow, env: {} })).rejects.toThrow(/openlineage.timeoutMs/);
  });
});
