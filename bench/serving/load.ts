/**
 * The serving benchmark's load generator, run as a process of its own (the server under
 * test never shares its event loop). POSTs one JSON body over keep-alive loopback
 * connections and prints one JSON line of results.
 *
 *   --rate R         open loop: R requests a second on schedule, whatever the answers do;
 *                    latency is counted from each request's scheduled time, so a stalled
 *                    server is not hidden (no coordinated omission)
 *   --connections C  closed loop: C requests in flight at all times (throughput)
 *
 * Latencies are measured with performance.now() (sub-microsecond): sub-millisecond added
 * latency is the figure asked for, finer than the whole-millisecond histograms of common
 * load tools.
 *
 * Usage: node --import tsx bench/serving/load.ts --url URL --body FILE (--rate R | --connections C)
 *          [--seconds 10] [--warmup 2]
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    body: { type: 'string' },
    rate: { type: 'string' },
    connections: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
  },
});
if (args.url === undefined || args.body === undefined)
  throw new Error('--url and --body are required');
const url = new URL(args.url);
const body = readFileSync(args.body);
const agent = new Agent({ keepAlive: true, maxSockets: 512 });
const now = () => performance.now(); // ms, sub-µs resolution, no allocation

/** Sends one request; resolves with whether the answer was a 2xx with a body. */
function send(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300));
        res.on('error', () => resolve(false));
      },
    );
    req.on('error', () => resolve(false));
    req.end(body);
  });
}

interface Phase {
  latencies: number[];
  ok: number;
  failed: number;
}

/**
 * Open loop: a clock thread sleeps until shortly before each request's scheduled time
 * (Atomics.wait takes fractions of a millisecond) and wakes this thread, which polls the
 * clock for the last EARLY_US and sends on time. Sleeping here instead would delay reading
 * answers; polling the clock the whole time — as this generator once did — kept a core
 * busy, half of a 2-core machine taken from the server under test. Waking a thread takes
 * ~0.1–0.2 ms, which the latencies (counted from the scheduled time) would otherwise
 * include. The poll allocates nothing (no promise per turn): this process's own garbage
 * collections would land in the latencies.
 */
const EARLY_MS = 0.3;

async function openLoop(rate: number, seconds: number, record: boolean, phase: Phase) {
  const total = Math.round(rate * seconds);
  // The clock starts once its thread is up; both threads count in milliseconds since the
  // epoch (timeOrigin + now), which they share.
  const clock = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const { rate, total, early } = workerData;
     const sleeper = new Int32Array(new SharedArrayBuffer(4));
     const epoch = () => performance.timeOrigin + performance.now();
     const start = epoch() + 1;
     parentPort.postMessage(start);
     for (let i = 0; i < total; i++) {
       const wait = start + (i * 1000) / rate - early - epoch();
       if (wait > 0) Atomics.wait(sleeper, 0, 0, wait);
       parentPort.postMessage(i);
     }`,
    { eval: true, workerData: { rate, total, early: EARLY_MS } },
  );
  let start: number | undefined;
  let pending = 0;
  await new Promise<void>((done, fail) => {
    let last = false;
    const settle = () => {
      if (--pending === 0 && last) done();
    };
    clock.on('error', fail);
    clock.on('message', (i: number) => {
      if (start === undefined) {
        start = i - performance.timeOrigin;
        return;
      }
      const scheduled = start + (i * 1000) / rate;
      pending++;
      last = i === total - 1;
      // Poll the clock between turns of the event loop for the last EARLY_MS, then send.
      const fire = () => {
        if (now() < scheduled) {
          setImmediate(fire);
          return;
        }
        void send().then((ok) => {
          if (record) {
            if (ok) phase.ok++;
            else phase.failed++;
            phase.latencies.push(now() - scheduled);
          }
          settle();
        });
      };
      fire();
    });
  });
  await clock.terminate();
}

async function closedLoop(connections: number, seconds: number, record: boolean, phase: Phase) {
  const end = now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (now() < end) {
        const t = now();
        const ok = await send();
        if (!record) continue;
        if (ok) phase.ok++;
        else phase.failed++;
        phase.latencies.push(now() - t);
      }
    }),
  );
}

const run = (seconds: number, record: boolean, phase: Phase) =>
  args.rate !== undefined
    ? openLoop(Number(args.rate), seconds, record, phase)
    : closedLoop(Number(args.connections ?? '16'), seconds, record, phase);

const phase: Phase = { latencies: [], ok: 0, failed: 0 };
await run(Number(args.warmup), false, phase);
const t0 = now();
await run(Number(args.seconds), true, phase);
const elapsed = (now() - t0) / 1000;
const sorted = Float64Array.from(phase.latencies).sort();
const pct = (q: number) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
console.log(
  JSON.stringify({
    ok: phase.ok,
    failed: phase.failed,
    seconds: elapsed,
    rps: phase.ok / elapsed,
    p50: pct(0.5),
    p90: pct(0.9),
    p99: pct(0.99),
    max: pct(1),
  }),
);
agent.destroy();
