/**
 * `mobius deploy|promote|rollback|deployments ls|show|rm` through bin/mobius.js over the built CLI,
 * on every metadata backend: written to the store by the CLI and picked up by a server
 * process (another context on the same store) on its next sync, and sent to a server over
 * HTTP with MOBIUS_URL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { resolveConfig } from '../src/core/index.js';
import { openMobius, type MobiusContext } from '../src/context/index.js';
import { STORE_BACKENDS, freshLocation } from './helpers/stores.js';
import { registerLinearVersions } from './helpers/models.js';
import { runCli, runCliAsync, startServeCli } from './helpers/cli.js';

/**
 * `mobius --json …` against the server at `url` (MOBIUS_URL), asynchronously: the server
 * answering it runs in this process.
 */
const remote =
  (url: string) =>
  (...argv: string[]) =>
    runCliAsync(['--json', ...argv], { env: { MOBIUS_URL: url } });

for (const backend of STORE_BACKENDS) {
  describe(`mobius deploy: ${backend}`, () => {
    let dir: string;
    let location: string;
    let remove: () => Promise<void>;
    /** The "server": a context on the same store that follows the deployments table. */
    let server: MobiusContext;
    const args = () => ['--store', location, '--home', join(dir, '.mobius')];
    const mobius = (...rest: string[]) => runCli([...args(), ...rest], { cwd: dir });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- asserting the shape is the test
    const json = (...rest: string[]): any => {
      const res = mobius('--json', ...rest);
      expect(res.code, res.stderr + res.stdout).toBe(0);
      return JSON.parse(res.stdout);
    };
    const servedVersion = async (name: string) => {
      const answer = await server.serving.serveInfer(name, {
        inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 1], data: [1] }],
      });
      return answer.version;
    };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'mobius-cli-deploy-'));
      ({ location, remove } = freshLocation(backend));
      const config = resolveConfig({ store: location, log: { level: 'silent' } }, dir);
      server = await openMobius(config, { migrate: true });
      await registerLinearVersions(server, 'lin', [1, 2, 3]);
      await server.registry.aliases.set('lin', 'stable', 1);
      await server.deployments.start(60_000);
    });
    afterAll(async () => {
      await server.close();
      await remove();
      rmSync(dir, { recursive: true, force: true });
    });

    it('deploys, canaries, promotes and rolls back; the server follows each change', async () => {
      const first = json('deploy', 'churn', 'lin@stable', '--reason', 'launch');
      expect(first).toMatchObject({ routes: [{ version: 1, weight: 100 }], revision: 1 });
      await server.deployments.sync();
      expect(await servedVersion('churn')).toBe(1);

      const human = mobius('deploy', 'churn', 'lin@2', '--canary', '25', '--sticky', 'user');
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toMatch(/deployed 'churn': lin@1 75%, lin@2 25% \(candidate\)/);
      await server.deployments.sync();
      const seen = new Set<number | undefined>();
      for (let i = 0; i < 8; i++) seen.add(await servedVersion('churn'));
      expect(seen).toEqual(new Set([1, 2]));

      expect(json('promote', 'churn', '--reason', 'looks good')).toMatchObject({
        routes: [{ version: 2, weight: 100 }],
        lastGood: { version: 2 },
      });
      json('deploy', 'churn', 'lin@3', '--shadow', '50');
      expect(json('rollback', 'churn')).toMatchObject({
        routes: [{ version: 2, weight: 100 }],
        mirror: null,
      });
      await server.deployments.sync();
      expect(await servedVersion('churn')).toBe(2);

      const list = json('deployments', 'ls');
      expect(list.deployments).toHaveLength(1);
      const show = mobius('deployments', 'show', 'churn');
      expect(show.code, show.stderr).toBe(0);
      expect(show.stdout).toMatch(/routes: +lin@2 100% stable/);
      expect(show.stdout).toMatch(/last good: +lin@2/);
      expect(show.stdout).toMatch(/sticky: +user/);
      for (const kind of ['rollback', 'shadow', 'promote', 'canary', 'deploy'])
        expect(show.stdout).toContain(kind);
      expect(show.stdout).toContain('looks good');
      // Each CLI call is a Node process that opens the store.
    }, 180_000);

    it('mobius serve answers for one model version on its own port, stored as a deployment', async () => {
      const started = await startServeCli(
        [...args(), 'serve', 'lin@3', '--name', 'solo', '--port', '0'],
        { cwd: dir },
      );
      try {
        expect(started).toMatchObject({ version: 3 });
        const res = await fetch(`${started.url}/v2/models/solo/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 1], data: [2] }],
          }),
        });
        expect(res.status).toBe(200);
        expect(res.headers.get('x-mobius-model-version')).toBe('lin@3');
        expect(((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data).toEqual([
          6,
        ]);
        expect(json('deployments', 'show', 'solo')).toMatchObject({
          routes: [{ model: 'lin', version: 3, weight: 100 }],
        });
      } finally {
        await started.stop();
      }
      const missing = mobius('serve', 'lin@99', '--port', '0');
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toMatch(/lin/);
    }, 60_000);

    it('refuses bad input with a message saying what to fix', () => {
      const cases: [string[], RegExp][] = [
        [['deploy', 'churn', 'lin@2', '--canary', '150'], /canary must be a percent/],
        [['deploy', 'churn', 'lin@2', '--canary', 'ten'], /--canary must be a percent, not 'ten'/],
        [['deploy', 'churn', 'lin@9'], /version=9\) not found/],
        [['deploy', 'churn', 'lin'], /must be <model>@<version> or <model>@<alias>/],
        [
          ['deploy', 'churn', 'lin@2', '--ab', 'lin@3'],
          /--ab must be <model>@<version\|alias>=<percent>/,
        ],
        [['promote', 'nope'], /no deployment named 'nope'/],
        [['deployments', 'show', 'nope'], /no deployment named 'nope'/],
      ];
      for (const [argv, message] of cases) {
        const res = mobius(...argv);
        expect(res.code, argv.join(' ')).not.toBe(0);
        expect(res.stderr, argv.join(' ')).toMatch(message);
      }
      // Each CLI call is a Node process that opens the store.
    }, 180_000);

    it('sends the same commands to a server with MOBIUS_URL', async () => {
      const app = await buildServer(server);
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      try {
        const run = remote(url);
        const deployed = await run('deploy', 'remote', 'lin@3');
        expect(deployed.code, deployed.stderr).toBe(0);
        // Served at once by the server that made the change (no sync needed).
        expect(await servedVersion('remote')).toBe(3);
        const show = await run('deployments', 'show', 'remote');
        expect(JSON.parse(show.stdout)).toMatchObject({
          name: 'remote',
          droppedPredictions: 0,
          live: { routes: [{ version: 3 }] },
          events: [{ kind: 'deploy', actor: 'local' }],
        });
      } finally {
        await app.close();
      }
      // Each CLI call is a Node process that opens the store.
    }, 180_000);

    it('--ab repeated makes an A/B/n deployment; promote --to picks the arm', async () => {
      const human = mobius('deploy', 'three', 'lin@1', '--ab', 'lin@2=30', '--ab', 'lin@3=20');
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toMatch(
        /deployed 'three': lin@1 50%, lin@2 30% \(candidate\), lin@3 20% \(candidate\)/,
      );
      await server.deployments.sync();
      const seen = new Set<number | undefined>();
      for (let i = 0; i < 10; i++) seen.add(await servedVersion('three'));
      expect(seen).toEqual(new Set([1, 2, 3]));
      const ambiguous = mobius('promote', 'three');
      expect(ambiguous.code).not.toBe(0);
      expect(ambiguous.stderr).toMatch(/say which to promote with --to/);
      expect(json('promote', 'three', '--to', 'lin@2')).toMatchObject({
        routes: [{ version: 2, weight: 100 }],
        lastGood: { version: 2 },
      });
      await server.deployments.sync();
      expect(await servedVersion('three')).toBe(2);
    }, 120_000);

    it('deployments rm stops the deployment on the server that follows the store, keeps its history, and the name can be deployed again', async () => {
      json('deploy', 'temp', 'lin@1');
      await server.deployments.sync();
      expect(await servedVersion('temp')).toBe(1);
      const human = mobius('deployments', 'rm', 'temp', '--reason', 'experiment over');
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toMatch(/deleted 'temp' \(it served lin@1 100%\)/);
      await server.deployments.sync();
      expect(server.serving.has('temp')).toBe(false);
      const list = json('deployments', 'ls') as { deployments: { name: string }[] };
      expect(list.deployments.map((d) => d.name)).not.toContain('temp');
      const show = mobius('deployments', 'show', 'temp');
      expect(show.code, show.stderr).toBe(0);
      expect(show.stdout).toMatch(/deployment temp \(revision 2\) DELETED/);
      expect(show.stdout).toMatch(/deleted +local +experiment over/);
      const again = mobius('deployments', 'rm', 'temp');
      expect(again.code).not.toBe(0);
      expect(again.stderr).toMatch(/no deployment named 'temp'/);
      expect(json('deploy', 'temp', 'lin@2')).toMatchObject({ revision: 3 });
      await server.deployments.sync();
      expect(await servedVersion('temp')).toBe(2);

      // Through a server with MOBIUS_URL: the server stops serving it at once.
      const app = await buildServer(server);
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      try {
        const run = remote(url);
        const removed = await run('deployments', 'rm', 'temp', '--reason', 'done');
        expect(removed.code, removed.stderr).toBe(0);
        expect(JSON.parse(removed.stdout)).toMatchObject({ name: 'temp', revision: 4 });
        expect(server.serving.has('temp')).toBe(false);
        const res = await fetch(`${url}/v2/models/temp/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 1], data: [1] }],
          }),
        });
        expect(res.status).toBe(404);
        const missing = await run('deployments', 'rm', 'nope');
        expect(missing.code).not.toBe(0);
        // With --json the error is a JSON object on stdout.
        expect(missing.stdout + missing.stderr).toMatch(/no deployment named 'nope'/);
      } finally {
        await app.close();
      }
    }, 180_000);
  });
}
