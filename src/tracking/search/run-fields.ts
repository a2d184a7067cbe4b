/**
 * What a search can name: the entity prefixes MLflow accepts (with its aliases) and the
 * run attributes, numeric and string. Shared by the filter and order_by parsers so both
 * accept exactly the same spellings.
 */

/** The kinds of thing a filter or order_by clause can name. */
export type Entity = 'metric' | 'param' | 'tag' | 'attribute' | 'dataset';

/**
 * Prefix → entity, as in MLflow's search_utils (`_VALID_IDENTIFIERS`). Case-sensitive,
 * like MLflow: `Metrics.acc` is an error there too.
 */
export const ENTITY_PREFIXES: Readonly<Record<string, Entity>> = {
  metric: 'metric',
  metrics: 'metric',
  parameter: 'param',
  parameters: 'param',
  param: 'param',
  params: 'param',
  tag: 'tag',
  tags: 'tag',
  attribute: 'attribute',
  attributes: 'attribute',
  attr: 'attribute',
  run: 'attribute',
  dataset: 'dataset',
  datasets: 'dataset',
};

/** Run attributes compared as numbers (milliseconds since the epoch). */
export const NUMERIC_ATTRIBUTES = ['start_time', 'end_time'] as const;
export type NumericAttribute = (typeof NUMERIC_ATTRIBUTES)[number];

/**
 * Run attributes compared as strings. MLflow's searchable set plus `lifecycle_stage`
 * (Mobius keeps it as a column, so filtering on it costs nothing; view_type still
 * applies on top).
 */
export const STRING_ATTRIBUTES = [
  'run_id',
  'run_name',
  'status',
  'user_id',
  'artifact_uri',
  'lifecycle_stage',
] as const;
export type StringAttribute = (typeof STRING_ATTRIBUTES)[number];

/** Every run attribute a search can filter or sort on. */
export type RunAttribute = NumericAttribute | StringAttribute;

/** MLflow's alternate spellings (`translate_key_alias`): the UI's column titles. */
const ATTRIBUTE_ALIASES: Readonly<Record<string, RunAttribute>> = {
  created: 'start_time',
  Created: 'start_time',
  'run name': 'run_name',
  'Run name': 'run_name',
  'Run Name': 'run_name',
};

/** The dataset fields MLflow filters on (`DATASET_ATTRIBUTES`). */
export const DATASET_KEYS = ['name', 'digest', 'context'] as const;
export type DatasetKey = (typeof DATASET_KEYS)[number];

/** The canonical attribute `name` stands for (after aliases), or undefined. */
export function resolveAttribute(name: string): RunAttribute | undefined {
  if ((NUMERIC_ATTRIBUTES as readonly string[]).includes(name)) return name as NumericAttribute;
  if ((STRING_ATTRIBUTES as readonly string[]).includes(name)) return name as StringAttribute;
  return Object.hasOwn(ATTRIBUTE_ALIASES, name) ? ATTRIBUTE_ALIASES[name] : undefined;
}

/** True for start_time and end_time. */
export function isNumericAttribute(attribute: RunAttribute): attribute is NumericAttribute {
  return (NUMERIC_ATTRIBUTES as readonly string[]).includes(attribute);
}

/** The entity a prefix stands for, or undefined; safe against `__proto__` and friends. */
export function resolveEntityPrefix(prefix: string): Entity | undefined {
  return Object.hasOwn(ENTITY_PREFIXES, prefix) ? ENTITY_PREFIXES[prefix] : undefined;
}

/** The list users see in "unknown attribute" messages. */
export const ATTRIBUTE_LIST = [...STRING_ATTRIBUTES, ...NUMERIC_ATTRIBUTES, 'created'].join(', ');
