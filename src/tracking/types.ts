/** The tracking domain's public shapes (camelCase; protocol shells map them to their wire form). */
import type { RunStatus } from '../store/index.js';

export type { RunStatus };
export type LifecycleStage = 'active' | 'deleted';
export type ViewType = 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';

export interface Experiment {
  id: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: LifecycleStage;
  createdAt: number;
  updatedAt: number;
  tags: Record<string, string>;
}

/** One metric point. `value` may be NaN or ±Infinity. */
export interface MetricPoint {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export interface RunInfo {
  id: string;
  experimentId: string;
  name: string | null;
  status: RunStatus;
  userId: string | null;
  startTime: number;
  endTime: number | null;
  artifactUri: string;
  lifecycleStage: LifecycleStage;
  parentRunId: string | null;
}

export interface Run {
  info: RunInfo;
  data: {
    /** The latest point of each metric. */
    metrics: MetricPoint[];
    params: Record<string, string>;
    tags: Record<string, string>;
  };
}

/** What one log-batch call carries. */
export interface RunBatch {
  metrics?: MetricPoint[];
  params?: { key: string; value: string }[];
  tags?: { key: string; value: string }[];
}
