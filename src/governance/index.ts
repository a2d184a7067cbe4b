/** governance: API tokens and roles (audit log and PII scans arrive with their issues). */
export { TokenService } from './tokens.js';
export type { Principal, TokenInfo } from './tokens.js';
