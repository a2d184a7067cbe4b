/**
 * The cache key of a step, computed before it runs: a sha256 over named parts, each
 * hashed on its own so a later run can say which part changed (the explain).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { MobiusError, sha256Hex } from '../core/index.js';
import type { ParamValue, StepDefinition } from './definition.js';

/** Bump when the key's recipe changes, so old entries stop matching instead of lying. */
const KEY_VERSION = 1;

/** Part name → hash: `definition`, `code`, `param:<name>`, `env:<NAME>`, `input:<name>`. */
export type CacheParts = Record<string, string>;

export interface CacheKeyInput {
  step: StepDefinition;
  params: Readonly<Record<string, ParamValue>>;
  /** The step's allow-listed environment, by name (missing variables are absent). */
  env: Readonly<Record<string, string>>;
  /** Input name → sha256 of its content. */
  inputHashes: Readonly<Record<string, string>>;
  /** Directory relative `codeFiles` and command cwd resolve against. */
  baseDir: string;
  /**
   * A sample run's sampling (`mobius run --sample N`): a part of its own, so no sample
   * result is reused by a full run (or another sample size) and none of theirs by it.
   */
  sample?: { rows: number; seed: number };
}

/** The parts and the key they make. */
export async function computeCacheKey(
  input: CacheKeyInput,
): Promise<{ key: string; parts: CacheParts }> {
  const { step } = input;
  const parts: CacheParts = {};
  parts.definition = sha256Hex(
    JSON.stringify({
      v: KEY_VERSION,
      name: step.name,
      outputs: step.outputs,
      inputs: step.inputs,
      kind: step.run.kind,
      cwd: step.run.kind === 'command' || step.run.kind === 'shell' ? (step.run.cwd ?? null) : null,
      // Only when present, so keys of steps without dataset outputs did not change.
      ...(Object.keys(step.datasetOutputs ?? {}).length === 0
        ? {}
        : { datasets: step.datasetOutputs }),
    }),
  );
  const code =
    step.run.kind === 'function'
      ? step.run.fn.toString()
      : step.run.kind === 'command'
        ? JSON.stringify(step.run.argv)
        : step.run.kind === 'shell'
          ? step.run.script
          : `check:${step.run.suite}`;
  const files: string[] = [];
  for (const f of step.codeFiles) {
    const path = resolve(input.baseDir, f);
    const hash = await hashFile(path).catch((error: unknown) => {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `step '${step.name}': cannot read its ${step.run.kind === 'check' ? 'suite' : 'code'} file '${f}' (${path}): ${(error as Error).message}`,
        { cause: error },
      );
    });
    files.push(`${f}:${hash}`);
  }
  parts.code = sha256Hex(JSON.stringify([code, files]));
  for (const p of step.params)
    parts[`param:${p}`] = sha256Hex(JSON.stringify(input.params[p] ?? null));
  for (const e of step.env) parts[`env:${e}`] = sha256Hex(JSON.stringify(input.env[e] ?? null));
  for (const [name, hash] of Object.entries(input.inputHashes)) parts[`input:${name}`] = hash;
  if (input.sample !== undefined) parts.sample = sha256Hex(JSON.stringify(input.sample));
  const sorted = Object.keys(parts)
    .sort()
    .map((k) => [k, parts[k]]);
  return { key: sha256Hex(JSON.stringify(sorted)), parts };
}

/** Why the parts differ from the last run's: e.g. `input 'rows' changed, param 'n' changed`. */
export function explainChange(previous: CacheParts | undefined, current: CacheParts): string {
  if (previous === undefined) return 'no earlier run of this step';
  const names = new Set([...Object.keys(previous), ...Object.keys(current)]);
  const changed: string[] = [];
  for (const name of [...names].sort()) {
    if (previous[name] === current[name]) continue;
    const [kind, detail] = name.includes(':') ? name.split(/:(.*)/s) : [name, undefined];
    const what = detail === undefined ? `${kind}` : `${kind} '${detail}'`;
    changed.push(
      previous[name] === undefined
        ? `${what} added`
        : current[name] === undefined
          ? `${what} removed`
          : `${what} changed`,
    );
  }
  return changed.length === 0
    ? 'same cache key as the last run, but its outputs are no longer stored'
    : changed.join(', ');
}

/** sha256 of a file's bytes, streamed. */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
