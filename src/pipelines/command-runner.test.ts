import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCommand } from './command-runner.js';

const dir = mkdtempSync(join(tmpdir(), 'mobius-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('runCommand', () => {
  it('stops at once a command whose run was cancelled before it started, and reports its pid', async () => {
    const controller = new AbortController();
    controller.abort();
    const pids: number[] = [];
    const started = performance.now();
    const r = await runCommand({
      argv: ['sleep', '30'],
      cwd: dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdoutPath: join(dir, 'out.log'),
      stderrPath: join(dir, 'err.log'),
      signal: controller.signal,
      onSpawn: (pid) => pids.push(pid),
    });
    expect(r.aborted).toBe(true);
    expect(r.signal).toBe('SIGTERM');
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(pids).toHaveLength(1);
    expect(pids[0]).toBeGreaterThan(1);
  });
});
