/**
 * sdk: the TypeScript client of a Mobius server (`/api/v1/`), for training scripts and
 * services. Imported as `mobius/dist/sdk/index.js` (see docs/sdk.md).
 */
export { MobiusClient } from './client.js';
export type { MobiusClientOptions, RetryPolicy, StartRunOptions } from './client.js';
export { RunHandle, MAX_BATCH_POINTS } from './run.js';
export type { RunHandleOptions } from './run.js';
export { captureCodeIdentity, SOURCE_TAGS, MOBIUS_TAGS, LOCKFILES } from './code-identity.js';
export type { CodeIdentityOptions } from './code-identity.js';
export { encodeValue, decodeValue } from './types.js';
export type { ModelVersion, RunComparison, RunData, WireValue } from './types.js';
export { MobiusError, isMobiusError } from '../core/index.js';
export type { ErrorCode, PackedPoints } from '../core/index.js';
