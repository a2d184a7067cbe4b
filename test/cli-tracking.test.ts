/** `mobius runs …` and `mobius models …` through bin/mobius.js over the built CLI. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/core/index.js';
import { openMobius } from '../src/context/index.js';
import { STORE_BACKENDS, freshLocation } from './helpers/stores.js';

const BIN = fileURLToPath(new URL('../bin/mobius.js', import.meta.url));

function mobius(args: string[], env: Record<string, string> = {}) {
  const cwd = mkdtempSync(join(tmpdir(), 'mobius-cli-'));
  try {
    const res = spawnSync(process.execPath, [BIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
    });
    return { code: res.status, stdout: res.stdout, stderr: res.stderr };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

/** The run ids of a `runs ls --json` answer, in order. */
function idsOf(answer: unknown): string[] {
  return (answer as { runs: { info: { id: string } }[] }).runs.map((r) => r.info.id);
}

interface Seeded {
  fast: string;
  slow: string;
  other: string;
}

/** Two runs in 'churn' that differ in lr and acc, one in 'fraud', and a model with two versions. */
async function seed(location: string, home: string): Promise<Seeded> {
  const config = resolveConfig({ store: location, log: { level: 'silent' } }, home);
  const ctx = await openMobius(config, { migrate: true });
  try {
    const { experiments, runs } = ctx.tracking;
    const churn = await experiments.create({ name: 'churn' });
    const fraud = await experiments.create({ name: 'fraud' });
    const t0 = Date.UTC(2025, 0, 2, 3, 4, 5);
    const make = async (
      experimentId: string,
      name: string,
      lr: string,
      acc: number,
      seconds: number,
    ) => {
      const run = await runs.create({ experimentId, name, startTime: t0, tags: { team: 'ml' } });
      await runs.logBatch(run.info.id, {
        params: [
          { key: 'lr', value: lr },
          { key: 'opt', value: 'adam' },
        ],
        metrics: [
          { key: 'acc', value: acc, timestamp: t0, step: 1 },
          { key: 'loss', value: 0.25, timestamp: t0, step: 1 },
        ],
      });
      await runs.update(run.info.id, { status: 'FINISHED', endTime: t0 + seconds * 1000 });
      return run.info.id;
    };
    const fast = await make(churn, 'fast-run', '0.1', 0.9, 65);
    const slow = await make(churn, 'slow-run', '0.01', 0.95, 5);
    const other = await make(fraud, 'fraud-run', '0.1', 0.5, 1);
    await ctx.registry.models.create({ name: 'churn-model', description: 'predicts churn' });
    await ctx.registry.versions.create({
      name: 'churn-model',
      source: `mlflow-artifacts:/${churn}/${fast}/artifacts/model`,
      runId: fast,
    });
    await ctx.registry.versions.create({
      name: 'churn-model',
      source: `mlflow-artifacts:/${churn}/${slow}/artifacts/model`,
      runId: slow,
    });
    await ctx.registry.versions.transitionStage('churn-model', 2, 'Production');
    await ctx.registry.models.create({ name: 'fraud-model' });
    return { fast, slow, other };
  } finally {
    await ctx.close();
  }
}

for (const backend of STORE_BACKENDS) {
  describe(`cli runs and models: ${backend}`, () => {
    let location: string;
    let remove: () => Promise<void>;
    let home: string;
    let ids: Seeded;
    const cli = (...args: string[]) => mobius(['--store', location, '--home', home, ...args]);

    beforeAll(async () => {
      ({ location, remove } = freshLocation(backend));
      home = mkdtempSync(join(tmpdir(), 'mobius-home-'));
      ids = await seed(location, home);
    });
    afterAll(async () => {
      await remove();
      rmSync(home, { recursive: true, force: true });
    });

    it('runs ls prints a table with latest metrics for people', () => {
      const r = cli('runs', 'ls');
      expect(r.code).toBe(0);
      const [header, ...rows] = r.stdout.trim().split('\n');
      expect(header).toMatch(/^RUN ID\s+NAME\s+STATUS\s+START\s+DURATION\s+acc\s+loss$/);
      expect(rows).toHaveLength(3);
      const fast = rows.find((l) => l.startsWith(ids.fast));
      expect(fast).toMatch(/fast-run\s+FINISHED\s+2025-01-02 03:04:05Z\s+1m05s\s+0\.9\s+0\.25/);
    });

    it('runs ls --json, by experiment name, with a filter and order', () => {
      const all = JSON.parse(cli('--json', 'runs', 'ls', '--experiment', 'churn').stdout);
      expect(idsOf(all).sort()).toEqual([ids.fast, ids.slow].sort());
      const filtered = JSON.parse(
        cli('--json', 'runs', 'ls', '--filter', "params.lr = '0.01'").stdout,
      );
      expect(filtered.runs).toHaveLength(1);
      expect(filtered.runs[0]).toMatchObject({
        info: { id: ids.slow, name: 'slow-run', status: 'FINISHED' },
        data: { params: { lr: '0.01', opt: 'adam' } },
      });
      const ordered = JSON.parse(
        cli('--json', 'runs', 'ls', '--order-by', 'metrics.acc DESC', '--max', '2').stdout,
      );
      expect(idsOf(ordered)).toEqual([ids.slow, ids.fast]);
      expect(ordered.nextPageToken).toEqual(expect.any(String));
      expect(cli('runs', 'ls', '--max', '2').stdout).toContain('raise --max');
    });

    it('runs ls rejects a bad filter and an unknown experiment', () => {
      expect(cli('runs', 'ls', '--filter', 'params.lr ~ 3').code).toBe(2);
      const missing = cli('runs', 'ls', '--experiment', 'nope');
      expect(missing.code).toBe(3);
      expect(missing.stderr).toContain("no experiment named or numbered 'nope'");
    });

    it('runs show hides mlflow.* tags unless --all', () => {
      const r = cli('runs', 'show', ids.fast);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^id\s+/);
      expect(r.stdout).toMatch(/status\s+FINISHED/);
      expect(r.stdout).toMatch(/lr\s+0\.1/);
      expect(r.stdout).toMatch(/acc\s+0\.9\s+1/);
      expect(r.stdout).toMatch(/team\s+ml/);
      expect(r.stdout).not.toContain('mlflow.runName');
      expect(cli('runs', 'show', ids.fast, '--all').stdout).toContain('mlflow.runName');
      const json = JSON.parse(cli('--json', 'runs', 'show', ids.fast).stdout);
      expect(json.data.tags).toEqual({ team: 'ml' });
      expect(json.data.metrics).toContainEqual(expect.objectContaining({ key: 'acc', value: 0.9 }));
    });

    it('runs show of an unknown run is NOT_FOUND with exit code 3', () => {
      const r = cli('runs', 'show', 'f'.repeat(32));
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`Run with id=${'f'.repeat(32)} not found`);
      const json = cli('--json', 'runs', 'show', 'f'.repeat(32));
      expect(json.code).toBe(3);
      expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    });

    it('runs compare marks the rows that differ', () => {
      const r = cli('runs', 'compare', ids.fast, ids.slow, ids.other);
      expect(r.code).toBe(0);
      const lines = r.stdout.split('\n');
      expect(lines[0]).toMatch(
        new RegExp(`KEY\\s+${ids.fast.slice(0, 8)}\\s+${ids.slow.slice(0, 8)}`),
      );
      expect(lines.find((l) => l.includes('params.lr'))).toMatch(/^\*\s+params\.lr\s+0\.1\s+0\.01/);
      expect(lines.find((l) => l.includes('params.opt'))).toMatch(/^\s+params\.opt\s+adam/);
      expect(lines.find((l) => l.includes('metrics.acc'))).toMatch(/^\*/);
      expect(lines.find((l) => l.includes('metrics.loss'))).not.toMatch(/^\*/);
      const json = JSON.parse(cli('--json', 'runs', 'compare', ids.fast, ids.slow).stdout);
      expect(json.runIds).toEqual([ids.fast, ids.slow]);
      expect(json.rows).toContainEqual({
        key: 'metrics.acc',
        values: [0.9, 0.95],
        differs: true,
      });
      expect(json.rows).toContainEqual({
        key: 'params.opt',
        values: ['adam', 'adam'],
        differs: false,
      });
      expect(cli('runs', 'compare', ids.fast).code).toBe(2);
      expect(cli('runs', 'compare', ids.fast, 'f'.repeat(32)).code).toBe(3);
    });

    it('models ls and show', () => {
      const ls = cli('models', 'ls');
      expect(ls.code).toBe(0);
      expect(ls.stdout).toMatch(/^NAME\s+LATEST\s+ALIASES\s+UPDATED/);
      expect(ls.stdout).toMatch(/churn-model\s+None:1, Production:2/);
      expect(ls.stdout).toContain('fraud-model');
      const filtered = JSON.parse(
        cli('--json', 'models', 'ls', '--filter', "name LIKE 'fraud%'").stdout,
      );
      expect((filtered as { models: { name: string }[] }).models.map((m) => m.name)).toEqual([
        'fraud-model',
      ]);
      const show = cli('models', 'show', 'churn-model');
      expect(show.code).toBe(0);
      expect(show.stdout).toContain('predicts churn');
      expect(show.stdout).toMatch(/VERSION\s+STAGE\s+ALIASES\s+EVALUATION\s+STATUS\s+RUN\s+SOURCE/);
      expect(show.stdout).toMatch(new RegExp(`2\\s+Production\\s+READY\\s+${ids.slow}`));
      const missing = cli('models', 'show', 'nope');
      expect(missing.code).toBe(3);
    });

    it('models alias sets, moves and deletes an alias', () => {
      // 'champion' is protected by default: no passing evaluation, so --force with a reason.
      const gated = cli('models', 'alias', 'churn-model', 'champion', '1');
      expect(gated.code).toBe(4);
      expect(gated.stderr).toMatch(
        /alias 'champion' is protected: .*mobius models evaluate churn-model@1/,
      );
      const force = ['--force', '--reason', 'cli test'];
      const set = cli('models', 'alias', 'churn-model', 'champion', '1', ...force);
      expect(set.code).toBe(0);
      expect(set.stdout).toContain("alias 'champion' of 'churn-model' now names version 1");
      const moved = JSON.parse(
        cli('--json', 'models', 'alias', 'churn-model', 'champion', '2', ...force).stdout,
      );
      expect(moved).toEqual({ name: 'churn-model', alias: 'champion', version: 2 });
      const shown = JSON.parse(cli('--json', 'models', 'show', 'churn-model').stdout);
      expect(shown.model.aliases).toEqual([{ alias: 'champion', version: 2 }]);
      expect(
        (shown as { versions: { aliases: string[] }[] }).versions.map((v) => v.aliases),
      ).toEqual([['champion'], []]);
      expect(cli('models', 'show', 'churn-model').stdout).toMatch(/2\s+Production\s+champion/);
      const deleted = cli('models', 'alias', 'churn-model', 'champion', '--delete');
      expect(deleted.code).toBe(0);
      expect(deleted.stdout).toContain("removed alias 'champion'");
      const after = JSON.parse(cli('--json', 'models', 'show', 'churn-model').stdout);
      expect(after.model.aliases).toEqual([]);
    });

    it('models alias rejects a missing version, a reserved alias and an unknown version', () => {
      expect(cli('models', 'alias', 'churn-model', 'champion', '9').code).toBe(3);
      expect(cli('models', 'alias', 'churn-model', 'champion').code).toBe(2);
      expect(cli('models', 'alias', 'churn-model', 'latest', '1').code).toBe(2);
    });

    it('refuses MOBIUS_URL with a clear INVALID_ARGUMENT', () => {
      for (const args of [
        ['runs', 'ls'],
        ['runs', 'show', ids.fast],
        ['models', 'ls'],
      ]) {
        const r = mobius(args, { MOBIUS_URL: 'http://127.0.0.1:1' });
        expect(r.code).toBe(2);
        expect(r.stderr).toContain('does not support remote mode yet; unset MOBIUS_URL');
      }
      const json = mobius(['--json', 'models', 'ls'], { MOBIUS_URL: 'http://127.0.0.1:1' });
      expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
    });
  });
}
