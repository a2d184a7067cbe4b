/** lineage: walks over the spine's edge graph (what produced a prediction, a model, a dataset version). */
export { LineageService } from './lineage-service.js';
export type { LineageGraph, LineageNode } from './lineage-service.js';
