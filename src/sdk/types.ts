/** What the SDK hands back: the `/api/v1/` JSON shapes (see docs/api.md). */

/** A metric value on the wire: JSON has no NaN or ±Infinity, so they travel as strings. */
export type WireValue = number | 'NaN' | 'Infinity' | '-Infinity';

/** A run as `/api/v1/runs/:id` returns it. */
export interface RunData {
  id: string;
  experimentId: string;
  name: string | null;
  status: 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';
  userId: string | null;
  startTime: number;
  endTime: number | null;
  artifactUri: string;
  lifecycleStage: 'active' | 'deleted';
  parentRunId: string | null;
  params: Record<string, string>;
  tags: Record<string, string>;
  /** The latest point of each metric. */
  metrics: { key: string; value: WireValue; step: number; timestamp: number }[];
}

/** A model version as `/api/v1/models/:name/versions/:version` returns it. */
export interface ModelVersion {
  name: string;
  version: number;
  source: string;
  runId: string | null;
  status: string;
  description: string | null;
  currentStage: string;
  userId: string | null;
  createdAt: number;
  updatedAt: number;
  tags: Record<string, string>;
  aliases: string[];
}

/** `GET /api/v1/runs/compare`: every array is in the order the run ids were given. */
export interface RunComparison {
  runs: {
    id: string;
    name: string | null;
    experimentId: string;
    status: RunData['status'];
    startTime: number;
    endTime: number | null;
  }[];
  params: { key: string; values: (string | null)[]; differs: boolean }[];
  tags: { key: string; values: (string | null)[]; differs: boolean }[];
  metrics: {
    key: string;
    latest: (WireValue | null)[];
    min: (WireValue | null)[];
    max: (WireValue | null)[];
    differs: boolean;
  }[];
}

/** A number as the wire carries it. */
export function encodeValue(value: number): WireValue {
  if (Number.isFinite(value)) return value;
  return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
}

/** The number a wire value stands for. */
export function decodeValue(value: WireValue): number {
  return typeof value === 'number' ? value : Number(value);
}
