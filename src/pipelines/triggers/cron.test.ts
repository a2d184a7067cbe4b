import { describe, expect, it } from 'vitest';
import { cronMatches, nextCronTime, parseCron, previousCronTime } from './cron.js';

const at = (y: number, mo: number, d: number, h = 0, mi = 0): number =>
  Date.UTC(y, mo - 1, d, h, mi);
const iso = (ms: number): string => new Date(ms).toISOString().slice(0, 16);

/** Every match in [from, to), found by testing each minute: the reference for nextCronTime. */
function bruteForce(expr: string, from: number, to: number): number[] {
  const e = parseCron(expr);
  const out: number[] = [];
  for (let t = from; t < to; t += 60_000) if (cronMatches(e, t)) out.push(t);
  return out;
}

/** The same, by chaining nextCronTime. */
function chained(expr: string, from: number, to: number): number[] {
  const e = parseCron(expr);
  const out: number[] = [];
  for (let t = nextCronTime(e, from - 60_000); t < to; t = nextCronTime(e, t)) out.push(t);
  return out;
}

describe('parseCron', () => {
  it('reads stars, numbers, lists, ranges and steps', () => {
    const e = parseCron('*/15 9-17/4 1,15 * *');
    expect([...e.minutes]).toEqual([0, 15, 30, 45]);
    expect([...e.hours]).toEqual([9, 13, 17]);
    expect([...e.daysOfMonth]).toEqual([1, 15]);
    expect(e.months.size).toBe(12);
    expect(e.daysOfWeek.size).toBe(7);
    expect(e.domRestricted).toBe(true);
    expect(e.dowRestricted).toBe(false);
  });

  it('reads a/n as a-max/n', () => {
    expect([...parseCron('5/20 * * * *').minutes]).toEqual([5, 25, 45]);
  });

  it('reads month and day names in any case, in ranges and lists', () => {
    const e = parseCron('0 0 * JAN-mar,Dec mon-FRI');
    expect([...e.months]).toEqual([1, 2, 3, 12]);
    expect([...e.daysOfWeek].sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('treats day-of-week 7 as Sunday', () => {
    expect([...parseCron('0 0 * * 7').daysOfWeek]).toEqual([0]);
    expect([...parseCron('0 0 * * 5-7').daysOfWeek].sort()).toEqual([0, 5, 6]);
  });

  it('expands macros', () => {
    expect(chained('@hourly', at(2026, 1, 1), at(2026, 1, 1, 3)).map(iso)).toEqual([
      '2026-01-01T00:00',
      '2026-01-01T01:00',
      '2026-01-01T02:00',
    ]);
    expect(iso(nextCronTime(parseCron('@weekly'), at(2026, 1, 1)))).toBe('2026-01-04T00:00'); // a Sunday
    expect(iso(nextCronTime(parseCron('@yearly'), at(2026, 1, 1)))).toBe('2027-01-01T00:00');
    expect(iso(nextCronTime(parseCron('@monthly'), at(2026, 1, 31)))).toBe('2026-02-01T00:00');
    expect(iso(nextCronTime(parseCron('@daily'), at(2026, 1, 31, 5)))).toBe('2026-02-01T00:00');
  });

  it.each([
    ['', 'expected 5 fields'],
    ['* * * *', 'expected 5 fields (minute hour day-of-month month day-of-week), got 4'],
    ['* * * * * *', 'got 6'],
    ['60 * * * *', "minute field '60' has 60, out of range 0-59"],
    ['* 24 * * *', "hour field '24' has 24, out of range 0-23"],
    ['* * 0 * *', "day-of-month field '0' has 0, out of range 1-31"],
    ['* * 32 * *', "day-of-month field '32' has 32, out of range 1-31"],
    ['* * * 13 *', "month field '13' has 13, out of range 1-12"],
    ['* * * * 8', "day-of-week field '8' has 8, out of range 0-7"],
    ['*/0 * * * *', "minute field '*/0' has step '0'; a step is a whole number ≥ 1"],
    ['*/x * * * *', "step 'x'"],
    ['5-1 * * * *', "minute field '5-1' has range 5-1 that runs backwards"],
    ['1,,2 * * * *', "minute field '1,,2' has an empty list item"],
    ['* * * foo *', "month field 'foo' has 'foo', which is not a number (or a name: jan, …, dec)"],
    ['* * * * funday', "day-of-week field 'funday' has 'funday'"],
    ['-1 * * * *', "minute field '-1' has '', which is not a number"],
    ['1.5 * * * *', "minute field '1.5' has '1.5', which is not a number"],
    ['@reboot', "cron '@reboot': unknown macro"],
    ['0 0 30 2 *', "day-of-month '30' never occurs in month '2', so it would never fire"],
    ['0 0 31 4,6,9,11 *', 'never occurs'],
  ])('rejects %j with a message naming the field and value', (text, message) => {
    expect(() => parseCron(text)).toThrow(message);
    try {
      parseCron(text);
    } catch (error) {
      expect((error as { code?: string }).code).toBe('INVALID_ARGUMENT');
    }
  });

  it('accepts Feb 29 (it exists in leap years) and Feb 30 when a weekday can match instead', () => {
    expect(iso(nextCronTime(parseCron('0 0 29 2 *'), at(2026, 1, 1)))).toBe('2028-02-29T00:00');
    // Both day fields restricted: either matches, so Mondays in February fire.
    expect(iso(nextCronTime(parseCron('0 0 30 2 mon'), at(2026, 1, 1)))).toBe('2026-02-02T00:00');
  });
});

describe('nextCronTime', () => {
  it('is strictly after the given time, on a minute boundary', () => {
    const e = parseCron('* * * * *');
    expect(nextCronTime(e, at(2026, 1, 1, 10, 0))).toBe(at(2026, 1, 1, 10, 1));
    expect(nextCronTime(e, at(2026, 1, 1, 10, 0) + 1)).toBe(at(2026, 1, 1, 10, 1));
    expect(nextCronTime(e, at(2026, 1, 1, 10, 1) - 1)).toBe(at(2026, 1, 1, 10, 1));
  });

  it('every 15 minutes over a day: 96 times, each on the quarter hour', () => {
    const fires = chained('*/15 * * * *', at(2026, 3, 29), at(2026, 3, 30));
    expect(fires).toHaveLength(96);
    for (const [i, t] of fires.entries()) expect(t).toBe(at(2026, 3, 29) + i * 15 * 60_000);
  });

  it('crosses months, years and leap days', () => {
    const e = parseCron('30 23 28-31 * *');
    expect(iso(nextCronTime(e, at(2024, 2, 28, 23, 30)))).toBe('2024-02-29T23:30');
    expect(iso(nextCronTime(e, at(2025, 2, 28, 23, 30)))).toBe('2025-03-28T23:30');
    expect(iso(nextCronTime(e, at(2025, 12, 31, 23, 30)))).toBe('2026-01-28T23:30');
  });

  it.each([
    '*/7 * * * *',
    '0 */5 * * *',
    '15 3 1,15 * mon', // Vixie OR rule
    '0 12 * * mon-fri',
    '0 12 */2 * *', // day-of-month starts with * → not restricted: AND with every weekday
    '0 12 * * */3',
    '0 0 1 * 1-5',
    '0,30 8-18/2 * jun-aug sat,sun',
    '59 23 31 * *',
    '0 0 29 2 *',
  ])('agrees with a minute-by-minute scan for %j', (expr) => {
    // Two leap-year months and a year boundary: Feb–Mar 2024, Dec 2025–Jan 2026.
    for (const [from, to] of [
      [at(2024, 2, 1), at(2024, 4, 1)],
      [at(2025, 12, 1), at(2026, 2, 1)],
    ] as const)
      expect(chained(expr, from, to).map(iso)).toEqual(bruteForce(expr, from, to).map(iso));
  });

  it('applies the Vixie rule: 1st and 15th OR Mondays when both day fields are restricted', () => {
    const days = chained('0 0 1,15 * mon', at(2026, 6, 1), at(2026, 7, 1)).map((t) =>
      new Date(t).getUTCDate(),
    );
    // June 2026: Mondays are 1, 8, 15, 22, 29.
    expect(days).toEqual([1, 8, 15, 22, 29]);
    const both = chained('0 0 1,15 * fri', at(2026, 6, 1), at(2026, 7, 1)).map((t) =>
      new Date(t).getUTCDate(),
    );
    expect(both).toEqual([1, 5, 12, 15, 19, 26]);
    // `*/1` in day-of-month starts with `*`: unrestricted, so only Fridays.
    const star = chained('0 0 */1 * fri', at(2026, 6, 1), at(2026, 7, 1)).map((t) =>
      new Date(t).getUTCDate(),
    );
    expect(star).toEqual([5, 12, 19, 26]);
  });
});

describe('previousCronTime', () => {
  it('finds the last match at or before a time, or none after the floor', () => {
    const e = parseCron('0 * * * *');
    expect(iso(previousCronTime(e, at(2026, 1, 1, 10, 59), 0)!)).toBe('2026-01-01T10:00');
    expect(iso(previousCronTime(e, at(2026, 1, 1, 10, 0), 0)!)).toBe('2026-01-01T10:00');
    expect(previousCronTime(e, at(2026, 1, 1, 10, 59), at(2026, 1, 1, 10, 1))).toBeUndefined();
    const monthly = parseCron('0 6 1 * *');
    expect(iso(previousCronTime(monthly, at(2026, 3, 15), 0)!)).toBe('2026-03-01T06:00');
    expect(iso(previousCronTime(monthly, at(2026, 3, 1, 5, 59), 0)!)).toBe('2026-02-01T06:00');
  });

  it('agrees with a scan', () => {
    const expr = '15 3 1,15 * mon';
    const from = at(2024, 2, 1);
    const to = at(2024, 4, 1);
    const all = bruteForce(expr, from, to);
    const e = parseCron(expr);
    for (let t = from; t < to; t += 37 * 60_000) {
      const expected = all.filter((m) => m <= t).at(-1);
      expect(previousCronTime(e, t, from)).toBe(expected);
    }
  });
});
