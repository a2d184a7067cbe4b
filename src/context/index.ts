/** context: the composition root that wires config, store, blobs and services together. */
export { openMobius } from './open-mobius.js';
export type { MobiusContext, OpenMobiusOptions } from './open-mobius.js';
export { datasetIO, gateRunner } from './pipeline-adapters.js';
