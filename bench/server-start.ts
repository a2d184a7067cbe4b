/**
 * `mobius server` cold start and idle memory: spawn the real CLI on a fresh home,
 * time spawn → first 200 from /health, then read the process's resident set after it
 * has idled. Targets (issue 2): start < 1 s, idle RSS < 120 MB.
 *
 * Usage: node --import tsx bench/server-start.ts [--runs N] [--idle-ms N]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './servers.js';

const BIN = fileURLToPath(new URL('../bin/mobius.js', import.meta.url));

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

/** One cold start: ms to first healthy answer, and idle RSS in MB. */
async function coldStart(idleMs: number): Promise<{ startMs: number; rssMb: number }> {
  const home = mkdtempSync(join(tmpdir(), 'mobius-bench-home-'));
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, '--home', home, 'server', '--port', String(port)], {
    cwd: home,
    env: { PATH: process.env.PATH ?? '', MOBIUS_LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      if (performance.now() - t0 > 20_000) throw new Error('server did not become healthy in 20 s');
      await sleep(5);
    }
    const startMs = Math.round(performance.now() - t0);
    await sleep(idleMs);
    return { startMs, rssMb: rssMb(child.pid!) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(home, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs `runs` cold starts and summarises them. */
export async function serverStartBench(runs: number, idleMs: number) {
  const samples = [];
  for (let i = 0; i < runs; i++) samples.push(await coldStart(idleMs));
  const starts = samples.map((s) => s.startMs);
  const rss = samples.map((s) => s.rssMb);
  return {
    runs,
    startMs: { median: median(starts), min: Math.min(...starts), max: Math.max(...starts) },
    idleRssMb: { median: median(rss), max: Math.max(...rss) },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '10' },
      'idle-ms': { type: 'string', default: '2000' },
    },
  });
  const r = await serverStartBench(Number(values.runs), Number(values['idle-ms']));
  console.log(
    `mobius server cold start (${r.runs} runs): median ${r.startMs.median} ms (min ${r.startMs.min}, max ${r.startMs.max}); idle RSS median ${r.idleRssMb.median} MB (max ${r.idleRssMb.max})`,
  );
}
