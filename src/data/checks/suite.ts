/**
 * Expectation suites: what a suite file says, validated at load with errors that name the
 * expectation (by position and kind) and the field to fix.
 *
 * The vocabulary follows Great Expectations' names, shortened (`not_null` for
 * expect_column_values_to_not_be_null), and covers the four data-quality dimensions:
 * completeness, consistency, validity (the proxies for accuracy) and timeliness. The same
 * object is accepted from TypeScript (`Suite`) and from YAML (`parseSuite`).
 */
import { createHash } from 'node:crypto';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { MobiusError, limits } from '../../core/index.js';

const severity = z.enum(['error', 'warn']).default('error');
const column = z.string().min(1, 'a column name');
const mostly = z.number().gt(0).lte(1).default(1);
const scalar = z.union([z.number(), z.string(), z.boolean()]);
/** A bound: a number for numeric columns, a string for dates, times and text. */
const bound = z.union([z.number(), z.string()]);
/** `30m`, `24h`, `7d`, `2w`: a window for freshness and version age. */
const duration = z
  .string()
  .regex(/^\d+(\.\d+)?\s*(s|m|h|d|w)$/, "a duration such as '30m', '24h', '7d' or '2w'");

const base = { severity, description: z.string().max(2000).optional() };

const expectations = [
  // completeness
  z.strictObject({ expect: z.literal('not_null'), column, mostly, ...base }),
  z.strictObject({
    expect: z.literal('row_count_between'),
    min: z.number().int().nonnegative().optional(),
    max: z.number().int().nonnegative().optional(),
    ...base,
  }),
  z.strictObject({
    expect: z.literal('partitions_not_empty'),
    column,
    every: z.enum(['hour', 'day', 'week', 'month', 'year']).optional(),
    values: z.array(scalar).min(1).max(limits.MAX_CHECK_SET_VALUES).optional(),
    ...base,
  }),
  // consistency
  z.strictObject({
    expect: z.literal('schema'),
    columns: z.array(z.strictObject({ name: column, type: z.string().min(1).optional() })).min(1),
    ordered: z.boolean().default(false),
    exact: z.boolean().default(true),
    ...base,
  }),
  z.strictObject({ expect: z.literal('unique'), column, mostly, ...base }),
  z.strictObject({
    expect: z.literal('compound_unique'),
    columns: z.array(column).min(2).max(32),
    mostly,
    ...base,
  }),
  z.strictObject({
    expect: z.literal('references'),
    column,
    dataset: z.string().min(1, "a dataset version such as 'customers@prod'"),
    refColumn: column.optional(),
    mostly,
    ...base,
  }),
  z.strictObject({
    expect: z.literal('column_pair'),
    left: column,
    op: z.enum(['<', '<=', '=', '!=', '>', '>=']),
    right: column,
    mostly,
    ...base,
  }),
  z.strictObject({
    expect: z.literal('sum_equals'),
    columns: z.array(column).min(1).max(64),
    total: column,
    tolerance: z.number().nonnegative().default(0),
    mostly,
    ...base,
  }),
  // validity
  z.strictObject({
    expect: z.literal('between'),
    column,
    min: bound.optional(),
    max: bound.optional(),
    strictMin: z.boolean().default(false),
    strictMax: z.boolean().default(false),
    mostly,
    ...base,
  }),
  z.strictObject({
    expect: z.literal('in_set'),
    column,
    values: z.array(scalar).min(1).max(limits.MAX_CHECK_SET_VALUES),
    mostly,
    ...base,
  }),
  z.strictObject({
    expect: z.literal('regex'),
    column,
    pattern: z.string().min(1).max(4096),
    mostly,
    ...base,
  }),
  z.strictObject({
    expect: z.literal('length_between'),
    column,
    min: z.number().int().nonnegative().optional(),
    max: z.number().int().nonnegative().optional(),
    mostly,
    ...base,
  }),
  z.strictObject({
    expect: z.literal('date_format'),
    column,
    format: z.string().min(1).max(200),
    mostly,
    ...base,
  }),
  z.strictObject({
    expect: z.literal('distribution'),
    column,
    reference: z.string().min(1, "a dataset version such as 'orders@3'"),
    method: z.enum(['ks', 'chi2']).optional(),
    minPValue: z.number().gte(0).lte(1).optional(),
    maxStatistic: z.number().nonnegative().optional(),
    ...base,
  }),
  // timeliness
  z.strictObject({ expect: z.literal('fresh'), column, within: duration, ...base }),
  z.strictObject({ expect: z.literal('version_age'), within: duration, ...base }),
] as const;

const expectation = z.discriminatedUnion('expect', expectations);

const suiteSchema = z.strictObject({
  name: z
    .string()
    .regex(limits.DATASET_NAME_PATTERN, 'letters, digits, _ . - (no spaces or slashes)')
    .max(limits.MAX_DATASET_NAME_LENGTH_CHARS)
    .default('suite'),
  description: z.string().max(2000).optional(),
  expectations: z.array(z.unknown()).min(1).max(limits.MAX_CHECK_EXPECTATIONS),
});

/** One expectation, as validated (defaults filled in). */
export type Expectation = z.output<typeof expectation>;
/** The kinds of expectation a suite may use. */
export type ExpectationKind = Expectation['expect'];
/** An expectation as written (defaults optional). */
export type ExpectationInput = z.input<typeof expectation>;
/** A suite as validated. */
export interface Suite {
  name: string;
  description?: string;
  expectations: Expectation[];
}
/** A suite as written in TypeScript or YAML. */
export interface SuiteInput {
  name?: string;
  description?: string;
  expectations: ExpectationInput[];
}

/** Every expectation kind, in the order the docs list them. */
export const EXPECTATION_KINDS: readonly ExpectationKind[] = expectations.map(
  (e) => e.shape.expect.value,
);

/**
 * Validates a suite given as an object or as YAML text. Errors name the expectation by
 * position and kind, and the field: `expectation 3 (between): 'min' must be a number…`.
 *
 * @example
 * const suite = parseSuite('expectations:\n  - { expect: not_null, column: id }');
 */
export function parseSuite(input: SuiteInput | string, source = 'the suite'): Suite {
  const raw = typeof input === 'string' ? parseYamlText(input, source) : input;
  const top = suiteSchema.safeParse(raw);
  if (!top.success) throw invalid(source, undefined, top.error);
  const out: Expectation[] = [];
  top.data.expectations.forEach((item, i) => {
    const kind = (item as { expect?: unknown } | null)?.expect;
    if (typeof kind !== 'string' || !(EXPECTATION_KINDS as readonly string[]).includes(kind))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${source}: expectation ${i + 1} has ${kind === undefined ? 'no' : `an unknown kind ${JSON.stringify(kind)} for`} 'expect'; use one of ${EXPECTATION_KINDS.join(', ')}`,
      );
    const parsed = expectation.safeParse(item);
    if (!parsed.success) throw invalid(source, `expectation ${i + 1} (${kind})`, parsed.error);
    checkBounds(parsed.data, `${source}: expectation ${i + 1} (${kind})`);
    out.push(parsed.data);
  });
  return {
    name: top.data.name,
    ...(top.data.description === undefined ? {} : { description: top.data.description }),
    expectations: out,
  };
}

/** The sha256 of a suite's canonical JSON: which definition a stored result came from. */
export function suiteHash(suite: Suite): string {
  return createHash('sha256').update(JSON.stringify(suite)).digest('hex');
}

/** Milliseconds in a duration written as `24h`, `7d`… (validated by the schema). */
export function durationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/.exec(text);
  if (m === null) throw new MobiusError('INVALID_ARGUMENT', `'${text}' is not a duration`);
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86_400e3, w: 604_800e3 }[m[2] as 's'];
  return Number(m[1]) * unit;
}

function checkBounds(e: Expectation, where: string): void {
  const pairs: [number | string | undefined, number | string | undefined][] = [];
  if (e.expect === 'row_count_between' || e.expect === 'length_between' || e.expect === 'between')
    pairs.push([e.min, e.max]);
  for (const [min, max] of pairs) {
    if (min === undefined && max === undefined)
      throw new MobiusError('INVALID_ARGUMENT', `${where}: give 'min', 'max' or both`);
    if (typeof min === typeof max && min !== undefined && max !== undefined && min > max)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${where}: 'min' (${String(min)}) is greater than 'max' (${String(max)})`,
      );
  }
  if (e.expect === 'partitions_not_empty' && (e.every === undefined) === (e.values === undefined))
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${where}: give either 'every' (hour, day, week, month, year) for time partitions or 'values' for the expected partition values`,
    );
  if (e.expect === 'column_pair' && e.left === e.right)
    throw new MobiusError('INVALID_ARGUMENT', `${where}: 'left' and 'right' are the same column`);
}

function parseYamlText(text: string, source: string): unknown {
  try {
    return parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    const detail = error instanceof YAMLParseError ? error.message : String(error);
    throw new MobiusError('INVALID_ARGUMENT', `${source} is not valid YAML: ${detail}`, {
      cause: error instanceof Error ? error : undefined,
    });
  }
}

function invalid(source: string, where: string | undefined, error: z.ZodError): MobiusError {
  const issue = error.issues[0]!;
  const path = issue.path.map(String).join('.');
  const field = path === '' ? '' : `'${path}': `;
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown key(s) ${issue.keys.join(', ')}`;
  return new MobiusError(
    'INVALID_ARGUMENT',
    `${source}: ${where === undefined ? '' : `${where}: `}${field}${message}`,
  );
}
