/**
 * Deterministic weighted choice between a deployment's routes.
 *
 * Without a sticky key, request n gets the point frac(n·φ⁻¹) of [0, 1) — the golden-ratio
 * (Weyl) sequence, whose points spread evenly over the interval at every prefix length —
 * and the route whose share of [0, 1) holds it. A 10% canary therefore receives 10% of any
 * run of requests up to a few requests, not 10% "on average" as a random draw would, and
 * a test or an incident replay sees the same split every time.
 *
 * With a sticky key the point is a hash of the deployment's name and the key instead, so
 * the same key lands on the same route for as long as the weights stay the same (and a
 * key on the candidate at 10% stays on it as the canary grows to 50%: the shares are laid
 * out stable first, candidate last).
 */
import { createHash } from 'node:crypto';

/** φ⁻¹ = (√5 − 1) / 2: the step whose multiples mod 1 are the most evenly spread. */
const GOLDEN = (Math.sqrt(5) - 1) / 2;

/** A point of [0, 1) for a sticky key: the first 48 bits of SHA-256(salt NUL key). */
export function stickyPoint(salt: string, key: string): number {
  const digest = createHash('sha256').update(salt).update('\u0000').update(key).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

/** An endless evenly spread sequence of points of [0, 1). */
export class EvenSequence {
  private n = 0;

  /** The next point. */
  next(): number {
    this.n++;
    const x = this.n * GOLDEN;
    return x - Math.floor(x);
  }
}

/**
 * The index of the weight whose share of [0, 1) holds `point`; weights need not sum to 1.
 *
 * @example
 * pickWeighted([90, 10], 0.95); // 1
 */
export function pickWeighted(weights: readonly number[], point: number): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let edge = 0;
  for (let i = 0; i < weights.length; i++) {
    edge += weights[i]! / total;
    if (point < edge) return i;
  }
  // Rounding can leave the last edge a hair under 1: the point belongs to the last non-empty route.
  for (let i = weights.length - 1; i >= 0; i--) if (weights[i]! > 0) return i;
  return 0;
}
