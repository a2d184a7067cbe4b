/**
 * Model registry behaviour MLflow's clients rely on, over its protocol on every backend in
 * TEST_STORES: search_model_versions' default order (last updated first), its message for
 * a version that is not a number, "" for an unset description, and the download URI of
 * a copied version (`models:/<name>/<version>` source) following the copy to its files.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

const API = '/api/2.0/mlflow';

interface VersionJson {
  name: string;
  version: string;
  description: string;
}
interface Body {
  model_version: VersionJson;
  model_versions: VersionJson[];
  artifact_uri: string;
  message: string;
}

for (const backend of STORE_BACKENDS) {
  describe(`MLflow registry compatibility: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;

    beforeAll(async () => {
      t = await openTestContext(backend);
      app = await buildServer(t.ctx);
    });
    afterAll(async () => {
      await app?.close();
      await t?.cleanup();
    });

    const call = async (method: 'GET' | 'POST' | 'PATCH', url: string, body?: object) => {
      const res = await app.inject({
        method,
        url,
        ...(body === undefined ? {} : { payload: body }),
      });
      return { status: res.statusCode, body: res.json<Body>() };
    };
    const tick = () => new Promise((r) => setTimeout(r, 3));

    it('searches versions most recently updated first when no order is given', async () => {
      for (const name of ['b-model', 'a-model'])
        await call('POST', `${API}/registered-models/create`, { name });
      for (const name of ['b-model', 'a-model', 'b-model']) {
        await tick();
        await call('POST', `${API}/model-versions/create`, { name, source: 's3://x' });
      }
      await tick();
      await call('PATCH', `${API}/model-versions/update`, {
        name: 'a-model',
        version: '1',
        description: 'touched last',
      });
      const res = await call('GET', `${API}/model-versions/search`);
      expect(res.body.model_versions.map((v) => `${v.name}/${v.version}`)).toEqual([
        'a-model/1',
        'b-model/2',
        'b-model/1',
      ]);
      const byName = await call('GET', `${API}/model-versions/search?order_by=name%20ASC`);
      expect(byName.body.model_versions.map((v) => `${v.name}/${v.version}`)).toEqual([
        'a-model/1',
        'b-model/2',
        'b-model/1',
      ]);
    });

    it('answers "" for a description never set, and MLflow\'s message for a bad version', async () => {
      await call('POST', `${API}/registered-models/create`, { name: 'plain' });
      const created = await call('POST', `${API}/model-versions/create`, {
        name: 'plain',
        source: 's3://p',
      });
      expect(created.body.model_version.description).toBe('');
      const bad = await call(
        'GET',
        `${API}/model-versions/get?name=plain&version=not%20a%20number`,
      );
      expect(bad.status).toBe(400);
      expect(bad.body.message).toBe("Parameter 'version' must be an integer, got 'not a number'.");
      const zero = await call('GET', `${API}/model-versions/get?name=plain&version=0`);
      expect(zero.status).toBe(400);
    });

    it("gives a copied version's download URI as its original's files", async () => {
      await call('POST', `${API}/registered-models/create`, { name: 'orig' });
      await call('POST', `${API}/registered-models/create`, { name: 'copy' });
      await call('POST', `${API}/model-versions/create`, {
        name: 'orig',
        source: 's3://bucket/orig-model',
      });
      await call('POST', `${API}/model-versions/create`, {
        name: 'copy',
        source: 'models:/orig/1',
      });
      await call('POST', `${API}/model-versions/create`, {
        name: 'copy',
        source: 'models:/copy/1',
      });
      await call('POST', `${API}/model-versions/create`, {
        name: 'copy',
        source: 'models:/orig/9',
      });
      const uri = async (name: string, version: number) =>
        (
          await call(
            'GET',
            `${API}/model-versions/get-download-uri?name=${name}&version=${version}`,
          )
        ).body.artifact_uri;
      expect(await uri('copy', 1)).toBe('s3://bucket/orig-model');
      expect(await uri('copy', 2)).toBe('s3://bucket/orig-model');
      // The original is gone (never existed): the copy answers its own source.
      expect(await uri('copy', 3)).toBe('models:/orig/9');
    });
  });
}
