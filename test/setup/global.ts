/**
 * Vitest global setup: starts the services the suites need for this run and hands
 * their addresses to the test workers through `provide`.
 *
 * - PostgreSQL: used when TEST_STORES includes `postgres` (TEST_POSTGRES_URL, default
 *   postgres://postgres@127.0.0.1:5432/postgres). `.ci/run` installs and starts it.
 * - S3: TEST_S3_ENDPOINT when set; otherwise a local SeaweedFS S3 gateway is started
 *   when its binary is installed (see test/setup/s3.ts); otherwise the S3 leg is skipped.
 */
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startS3 } from './s3.js';

declare module 'vitest' {
  export interface ProvidedContext {
    s3Endpoint: string | null;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const s3 = await startS3();
  project.provide('s3Endpoint', s3?.endpoint ?? null);
  return async () => {
    await s3?.stop();
  };
}
