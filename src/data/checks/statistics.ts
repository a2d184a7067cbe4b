/**
 * The p-values of the distribution checks, from the test statistics DuckDB computes.
 * Both are the textbook asymptotic forms (as scipy's `kstwobign` and `chi2.sf`):
 * - two-sample Kolmogorov–Smirnov: Q_KS(λ) = 2 Σ (-1)^(k-1) e^(-2k²λ²), with Stephens'
 *   small-sample correction λ = (√nₑ + 0.12 + 0.11/√nₑ)·D, nₑ = n·m/(n+m);
 * - chi-square: the regularized upper incomplete gamma Q(df/2, χ²/2), by its series below
 *   a+1 and Lentz's continued fraction above (Numerical Recipes §6.2).
 */

/** P(D ≥ d) for the two-sample KS statistic `d` of samples of sizes n and m. */
export function ksPValue(d: number, n: number, m: number): number {
  if (n <= 0 || m <= 0) return 1;
  const ne = Math.sqrt((n * m) / (n + m));
  const lambda = (ne + 0.12 + 0.11 / ne) * d;
  if (lambda < 1e-3) return 1;
  let sum = 0;
  let sign = 1;
  let previous = 0;
  for (let k = 1; k <= 100; k++) {
    const term = sign * Math.exp(-2 * k * k * lambda * lambda);
    sum += term;
    if (Math.abs(term) <= 1e-10 * Math.abs(sum) || Math.abs(term) <= 1e-300) break;
    if (Math.abs(term) === previous) break;
    previous = Math.abs(term);
    sign = -sign;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/** P(X ≥ x) for X ~ χ² with `df` degrees of freedom. */
export function chiSquarePValue(x: number, df: number): number {
  if (df <= 0) return 1;
  if (x <= 0) return 1;
  return upperRegularizedGamma(df / 2, x / 2);
}

/** Q(a, x) = Γ(a, x) / Γ(a). */
export function upperRegularizedGamma(a: number, x: number): number {
  if (x < a + 1) return 1 - lowerSeries(a, x);
  return upperContinuedFraction(a, x);
}

function lowerSeries(a: number, x: number): number {
  let ap = a;
  let sum = 1 / a;
  let term = sum;
  for (let n = 0; n < 10_000; n++) {
    ap += 1;
    term *= x / ap;
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
}

function upperContinuedFraction(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: ~15 significant digits). */
export function logGamma(x: number): number {
  const g = 7;
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
    -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + g + 0.5;
  for (let i = 1; i < g + 2; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}
