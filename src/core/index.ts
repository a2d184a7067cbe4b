/** core: config, errors, ids, hashing, limits and name rules, clock, logger. */
export { loadConfig, resolveConfig, CONFIG_FILES } from './config.js';
export type { MobiusConfig, ConfigInput, LoadConfigOptions, OpenLineageConfig } from './config.js';
export { MobiusError, ERROR_CODES, HTTP_STATUS, isMobiusError, toMobiusError } from './errors.js';
export type { ErrorCode, ErrorBody } from './errors.js';
export { newId, isId } from './ids.js';
export { sha256Hex, constantTimeEqual, HashingStream, SHA256_PATTERN } from './hashing.js';
export * as limits from './limits.js';
export {
  checkName,
  checkDisplayName,
  checkKey,
  checkValueLength,
  checkDatasetName,
  checkDatasetTag,
} from './limits.js';
export { systemClock, ManualClock } from './clock.js';
export type { Clock } from './clock.js';
export { createLogger, LOG_LEVELS } from './logger.js';
export type { Logger, LogLevel } from './logger.js';
export { VERSION } from './version.js';
export { safeRelativePath, decodeUntilStable, MAX_PATH_LENGTH } from './safe-path.js';
export { packPoints, packColumns, unpackPoints } from './metric-points.js';
export type { PackedPoints } from './metric-points.js';
