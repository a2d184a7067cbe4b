/** The model registry domain on every backend: models, versions, stages, tags, aliases. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBlobStore } from '../src/blobs/index.js';
import { ManualClock, resolveConfig } from '../src/core/index.js';
import { RegistryService, checkAlias } from '../src/registry/index.js';
import { TrackingService } from '../src/tracking/index.js';
import { STORE_BACKENDS, openTestStore, type TestStore } from './helpers/stores.js';

for (const backend of STORE_BACKENDS) {
  describe(`registry: ${backend}`, () => {
    let t: TestStore;
    let registry: RegistryService;
    let tracking: TrackingService;
    let clock: ManualClock;
    beforeEach(async () => {
      t = await openTestStore(backend);
      clock = new ManualClock(1_700_000_000_000);
      const blobs = await openBlobStore(
        `file:${mkdtempSync(join(tmpdir(), 'mobius-blobs-'))}`,
        resolveConfig({}, tmpdir()).s3,
      );
      tracking = new TrackingService(t.store, blobs, clock);
      registry = new RegistryService(t.store, clock);
    });
    afterEach(async () => {
      await t.cleanup();
    });

    const withVersions = async (name: string, count: number) => {
      await registry.models.create({ name });
      for (let i = 0; i < count; i++)
        await registry.versions.create({ name, source: `s3://models/${name}/${i + 1}` });
    };

    it('creates a model with tags and reads it back; a second create is ALREADY_EXISTS', async () => {
      const created = await registry.models.create({
        name: 'churn',
        description: 'who leaves',
        tags: { team: 'risk' },
      });
      expect(created).toMatchObject({
        name: 'churn',
        description: 'who leaves',
        tags: { team: 'risk' },
        aliases: [],
        latestVersions: [],
        createdAt: 1_700_000_000_000,
      });
      await expect(registry.models.create({ name: 'churn' })).rejects.toMatchObject({
        code: 'ALREADY_EXISTS',
      });
    });

    it('refuses a look-alike name (NFD vs NFC) as the same model, and finds it by either spelling', async () => {
      await registry.models.create({ name: 'café' });
      await expect(registry.models.create({ name: 'cafe\u0301' })).rejects.toMatchObject({
        code: 'ALREADY_EXISTS',
      });
      expect((await registry.models.get('cafe\u0301')).name).toBe('café');
    });

    it('answers NOT_FOUND for missing models, versions, tags and aliases', async () => {
      await expect(registry.models.get('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(registry.models.delete('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(registry.models.rename('nope', 'x')).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      await expect(
        registry.versions.create({ name: 'nope', source: 's3://x' }),
      ).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await withVersions('m', 1);
      await expect(registry.versions.get('m', 2)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(registry.versions.deleteTag('m', 1, 'k')).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      await expect(registry.models.deleteTag('m', 'k')).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      await expect(registry.aliases.get('m', 'champion')).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      await expect(registry.aliases.set('m', 'champion', 9)).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
    });

    it('records a version from a run this server never saw, as the MLflow registry does', async () => {
      await withVersions('elsewhere', 0);
      const v = await registry.versions.create({
        name: 'elsewhere',
        source: 's3://x',
        runId: 'run-on-another-server',
      });
      expect(v.runId).toBe('run-on-another-server');
    });

    it('numbers versions 1, 2, 3 and never reuses a deleted number', async () => {
      await withVersions('m', 3);
      await registry.versions.delete('m', 3);
      const next = await registry.versions.create({ name: 'm', source: 's3://x' });
      expect(next.version).toBe(4);
      expect(next).toMatchObject({ currentStage: 'None', status: 'READY', tags: {}, aliases: [] });
    });

    it('gives 8 concurrent creates the versions 1..8', async () => {
      await registry.models.create({ name: 'busy' });
      const created = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          registry.versions.create({ name: 'busy', source: `s3://busy/${i}` }),
        ),
      );
      expect(created.map((v) => v.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it('links a version to a run and finds it by run_id', async () => {
      const experimentId = await tracking.experiments.create({ name: 'e' });
      const run = await tracking.runs.create({ experimentId });
      await registry.models.create({ name: 'm' });
      await registry.versions.create({
        name: 'm',
        source: `${run.info.artifactUri}/model`,
        runId: run.info.id,
        tags: { k: 'v' },
      });
      const page = await registry.versions.search({ filter: `run_id = '${run.info.id}'` });
      expect(page.items).toHaveLength(1);
      expect(page.items[0]).toMatchObject({
        name: 'm',
        version: 1,
        runId: run.info.id,
        tags: { k: 'v' },
      });
      expect(await registry.versions.downloadUri('m', 1)).toBe(`${run.info.artifactUri}/model`);
    });

    it('renames a model and carries its tags, versions, version tags and aliases', async () => {
      await withVersions('old', 2);
      await registry.models.setTag('old', 'team', 'risk');
      await registry.versions.setTag('old', 2, 'validated', 'yes');
      await registry.aliases.set('old', 'champion', 2);
      const renamed = await registry.models.rename('old', 'new');
      expect(renamed).toMatchObject({
        name: 'new',
        tags: { team: 'risk' },
        aliases: [{ alias: 'champion', version: 2 }],
      });
      expect(await registry.aliases.get('new', 'champion')).toMatchObject({
        name: 'new',
        version: 2,
        tags: { validated: 'yes' },
        aliases: ['champion'],
      });
      expect((await registry.versions.search({ filter: "name = 'new'" })).items).toHaveLength(2);
      await expect(registry.models.get('old')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await registry.models.create({ name: 'other' });
      await expect(registry.models.rename('new', 'other')).rejects.toMatchObject({
        code: 'ALREADY_EXISTS',
      });
    });

    it('transitions stages, archiving existing versions on request, and reports the latest per stage', async () => {
      await withVersions('m', 3);
      await registry.versions.transitionStage('m', 1, 'production');
      await registry.versions.transitionStage('m', 2, 'Production');
      expect((await registry.versions.get('m', 1)).currentStage).toBe('Production');
      const v3 = await registry.versions.transitionStage('m', 3, 'Production', true);
      expect(v3.currentStage).toBe('Production');
      expect((await registry.versions.get('m', 1)).currentStage).toBe('Archived');
      expect((await registry.versions.get('m', 2)).currentStage).toBe('Archived');
      expect((await registry.versions.latest('m')).map((v) => [v.currentStage, v.version])).toEqual(
        [
          ['Production', 3],
          ['Archived', 2],
        ],
      );
      expect((await registry.versions.latest('m', ['Archived'])).map((v) => v.version)).toEqual([
        2,
      ]);
      expect((await registry.models.get('m')).latestVersions).toHaveLength(2);
      await expect(registry.versions.transitionStage('m', 1, 'Shipped')).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(
        registry.versions.transitionStage('m', 1, 'Archived', true),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('applies the alias rules, reserved names included, case-insensitively', async () => {
      for (const bad of ['latest', 'LATEST', 'v1', 'V42', 'has space', 'a/b', '', 'x'.repeat(256)])
        expect(() => checkAlias(bad), bad).toThrow(
          expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
        );
      for (const good of ['champion', 'prod-2', 'v1a', 'version', 'x'.repeat(255)])
        expect(checkAlias(good)).toBe(good);
      await withVersions('m', 2);
      await expect(registry.aliases.set('m', 'Latest', 1)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    });

    it('sets, moves, lists and deletes aliases; deleting a version deletes its aliases', async () => {
      await withVersions('m', 2);
      await registry.aliases.set('m', 'champion', 1);
      await registry.aliases.set('m', 'champion', 2);
      await registry.aliases.set('m', 'challenger', 1);
      expect((await registry.aliases.get('m', 'champion')).version).toBe(2);
      expect((await registry.models.get('m')).aliases).toEqual([
        { alias: 'challenger', version: 1 },
        { alias: 'champion', version: 2 },
      ]);
      expect((await registry.versions.get('m', 1)).aliases).toEqual(['challenger']);
      await registry.aliases.delete('m', 'challenger');
      await registry.aliases.delete('m', 'challenger');
      await registry.versions.delete('m', 2);
      expect((await registry.models.get('m')).aliases).toEqual([]);
    });

    it('searches models by name (=, LIKE, ILIKE), orders and pages them', async () => {
      for (const name of ['alpha', 'beta', 'Alpine', 'gamma']) {
        clock.advance(1000);
        await registry.models.create({ name });
      }
      const names = async (options: Parameters<typeof registry.models.search>[0]) =>
        (await registry.models.search(options)).items.map((m) => m.name);
      expect(await names({})).toEqual(['Alpine', 'alpha', 'beta', 'gamma']);
      expect(await names({ filter: "name = 'beta'" })).toEqual(['beta']);
      expect(await names({ filter: "name LIKE 'al%'" })).toEqual(['alpha']);
      expect(await names({ filter: "name ILIKE 'al%'" })).toEqual(['Alpine', 'alpha']);
      expect(await names({ orderBy: ['last_updated_timestamp DESC'] })).toEqual([
        'gamma',
        'Alpine',
        'beta',
        'alpha',
      ]);
      const first = await registry.models.search({ maxResults: 3 });
      expect(first.nextOffset).toBe(3);
      const second = await registry.models.search({ maxResults: 3, offset: 3 });
      expect(second.items.map((m) => m.name)).toEqual(['gamma']);
      expect(second.nextOffset).toBeUndefined();
      await registry.models.setTag('beta', 'mlflow.prompt.is_prompt', 'true');
      await registry.models.setTag('gamma', 'team', 'risk');
      expect(await names({ filter: "tags.`mlflow.prompt.is_prompt` != 'true'" })).toEqual([
        'Alpine',
        'alpha',
        'gamma',
      ]);
      expect(await names({ filter: "tag.team = 'risk' AND name LIKE 'g%'" })).toEqual(['gamma']);
      await expect(registry.models.search({ filter: "version = '1'" })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(registry.models.search({ orderBy: ['size DESC'] })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    });

    it('searches models and versions with OR and parentheses, AND binding tighter', async () => {
      for (const name of ['alpha', 'beta', 'gamma', 'delta']) await withVersions(name, 2);
      await registry.models.setTag('gamma', 'team', 'risk');
      await registry.models.setTag('delta', 'team', 'risk');
      await registry.versions.setTag('beta', 2, 'stage', 'prod');
      const models = async (filter: string) =>
        (await registry.models.search({ filter })).items.map((m) => m.name);
      const versions = async (filter: string) =>
        (await registry.versions.search({ filter })).items.map((v) => `${v.name}/${v.version}`);

      expect(await models("name = 'alpha' OR name = 'beta'")).toEqual(['alpha', 'beta']);
      expect(await models("name = 'alpha' or name = 'beta'")).toEqual(['alpha', 'beta']);
      // AND binds tighter: alpha, plus the risk models whose name starts with d.
      expect(await models("name = 'alpha' OR tags.team = 'risk' AND name LIKE 'd%'")).toEqual([
        'alpha',
        'delta',
      ]);
      expect(await models("(name = 'alpha' OR tags.team = 'risk') AND name LIKE '%a'")).toEqual([
        'alpha',
        'delta',
        'gamma',
      ]);
      expect(await models("((name = 'beta'))")).toEqual(['beta']);
      expect(await models("name IN ('beta', 'gamma') OR (name LIKE 'a%')")).toEqual([
        'alpha',
        'beta',
        'gamma',
      ]);
      // A string value holding ')' or ' OR ' is still one string.
      expect(await models("name = 'x) OR (name = y' OR name = 'beta'")).toEqual(['beta']);

      expect(
        await versions(
          "name = 'alpha' AND (source = 's3://models/alpha/2' OR tags.stage = 'prod')",
        ),
      ).toEqual(['alpha/2']);
      expect(
        await versions("tags.stage = 'prod' OR (name = 'gamma' AND source LIKE '%/1')"),
      ).toEqual(['beta/2', 'gamma/1']);

      for (const bad of [
        "(name = 'a'",
        "name = 'a')",
        "name = 'a' OR",
        "OR name = 'a'",
        "name = 'a' AND AND name = 'b'",
        '()',
        `${'('.repeat(40)}name = 'a'${')'.repeat(40)}`,
      ]) {
        await expect(registry.models.search({ filter: bad }), bad).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
        });
      }
    });

    it('updates descriptions, sets and deletes tags, and deletes a model with everything in it', async () => {
      await withVersions('m', 2);
      expect((await registry.models.updateDescription('m', 'new text')).description).toBe(
        'new text',
      );
      expect((await registry.versions.updateDescription('m', 1, 'v1 text')).description).toBe(
        'v1 text',
      );
      await registry.models.setTag('m', 'k', 'v1');
      await registry.models.setTag('m', 'k', 'v2');
      expect((await registry.models.get('m')).tags).toEqual({ k: 'v2' });
      await registry.models.deleteTag('m', 'k');
      await registry.versions.setTag('m', 1, 'k', 'v');
      await registry.versions.deleteTag('m', 1, 'k');
      expect((await registry.versions.get('m', 1)).tags).toEqual({});
      await registry.aliases.set('m', 'champion', 1);
      await registry.models.delete('m');
      expect((await registry.versions.search({ filter: "name = 'm'" })).items).toEqual([]);
      await registry.models.create({ name: 'm' });
      expect((await registry.versions.create({ name: 'm', source: 's3://x' })).version).toBe(1);
    });
  });
}
