/**
 * MLflow's `/graphql` endpoint through the real server (app.inject): the queries MLflow's
 * UI sends, answered from data logged through the services; MLflow's query-safety limits;
 * its `{data, errors}` answer shape; and the guards and auth every route passes.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildServer } from '../src/api/index.js';
import { runArtifactRoot } from '../src/tracking/index.js';
import { openTestContext, type TestContext } from './helpers/context.js';
import { STORE_BACKENDS } from './helpers/stores.js';

interface Answer {
  data: Record<string, unknown> | null;
  errors: string[] | null;
}

const ADMIN = 'admin-token-graphql-0123456789';

for (const backend of STORE_BACKENDS) {
  describe(`MLflow /graphql: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;
    let experimentId: string;
    let runIds: string[];

    const post = async (query: string, extra: Record<string, unknown> = {}) => {
      const res = await app.inject({
        method: 'POST',
        url: '/graphql',
        payload: { query, ...extra },
      });
      return { status: res.statusCode, body: res.json<Answer>() };
    };
    /** POSTs and expects 200 with no errors; returns `data`. */
    const data = async (query: string, extra: Record<string, unknown> = {}) => {
      const { status, body } = await post(query, extra);
      expect(body.errors).toBeNull();
      expect(status).toBe(200);
      return body.data!;
    };

    beforeAll(async () => {
      t = await openTestContext(backend);
      app = await buildServer(t.ctx);
      const { experiments, runs, inputs, artifacts } = t.ctx.tracking;
      experimentId = await experiments.create({ name: 'graphql-exp', tags: { team: 'ml' } });
      const first = await runs.create({ experimentId, name: 'first', startTime: 1000 });
      const second = await runs.create({ experimentId, name: 'second', startTime: 2000 });
      runIds = [first.info.id, second.info.id];
      await runs.logBatch(first.info.id, {
        metrics: [
          ...Array.from({ length: 5 }, (_, i) => ({
            key: 'loss',
            value: 10 - i,
            timestamp: 100 + i,
            step: i,
          })),
          { key: 'broken', value: NaN, timestamp: 7, step: 3 },
        ],
        params: [{ key: 'lr', value: '0.1' }],
      });
      await inputs.logInputs(first.info.id, [
        {
          dataset: { name: 'train', digest: 'd1', sourceType: 'local', source: '/data/a' },
          tags: [{ key: 'mlflow.data.context', value: 'training' }],
        },
        {
          dataset: { name: 'holdout', digest: 'd2', sourceType: 'local', source: '/data/b' },
          tags: [],
        },
      ]);
      const root = runArtifactRoot(first.info.artifactUri);
      await artifacts.put(`${root}/notes.txt`, Buffer.from('hello world'));
      await artifacts.put(`${root}/dir/inner.txt`, Buffer.from('abc'));
      await t.ctx.registry.models.create({ name: 'churn' });
      await t.ctx.registry.versions.create({
        name: 'churn',
        source: `${first.info.artifactUri}/model`,
        runId: first.info.id,
      });
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    it('echoes the test field and accepts the @component directive', async () => {
      const d = await data(
        'query q @component(name: "Test") { test(inputString: "abc") { output } }',
        {
          operationName: 'q',
        },
      );
      expect(d).toEqual({ test: { output: 'abc' } });
    });

    it('gets an experiment, with LongString times as decimal strings', async () => {
      const d = await data(
        `{ mlflowGetExperiment(input: {experimentId: "${experimentId}"}) {
             experiment { experimentId name lifecycleStage creationTime tags { key value } workspace }
             apiError { code } } }`,
      );
      const got = d.mlflowGetExperiment as {
        experiment: Record<string, unknown>;
        apiError: unknown;
      };
      expect(got.apiError).toBeNull();
      expect(got.experiment).toMatchObject({
        experimentId,
        name: 'graphql-exp',
        lifecycleStage: 'active',
        tags: [{ key: 'team', value: 'ml' }],
        workspace: 'default',
      });
      expect(got.experiment.creationTime).toMatch(/^\d+$/);
    });

    it('answers a missing experiment with a null field and the error message', async () => {
      const { status, body } = await post(
        '{ mlflowGetExperiment(input: {experimentId: "999999"}) { experiment { name } } }',
      );
      expect(status).toBe(200);
      expect(body.data).toEqual({ mlflowGetExperiment: null });
      expect(body.errors).toHaveLength(1);
      expect(body.errors![0]).toMatch(/999999/);
    });

    it('gets a run with its experiment, model versions, inputs and a NaN metric as null', async () => {
      const d = await data(
        `query q($id: String) { mlflowGetRun(input: {runId: $id}) { run {
            info { runId runName status startTime endTime }
            data { metrics { key value step timestamp runId } params { key value } }
            inputs { datasetInputs { dataset { name digest } tags { key value } } }
            experiment { name }
            modelVersions { name version runId status deploymentJobState { jobId jobState } }
        } } }`,
        { variables: { id: runIds[0] } },
      );
      const run = (d.mlflowGetRun as { run: Record<string, unknown> }).run;
      expect(run.info).toEqual({
        runId: runIds[0],
        runName: 'first',
        status: 'RUNNING',
        startTime: '1000',
        endTime: '0',
      });
      const metrics = (run.data as { metrics: { key: string }[] }).metrics;
      expect(metrics.find((m) => m.key === 'loss')).toEqual({
        key: 'loss',
        value: 6,
        step: '4',
        timestamp: '104',
        runId: '',
      });
      expect(metrics.find((m) => m.key === 'broken')).toMatchObject({ value: null, step: '3' });
      expect((run.data as { params: unknown }).params).toEqual([{ key: 'lr', value: '0.1' }]);
      expect(run.experiment).toEqual({ name: 'graphql-exp' });
      expect(run.modelVersions).toEqual([
        {
          name: 'churn',
          version: '1',
          runId: runIds[0],
          status: 'READY',
          deploymentJobState: { jobId: '', jobState: null },
        },
      ]);
      const datasets = (run.inputs as { datasetInputs: { dataset: { name: string } }[] })
        .datasetInputs;
      expect(datasets.map((i) => i.dataset.name).sort()).toEqual(['holdout', 'train']);
    });

    it('searches runs as a mutation and as a query, newest first, with paging', async () => {
      const query = `mlflowSearchRuns(input: {experimentIds: ["${experimentId}"]}) {
          runs { info { runId } modelVersions { name } } nextPageToken }`;
      for (const op of ['mutation', 'query']) {
        const d = await data(`${op} { ${query} }`);
        const res = d.mlflowSearchRuns as { runs: unknown[]; nextPageToken: string };
        expect(res.runs).toEqual([
          { info: { runId: runIds[1] }, modelVersions: [] },
          { info: { runId: runIds[0] }, modelVersions: [{ name: 'churn' }] },
        ]);
        expect(res.nextPageToken).toBe('');
      }
      const page1 = await data(
        `mutation { mlflowSearchRuns(input: {experimentIds: ["${experimentId}"], maxResults: 1,
            runViewType: ALL, filter: "attributes.run_name != 'x'"}) {
          runs { info { runId } } nextPageToken } }`,
      );
      const p1 = page1.mlflowSearchRuns as { runs: unknown[]; nextPageToken: string };
      expect(p1.runs).toEqual([{ info: { runId: runIds[1] } }]);
      expect(p1.nextPageToken).not.toBe('');
      const page2 = await data(
        `mutation($t: String) { mlflowSearchRuns(input: {experimentIds: ["${experimentId}"],
            maxResults: 1, pageToken: $t}) { runs { info { runId } } } }`,
        { variables: { t: p1.nextPageToken } },
      );
      expect(page2.mlflowSearchRuns).toEqual({ runs: [{ info: { runId: runIds[0] } }] });
    });

    it('gives each run of a search its own model versions (read in one batch)', async () => {
      const { experiments, runs } = t.ctx.tracking;
      const exp = await experiments.create({ name: 'graphql-versions' });
      const made = [];
      for (let i = 0; i < 3; i++) made.push(await runs.create({ experimentId: exp, startTime: i }));
      const [a, b, c] = made.map((r) => r.info);
      await t.ctx.registry.models.create({ name: 'm2' });
      for (const run of [a!, b!, a!])
        await t.ctx.registry.versions.create({
          name: 'm2',
          source: `${run.artifactUri}/m`,
          runId: run.id,
        });
      const searches = vi.spyOn(t.ctx.registry.versions, 'search');
      const d = await data(
        `query($data: MlflowSearchRunsInput!) { mlflowSearchRuns(input: $data) {
            runs { info { runUuid } modelVersions { name version } } } }`,
        { variables: { data: { experimentIds: [exp], orderBy: ['attributes.start_time ASC'] } } },
      );
      expect(d.mlflowSearchRuns).toEqual({
        runs: [
          {
            info: { runUuid: a!.id },
            modelVersions: [
              { name: 'm2', version: '3' },
              { name: 'm2', version: '1' },
            ],
          },
          { info: { runUuid: b!.id }, modelVersions: [{ name: 'm2', version: '2' }] },
          { info: { runUuid: c!.id }, modelVersions: [] },
        ],
      });
      expect(searches).toHaveBeenCalledTimes(1);
      searches.mockRestore();
    });

    it('reads metric history at sampled steps with run ids', async () => {
      const d = await data(
        `{ mlflowGetMetricHistoryBulkInterval(input: {runIds: ["${runIds[0]}"], metricKey: "loss"}) {
            metrics { key value step runId } } }`,
      );
      expect(d.mlflowGetMetricHistoryBulkInterval).toEqual({
        metrics: [0, 1, 2, 3, 4].map((i) => ({
          key: 'loss',
          value: 10 - i,
          step: String(i),
          runId: runIds[0],
        })),
      });
      // The UI sends the zoomed range and a sample size; both are honoured.
      const ranged = await data(
        `query($ids: [String]) { mlflowGetMetricHistoryBulkInterval(input: {runIds: $ids,
            metricKey: "loss", startStep: 1, endStep: 3, maxResults: 320}) { metrics { step } } }`,
        { variables: { ids: [runIds[0]] } },
      );
      expect(ranged.mlflowGetMetricHistoryBulkInterval).toEqual({
        metrics: [{ step: '1' }, { step: '2' }, { step: '3' }],
      });
    });

    it('lists artifacts by directory, sizes as strings and "0" for directories', async () => {
      const d = await data(
        `{ root: mlflowListArtifacts(input: {runId: "${runIds[0]}"}) { rootUri files { path isDir fileSize } }
           sub: mlflowListArtifacts(input: {runId: "${runIds[0]}", path: "dir"}) { files { path isDir fileSize } } }`,
      );
      const root = d.root as { rootUri: string; files: unknown[] };
      expect(root.rootUri).toMatch(/^mlflow-artifacts:/);
      expect(root.files).toEqual([
        { path: 'dir', isDir: true, fileSize: '0' },
        { path: 'notes.txt', isDir: false, fileSize: '11' },
      ]);
      expect(d.sub).toEqual({ files: [{ path: 'dir/inner.txt', isDir: false, fileSize: '3' }] });
      const bad = await post(
        `{ mlflowListArtifacts(input: {runId: "${runIds[0]}", path: "../x"}) { files { path } } }`,
      );
      expect(bad.body.data).toEqual({ mlflowListArtifacts: null });
      expect(bad.body.errors![0]).toMatch(/not allowed/);
    });

    it('summarises datasets of experiments, with MLflow’s experiment-id rules', async () => {
      const d = await data(
        `mutation { mlflowSearchDatasets(input: {experimentIds: ["${experimentId}"]}) {
            datasetSummaries { experimentId name digest context } } }`,
      );
      expect(d.mlflowSearchDatasets).toEqual({
        datasetSummaries: [
          { experimentId, name: 'holdout', digest: 'd2', context: '' },
          { experimentId, name: 'train', digest: 'd1', context: 'training' },
        ],
      });
      const none = await post(
        'mutation { mlflowSearchDatasets(input: {experimentIds: []}) { datasetSummaries { name } } }',
      );
      expect(none.body.errors).toEqual([
        'SearchDatasets request must specify at least one experiment_id.',
      ]);
      const ids = Array.from({ length: 21 }, (_, i) => `"${i}"`).join(',');
      const many = await post(
        `mutation { mlflowSearchDatasets(input: {experimentIds: [${ids}]}) { datasetSummaries { name } } }`,
      );
      expect(many.body.errors![0]).toMatch(/cannot specify more than 20 experiment_ids/);
    });

    describe('query-safety limits (MLflow’s, checked before execution)', () => {
      const testFields = (n: number) =>
        Array.from({ length: n }, (_, i) => `k${i}: test(inputString: "${i}") { output }`).join(
          ' ',
        );

      it('allows 10 root fields and refuses 11', async () => {
        expect(Object.keys(await data(`{ ${testFields(10)} }`))).toHaveLength(10);
        const { status, body } = await post(`{ ${testFields(11)} }`);
        expect(status).toBe(200);
        expect(body.data).toBeNull();
        expect(body.errors).toEqual([
          'GraphQL queries should have at most 10 root fields, got 11 root fields.',
        ]);
      });

      it('refuses 11 aliases in one selection set, counted across sibling fragments', async () => {
        const aliases = (from: number, n: number) =>
          Array.from({ length: n }, (_, i) => `a${from + i}: name`).join(' ');
        const direct = await post(
          `{ mlflowGetExperiment(input: {experimentId: "${experimentId}"}) { experiment { ${aliases(0, 11)} } } }`,
        );
        expect(direct.body.errors).toEqual([
          'GraphQL queries should have at most 10 aliases, got 11 aliases.',
        ]);
        const split = await post(
          `{ mlflowGetExperiment(input: {experimentId: "${experimentId}"}) { experiment {
              ...A ... on MlflowExperiment { ${aliases(6, 5)} } } } }
           fragment A on MlflowExperiment { ${aliases(0, 6)} }`,
        );
        expect(split.body.errors).toEqual([
          'GraphQL queries should have at most 10 aliases, got 11 aliases.',
        ]);
        // Ten is within the limit, and the aliased fields resolve.
        const ten = await data(
          `{ mlflowGetExperiment(input: {experimentId: "${experimentId}"}) { experiment { ${aliases(0, 10)} } } }`,
        );
        expect(
          (ten.mlflowGetExperiment as { experiment: Record<string, string> }).experiment.a9,
        ).toBe('graphql-exp');
      });

      it('refuses documents deeper than 10 levels and with more than 1000 selections', async () => {
        let inner = 'name';
        for (let i = 0; i < 12; i++) inner = `name { ${inner} }`;
        const deep = await post(
          `{ mlflowGetExperiment(input: {experimentId: "1"}) { experiment { ${inner} } } }`,
        );
        expect(deep.body).toEqual({ data: null, errors: ['Query exceeds maximum depth of 10'] });
        const wide = Array.from({ length: 1002 }, (_, i) => `f${i} { name }`).join(' ');
        const many = await post(
          `{ mlflowGetExperiment(input: {experimentId: "1"}) { experiment { ${wide} } } }`,
        );
        expect(many.body).toEqual({
          data: null,
          errors: ['Query exceeds maximum total selections of 1000'],
        });
      });

      it('does not loop on self-referencing fragments', async () => {
        const { status, body } = await post(
          `{ mlflowGetExperiment(input: {experimentId: "1"}) { experiment { ...F } } }
           fragment F on MlflowExperiment { name tags { ...F } }`,
        );
        expect(status).toBe(200);
        expect(body).toEqual({ data: null, errors: ['Query exceeds maximum depth of 10'] });
      });
    });

    it('answers syntax and validation errors as {data: null, errors}', async () => {
      const syntax = await post('{ test(inputString: "a") { output }');
      expect(syntax.status).toBe(200);
      expect(syntax.body.data).toBeNull();
      expect(syntax.body.errors![0]).toMatch(/^Syntax Error/);
      const unknown = await post('{ noSuchField }');
      expect(unknown.body.data).toBeNull();
      expect(unknown.body.errors![0]).toMatch(/Cannot query field "noSuchField" on type "Query"/);
      const badVariable = await post(
        'query($n: LongString) { mlflowSearchModelVersions(input: {maxResults: $n}) { nextPageToken } }',
        { variables: { n: 'abc' } },
      );
      expect(badVariable.body.data).toBeNull();
      expect(badVariable.body.errors![0]).toMatch(/LongString/);
    });

    it('refuses malformed requests in MLflow’s error shape', async () => {
      const noQuery = await app.inject({ method: 'POST', url: '/graphql', payload: {} });
      expect(noQuery.statusCode).toBe(400);
      expect(noQuery.json()).toEqual({
        error_code: 'INVALID_PARAMETER_VALUE',
        message: "Missing value for required parameter 'query'.",
      });
      const badVariables = await app.inject({
        method: 'POST',
        url: '/graphql',
        payload: { query: '{ test { output } }', variables: [1] },
      });
      expect(badVariables.statusCode).toBe(400);
      const text = await app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { 'content-type': 'text/plain' },
        payload: JSON.stringify({ query: '{ test { output } }' }),
      });
      expect(text.statusCode).toBe(415);
      expect(text.json<{ error_code: string }>().error_code).toBe('BAD_REQUEST');
      const foreign = await app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { origin: 'https://evil.example' },
        payload: { query: '{ test { output } }' },
      });
      expect(foreign.statusCode).toBe(403);
    });

    it('runs queries over GET, but not mutations', async () => {
      const ok = await app.inject({
        method: 'GET',
        url: '/graphql',
        query: {
          query: 'query($s: String) { test(inputString: $s) { output } }',
          variables: '{"s":"x"}',
        },
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toEqual({ data: { test: { output: 'x' } }, errors: null });
      const deep = await app.inject({
        method: 'GET',
        url: '/graphql',
        query: { query: '{ test { output } }', variables: '['.repeat(200) + ']'.repeat(200) },
      });
      expect(deep.statusCode).toBe(400);
      expect(deep.json<{ message: string }>().message).toMatch(/nests deeper/);
      const mutation = await app.inject({
        method: 'GET',
        url: '/graphql',
        query: { query: 'mutation { testMutation(inputString: "x") { output } }' },
      });
      expect(mutation.statusCode).toBe(400);
      expect(mutation.json<{ error_code: string }>().error_code).toBe('INVALID_PARAMETER_VALUE');
    });
  });

  describe(`MLflow /graphql with auth: ${backend}`, () => {
    let t: TestContext;
    let app: FastifyInstance;

    beforeAll(async () => {
      t = await openTestContext(backend, { token: ADMIN, server: { auth: true } });
      app = await buildServer(t.ctx);
    });
    afterAll(async () => {
      await app.close();
      await t.cleanup();
    });

    it('needs a token, answers 401 in MLflow’s shape, and lets a viewer query', async () => {
      const payload = { query: '{ test(inputString: "a") { output } }' };
      const anonymous = await app.inject({ method: 'POST', url: '/graphql', payload });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json<{ error_code: string }>().error_code).toBe('UNAUTHENTICATED');
      const viewer = await t.ctx.tokens.create({ name: 'v', role: 'viewer' }, 'test');
      const ok = await app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { authorization: `Bearer ${viewer.secret}` },
        payload,
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toEqual({ data: { test: { output: 'a' } }, errors: null });
    });
  });
}
