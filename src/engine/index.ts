/** engine: tabular compute on DuckDB in-process, behind a narrow interface. */
export { Engine, engineMessage } from './engine.js';
export type { Cell, EngineOptions, EngineSession, SessionAccess } from './engine.js';
export { sqlDouble, sqlIdent, sqlString, sqlStringList } from './sql-text.js';
