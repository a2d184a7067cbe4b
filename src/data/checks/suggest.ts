/**
 * `check suggest`: a starting suite from a version's profile, by Deequ's suggestion rules
 * (no scan). Each suggestion says in its description why it was made, so the reader can
 * keep, tighten or drop it:
 * - the schema as it is (Deequ's RetainTypeRule), and "not empty" (row count ≥ 1);
 * - completeness: a column with no nulls is `not_null`; one that is 20–100% complete keeps
 *   its completeness at the lower bound of its 95% confidence interval as `mostly`
 *   (RetainCompletenessRule: p − 1.96·√(p(1−p)/n));
 * - uniqueness: a complete column whose distinct count equals its row count (exactly, or
 *   within the estimate's error for large tables) is `unique` (UniqueIfApproximatelyUnique);
 * - categories: a text column whose every value is known and few (≤ 10, each seen on
 *   average ≥ 20 times) is `in_set` of them (CategoricalRangeRule);
 * - numbers whose minimum is ≥ 0 are `between` with min 0 (NonNegativeNumbersRule).
 */
import { MobiusError } from '../../core/index.js';
import type { DatasetVersion } from '../types.js';
import type { ExpectationInput, SuiteInput } from './suite.js';

/** The most categories an `in_set` suggestion lists. */
const MAX_CATEGORIES = 10;
/** Rows per distinct value below which a small set of strings is an ID-like column, not categories. */
const MIN_ROWS_PER_CATEGORY = 20;
/** The distinct estimate's error for large tables (~0.3%, docs/data.md), with room. */
const DISTINCT_TOLERANCE = 0.01;

/** Suggests a suite for `v` from its profile. */
export function suggestSuite(v: DatasetVersion): SuiteInput {
  if (v.profile === null)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `${v.dataset}@${v.version} has no profile to suggest from; add it again with this version of Mobius`,
    );
  const rows = v.rowCount;
  const out: ExpectationInput[] = [
    {
      expect: 'schema',
      columns: v.schema.map((c) => ({ name: c.name, type: c.type })),
      description: `suggested: the ${v.schema.length} columns and types of ${v.dataset}@${v.version}`,
    },
    {
      expect: 'row_count_between',
      min: 1,
      description: `suggested: not empty (${v.dataset}@${v.version} has ${rows} rows)`,
    },
  ];
  for (const c of v.profile.columns) {
    if (c.count === 0) continue;
    const complete = 1 - c.nullCount / c.count;
    if (c.nullCount === 0)
      out.push({
        expect: 'not_null',
        column: c.name,
        description: `suggested: no nulls in ${c.count} rows`,
      });
    else if (complete > 0.2) {
      const bound = complete - 1.96 * Math.sqrt((complete * (1 - complete)) / c.count);
      const mostly = Math.floor(bound * 1000) / 1000;
      if (mostly > 0)
        out.push({
          expect: 'not_null',
          column: c.name,
          mostly,
          description: `suggested: ${(complete * 100).toFixed(2)}% complete; mostly is the lower 95% bound`,
        });
    }
    const present = c.count - c.nullCount;
    if (c.nullCount === 0 && c.approxDistinct !== null && present > 1) {
      const unique = c.distinctExact
        ? c.approxDistinct === present
        : Math.abs(1 - c.approxDistinct / present) <= DISTINCT_TOLERANCE;
      if (unique)
        out.push({
          expect: 'unique',
          column: c.name,
          description: `suggested: ${c.distinctExact ? '' : 'about '}${c.approxDistinct} distinct values in ${present} rows`,
        });
    }
    if (
      c.kind === 'string' &&
      c.distinctExact &&
      c.topValues !== null &&
      c.approxDistinct !== null &&
      c.approxDistinct > 0 &&
      c.topValues.length === c.approxDistinct &&
      c.approxDistinct <= MAX_CATEGORIES &&
      present >= MIN_ROWS_PER_CATEGORY * c.approxDistinct
    )
      out.push({
        expect: 'in_set',
        column: c.name,
        values: c.topValues.map((t) => t.value).sort(),
        description: `suggested: ${c.approxDistinct} categories seen`,
      });
    if (
      (c.kind === 'integer' || c.kind === 'float' || c.kind === 'decimal') &&
      typeof c.min === 'number' &&
      c.min >= 0
    )
      out.push({
        expect: 'between',
        column: c.name,
        min: 0,
        description: `suggested: non-negative (min ${c.min})`,
      });
  }
  return { name: `${v.dataset}-suggested`.slice(0, 200), expectations: out };
}
