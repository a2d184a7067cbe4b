/** The error a promise was refused with; fails the test when it resolved instead. */
import { expect } from 'vitest';

/** Awaits `promise` and returns its rejection (`{code, message}`), failing if it resolved. */
export async function refused(
  promise: Promise<unknown>,
): Promise<{ code: string; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e as { code: string; message: string },
  );
  expect(error, 'expected a refusal').toBeDefined();
  return error!;
}
