/**
 * Prometheus metrics: Node process metrics plus request count and latency by route.
 * Routes are labelled by their pattern (`/api/v1/tokens/:id`), never the raw URL, so
 * label cardinality stays bounded whatever clients send.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The label for requests that matched no route. */
const UNMATCHED = '<unmatched>';

const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** Creates this server's registry with process metrics and the HTTP instruments. */
export function createMetrics(): { registry: Registry; requests: Counter; duration: Histogram } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client names three gauges with a counter's `_total` suffix, which promtool (and
  // Prometheus' naming rules) reject. The per-type gauges without the suffix stay.
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({
    name: 'mobius_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code.',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'mobius_http_request_duration_seconds',
    help: 'Time from request received to response sent, by method, route pattern and status code.',
    labelNames,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return { registry, requests, duration };
}

/**
 * Counts and times every response, and serves `/metrics`: these, plus the domains' own
 * registries (`extra`: serving's per-deployment instruments).
 */
export function registerMetrics(app: FastifyInstance, extra: readonly Registry[] = []): void {
  const { registry: own, requests, duration } = createMetrics();
  const registry = extra.length === 0 ? own : Registry.merge([own, ...extra]);
  app.addHook('onResponse', async (request, reply) => {
    const labels = {
      method: request.method,
      route:
        reply.statusCode === 404 && request.is404
          ? UNMATCHED
          : (request.routeOptions.url ?? UNMATCHED),
      status: String(reply.statusCode),
    };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    void reply.type(registry.contentType);
    return registry.metrics();
  });
}
