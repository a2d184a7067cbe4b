/** tracking/search: MLflow's run search (filter grammar + OR and parentheses, order_by, paging). */
export { searchRuns } from './search-runs.js';
export type { SearchRunsOptions, SearchRunsPage, SearchViewType } from './search-runs.js';
export { parseFilter } from './filter-parser.js';
export type {
  AttributeListComparison,
  Comparison,
  DatasetComparison,
  FilterNode,
  KeyValueComparison,
  ListComparator,
  MetricComparison,
  NumericAttributeComparison,
  NumericComparator,
  StringAttributeComparison,
  StringComparator,
} from './filter-parser.js';
export { parseOrderBy, parseOrderByClause } from './order-by.js';
export type { OrderByClause } from './order-by.js';
export { encodePageToken, decodePageToken } from './page-token.js';
export { compileFilter, applyOrderBy } from './compile.js';
export type { RunExpressionBuilder } from './compile.js';
export type {
  Entity,
  RunAttribute,
  NumericAttribute,
  StringAttribute,
  DatasetKey,
} from './run-fields.js';
export { SearchScanner } from './search-scanner.js';
export type { RawComparator, RawIdentifier, RawValue } from './search-scanner.js';
