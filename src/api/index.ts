/** api: the HTTP shell over the domain services. */
export { buildServer, listRoutes } from './server.js';
export type { RouteEntry } from './server.js';
