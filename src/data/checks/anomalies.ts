/**
 * History anomalies: the metrics every check run records (row count, and per column the
 * null rate and the mean) compared with the same metrics on the dataset's earlier checked
 * versions. A value outside mean ± 3σ of that history becomes a warning that carries the
 * history, so the reader sees what "normal" was.
 */
import { limits } from '../../core/index.js';
import type { DatasetVersion } from '../types.js';
import type { Anomaly } from './results.js';

/** The metrics a check run records for a version, from its exact profile. */
export function versionMetrics(v: DatasetVersion): Map<string, number> {
  const out = new Map<string, number>([['row_count', v.rowCount]]);
  for (const c of (v.profile?.columns ?? []).slice(0, limits.CHECK_METRIC_COLUMNS)) {
    if (c.count > 0) out.set(`null_rate:${c.name}`, c.nullCount / c.count);
    if (c.mean !== null && Number.isFinite(c.mean)) out.set(`mean:${c.name}`, c.mean);
  }
  return out;
}

/**
 * Each metric whose value lies outside mean ± CHECK_ANOMALY_SIGMAS·σ of its history (at
 * least CHECK_HISTORY_MIN_VERSIONS earlier versions). A history that never moved (σ = 0)
 * flags any change: a null rate that was 0 on every version and is now 0.3 is news.
 */
export function findAnomalies(
  current: Map<string, number>,
  history: Map<string, { version: number; value: number }[]>,
): Anomaly[] {
  const out: Anomaly[] = [];
  for (const [metric, value] of current) {
    const points = history.get(metric) ?? [];
    if (points.length < limits.CHECK_HISTORY_MIN_VERSIONS) continue;
    const n = points.length;
    const mean = points.reduce((s, p) => s + p.value, 0) / n;
    const stddev = Math.sqrt(points.reduce((s, p) => s + (p.value - mean) ** 2, 0) / (n - 1));
    const distance = Math.abs(value - mean);
    // Relative slack for float noise in a constant history (a mean of 0.1 summed 30 times).
    const flat = stddev <= 1e-12 * Math.max(1, Math.abs(mean));
    if (
      flat
        ? distance <= 1e-9 * Math.max(1, Math.abs(mean))
        : distance <= limits.CHECK_ANOMALY_SIGMAS * stddev
    )
      continue;
    const sigmas = flat ? Infinity : distance / stddev;
    out.push({
      metric,
      value,
      mean,
      stddev,
      sigmas,
      message: flat
        ? `${metric} is ${fmt(value)}; it was ${fmt(mean)} on each of the last ${n} checked versions`
        : `${metric} is ${fmt(value)}, ${sigmas.toFixed(1)}σ from its mean ${fmt(mean)} (σ ${fmt(stddev)}) over the last ${n} checked versions`,
      history: [...points].sort((a, b) => a.version - b.version),
    });
  }
  return out;
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(4);
}
