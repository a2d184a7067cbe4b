/** The SQLite backend. */
export { MobiusSqliteDialect, openSqliteDatabase } from './sqlite-dialect.js';
