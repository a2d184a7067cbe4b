/**
 * Tracking ids in the shapes MLflow's clients expect: experiment ids are decimal strings
 * (some clients and UIs parse them as integers), run ids are 32 hex characters (uuid4).
 */
import { randomBytes, randomUUID } from 'node:crypto';

/** A new experiment id: milliseconds and random digits, decimal, sortable by creation. */
export function newExperimentId(now: number): string {
  const random = randomBytes(4).readUInt32BE(0) % 1000;
  return `${now}${String(random).padStart(3, '0')}`;
}

/** A new run id: a uuid4 without dashes, as MLflow makes them. */
export function newRunId(): string {
  return randomUUID().replaceAll('-', '');
}
