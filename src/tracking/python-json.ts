/**
 * JSON text as Python's `json.dumps` writes it by default: `", "` and `": "` between
 * items, every character outside printable ASCII escaped as `\uXXXX`, optionally keys
 * sorted. MLflow stores and hashes JSON this way (an evaluation record's identity is
 * sha256 of `json.dumps(inputs, sort_keys=True)`), so writing the same text keeps
 * Mobius' digests, hashes and stored schemas equal to MLflow's for the same data.
 *
 * One difference cannot be helped: JSON.parse reads `1.0` as 1, so a float with no
 * fraction is written as an integer ("1", where Python wrote "1.0").
 */

/** `value` as `json.dumps(value, sort_keys=sortKeys)` would write it. */
export function pythonJsonDumps(value: unknown, options: { sortKeys?: boolean } = {}): string {
  const sortKeys = options.sortKeys ?? false;
  const write = (v: unknown): string => {
    if (v === null || v === undefined) return 'null';
    switch (typeof v) {
      case 'string':
        return pythonString(v);
      case 'number':
        return pythonNumber(v);
      case 'boolean':
        return v ? 'true' : 'false';
      case 'object': {
        if (Array.isArray(v)) return `[${v.map(write).join(', ')}]`;
        const keys = Object.keys(v);
        if (sortKeys) keys.sort(byCodePoint);
        const record = v as Record<string, unknown>;
        return `{${keys.map((k) => `${pythonString(k)}: ${write(record[k])}`).join(', ')}}`;
      }
      default:
        throw new TypeError(`cannot write a ${typeof v} as JSON`);
    }
  };
  return write(value);
}

/** A string with ensure_ascii's escapes: JSON's, plus DEL and everything past ASCII. */
function pythonString(s: string): string {
  return JSON.stringify(s).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * A number as Python's float repr writes it: shortest round-trip digits, exponent form
 * below 1e-4 with at least two exponent digits ("1e-05"). Integers are written whole.
 */
function pythonNumber(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'NaN' : n > 0 ? 'Infinity' : '-Infinity';
  if (Number.isInteger(n)) {
    return Number.isSafeInteger(n) ? String(n) : BigInt(n).toString();
  }
  const abs = Math.abs(n);
  const text = abs < 1e-4 ? n.toExponential() : String(n);
  return text.replace(/e([+-])(\d)$/, 'e$10$2');
}

/** Python orders str by code point; JavaScript's default sort orders UTF-16 units. */
function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
