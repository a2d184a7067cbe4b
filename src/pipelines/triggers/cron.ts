/**
 * Five-field cron expressions (minute hour day-of-month month day-of-week), evaluated in
 * UTC. The grammar is Vixie cron's, as `crontab(5)` documents it:
 *   - `*`, numbers, ranges `a-b`, lists `a,b,c`, steps `*\/n`, `a-b/n` and `a/n` (= a-max/n);
 *   - month names `jan`–`dec` and day names `sun`–`sat` (any case), in ranges too;
 *   - day of week 0–7, both 0 and 7 meaning Sunday;
 *   - when both day fields are restricted (neither starts with `*`), a day matches if
 *     EITHER matches (`0 0 1,15 * mon` = the 1st, the 15th and every Monday); otherwise
 *     both must;
 *   - the macros `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`, `@hourly`.
 * No seconds field, no `L`/`W`/`#` (Quartz), no `@reboot` (a scheduler restart is not an event).
 *
 * Written here rather than taken from `cron-parser` because no cron library was installed;
 * the tests beside it pin every rule above.
 */
import { MobiusError } from '../../core/index.js';

/** A parsed expression: which values each field allows. */
export interface CronExpression {
  /** The text as given. */
  readonly source: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  /** 0–6, Sunday = 0 (a 7 in the text is stored as 0). */
  readonly daysOfWeek: ReadonlySet<number>;
  /** The day-of-month field did not start with `*` (Vixie's restriction rule). */
  readonly domRestricted: boolean;
  readonly dowRestricted: boolean;
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  },
  {
    name: 'day-of-week',
    min: 0,
    max: 7,
    names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
  },
];

const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Most days in each month (February counted as 29: a leap year has it). */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** How far `nextCronTime` looks: a valid expression matches at least once in 8 years (Feb 29). */
const SEARCH_LIMIT_MS = 8 * 366 * DAY_MS;

/**
 * Parses a cron expression; INVALID_ARGUMENT naming the field and the value on any problem.
 *
 * @example
 * parseCron('*\/15 9-17 * * mon-fri') // every quarter hour, 9:00–17:45, weekdays (UTC)
 */
export function parseCron(text: string): CronExpression {
  if (typeof text !== 'string')
    throw new MobiusError('INVALID_ARGUMENT', 'a cron expression must be a string');
  const source = text.trim();
  let body = source;
  if (source.startsWith('@')) {
    const expanded = MACROS[source.toLowerCase()];
    if (expanded === undefined)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `cron '${source}': unknown macro; use one of ${Object.keys(MACROS).join(', ')}, or five fields`,
      );
    body = expanded;
  }
  const parts = body.split(/\s+/).filter((p) => p !== '');
  if (parts.length !== 5)
    throw new MobiusError(
      'INVALID_ARGUMENT',
      `cron '${source}': expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`,
    );
  const [minutes, hours, doms, months, dows] = FIELDS.map((spec, i) =>
    parseField(source, spec, parts[i]!),
  ) as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  if (dows.delete(7)) dows.add(0);
  const expr: CronExpression = {
    source,
    minutes,
    hours,
    daysOfMonth: doms,
    months,
    daysOfWeek: dows,
    domRestricted: !parts[2]!.startsWith('*'),
    dowRestricted: !parts[4]!.startsWith('*'),
  };
  // `0 0 30 2 *` parses but can never fire; say so now rather than never running.
  if (expr.domRestricted && !expr.dowRestricted) {
    const possible = [...months].some((m) => [...doms].some((d) => d <= MONTH_DAYS[m - 1]!));
    if (!possible)
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `cron '${source}': day-of-month '${parts[2]}' never occurs in month '${parts[3]}', so it would never fire`,
      );
  }
  return expr;
}

function parseField(source: string, spec: FieldSpec, text: string): Set<number> {
  const bad = (why: string): MobiusError =>
    new MobiusError('INVALID_ARGUMENT', `cron '${source}': ${spec.name} field '${text}' ${why}`);
  const values = new Set<number>();
  for (const item of text.split(',')) {
    if (item === '') throw bad('has an empty list item');
    const slash = item.indexOf('/');
    const rangeText = slash === -1 ? item : item.slice(0, slash);
    let step = 1;
    if (slash !== -1) {
      const stepText = item.slice(slash + 1);
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0)
        throw bad(`has step '${stepText}'; a step is a whole number ≥ 1`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (rangeText === '*') {
      lo = spec.min;
      hi = spec.max;
    } else {
      const dash = rangeText.indexOf('-');
      if (dash === -1) {
        lo = value(rangeText);
        // `a/n` is Vixie's short form of `a-max/n`.
        hi = slash === -1 ? lo : spec.max;
      } else {
        lo = value(rangeText.slice(0, dash));
        hi = value(rangeText.slice(dash + 1));
        if (hi < lo) throw bad(`has range ${lo}-${hi} that runs backwards`);
      }
    }
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return values;

  function value(token: string): number {
    const lower = token.toLowerCase();
    const named = spec.names?.indexOf(lower) ?? -1;
    if (named !== -1) return spec.min === 0 ? named : named + 1;
    if (!/^\d+$/.test(token)) {
      const hint =
        spec.names === undefined
          ? ''
          : ` (or a name: ${spec.names[0]}, …, ${spec.names[spec.names.length - 1]})`;
      throw bad(`has '${token}', which is not a number${hint}`);
    }
    const n = Number(token);
    if (n < spec.min || n > spec.max) throw bad(`has ${n}, out of range ${spec.min}-${spec.max}`);
    return n;
  }
}

/** True when the minute starting at `ms` (UTC) matches `expr`. */
export function cronMatches(expr: CronExpression, ms: number): boolean {
  const d = new Date(ms);
  return (
    expr.minutes.has(d.getUTCMinutes()) &&
    expr.hours.has(d.getUTCHours()) &&
    expr.months.has(d.getUTCMonth() + 1) &&
    dayMatches(expr, d)
  );
}

function dayMatches(expr: CronExpression, d: Date): boolean {
  const dom = expr.daysOfMonth.has(d.getUTCDate());
  const dow = expr.daysOfWeek.has(d.getUTCDay());
  // Vixie: both restricted → either; otherwise the unrestricted one matches every day.
  return expr.domRestricted && expr.dowRestricted ? dom || dow : dom && dow;
}

/**
 * The first minute strictly after `afterMs` that matches `expr` (UTC, ms since the epoch).
 * Skips whole months, days and hours that cannot match, so it is a few hundred steps at worst.
 *
 * @example
 * nextCronTime(parseCron('0 * * * *'), Date.UTC(2026, 0, 1, 10, 30)) // Date.UTC(2026, 0, 1, 11, 0)
 */
export function nextCronTime(expr: CronExpression, afterMs: number): number {
  let t = Math.floor(afterMs / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  const limit = afterMs + SEARCH_LIMIT_MS;
  while (t <= limit) {
    const d = new Date(t);
    if (!expr.months.has(d.getUTCMonth() + 1)) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      continue;
    }
    if (!dayMatches(expr, d)) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
      continue;
    }
    if (!expr.hours.has(d.getUTCHours())) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1);
      continue;
    }
    if (!expr.minutes.has(d.getUTCMinutes())) {
      t += MINUTE_MS;
      continue;
    }
    return t;
  }
  throw new MobiusError('INVALID_ARGUMENT', `cron '${expr.source}' never fires`);
}

/**
 * The last minute at or before `atMs` that matches `expr`, or undefined if none is after
 * `notBeforeMs` — what a `latest` catch-up fires after the scheduler was down.
 */
export function previousCronTime(
  expr: CronExpression,
  atMs: number,
  notBeforeMs: number,
): number | undefined {
  // Walks minutes backwards through matching hours and days only; bounded by notBeforeMs.
  let t = Math.floor(atMs / MINUTE_MS) * MINUTE_MS;
  while (t >= notBeforeMs) {
    const d = new Date(t);
    if (!expr.months.has(d.getUTCMonth() + 1)) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) - MINUTE_MS;
      continue;
    }
    if (!dayMatches(expr, d)) {
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - MINUTE_MS;
      continue;
    }
    if (!expr.hours.has(d.getUTCHours())) {
      t =
        Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours()) - MINUTE_MS;
      continue;
    }
    if (!expr.minutes.has(d.getUTCMinutes())) {
      t -= MINUTE_MS;
      continue;
    }
    return t;
  }
  return undefined;
}
