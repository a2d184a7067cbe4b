/**
 * Where a model version may point. A version's source is later read by anyone who loads
 * the model (and by the get-artifact route), so a source that climbs out of its run, or
 * names a file on the server's disk, would turn "register a model" into "read any file".
 * The rules follow MLflow's server (handlers.py `_validate_source_run` /
 * `_validate_source_model`): no relative segments in any encoding; `runs:/` must name the
 * version's own run, `models:/m-…` its own logged model; artifact-proxy sources must sit
 * inside that run's or model's artifact root. Mobius keeps every artifact in its own
 * store, so unlike MLflow it never accepts a server-local path.
 */
import { MobiusError, decodeUntilStable } from '../core/index.js';

/** What the version says it came from, and where that owner's artifacts live. */
export interface SourceOwner {
  runId?: string | undefined;
  /** The run's artifact URI, when the run is known here. */
  runRoot?: string | undefined;
  modelId?: string | undefined;
  /** The logged model's artifact URI, when the model is known here. */
  modelRoot?: string | undefined;
}

const SCHEME = /^([a-z][a-z0-9+.-]*):(.*)$/is;

/**
 * Throws INVALID_ARGUMENT unless `source` is a location a version of this owner may use.
 *
 * @example
 * checkModelSource('runs:/abc/model', { runId: 'abc' }); // ok
 * checkModelSource('mlflow-artifacts:/1/abc/artifacts/../../x', { runId: 'abc' }); // throws
 */
export function checkModelSource(source: string, owner: SourceOwner): void {
  const decoded = decodeUntilStable(source);
  if (/[\0\\?#;]/.test(decoded) || /(^|\/)\.{1,2}(\/|$)/.test(decoded)) {
    throw invalid(
      source,
      'a source must be an absolute location without relative segments (. or ..), backslashes, NUL, ?, # or ;',
    );
  }
  const match = SCHEME.exec(decoded);
  const scheme = match?.[1]?.toLowerCase();
  if (scheme === undefined || scheme === 'file' || /^[a-z]$/.test(scheme)) {
    throw invalid(
      source,
      'Mobius never reads model files from the server’s disk; upload them to the run and register runs:/<run_id>/<path>',
    );
  }
  const { authority, parts } = uriParts(match![2]!);
  const via = owner.modelId === undefined ? 'run_id' : 'model_id';
  switch (scheme) {
    case 'runs': {
      if (authority !== '' || owner.modelId !== undefined || parts[0] !== owner.runId) {
        throw invalid(source, `a runs:/ source must name the version's own run (${via})`);
      }
      return;
    }
    case 'models': {
      const modelId = parts[0]?.startsWith('m-') === true ? parts[0] : undefined;
      if (authority !== '' || (modelId !== undefined && modelId !== owner.modelId)) {
        throw invalid(source, `a models:/m-… source must name the version's own model (${via})`);
      }
      return;
    }
    default: {
      if (!isArtifactProxy(scheme, parts)) return;
      const root = owner.modelId === undefined ? owner.runRoot : owner.modelRoot;
      if (root === undefined || !isWithin(decoded, root)) {
        throw invalid(
          source,
          `an mlflow-artifacts source must lie inside the artifact directory of the ${via === 'run_id' ? 'run' : 'model'} given as ${via}`,
        );
      }
    }
  }
}

function invalid(source: string, why: string): MobiusError {
  return new MobiusError('INVALID_ARGUMENT', `Invalid model version source: '${source}'. ${why}`);
}

/** `//authority/a/b` → authority and non-empty path segments. */
function uriParts(rest: string): { authority: string; parts: string[] } {
  const withAuthority = /^\/\/([^/]*)(.*)$/s.exec(rest);
  const authority = (withAuthority?.[1] ?? '').toLowerCase();
  const path = withAuthority === null ? rest : (withAuthority[2] ?? '');
  return { authority, parts: path.split('/').filter((p) => p !== '') };
}

/** MLflow's artifact proxy: `mlflow-artifacts:` or an http(s) URL to its artifacts route. */
function isArtifactProxy(scheme: string, parts: string[]): boolean {
  if (scheme === 'mlflow-artifacts') return true;
  if (scheme !== 'http' && scheme !== 'https') return false;
  return parts.some((p, i) => p === 'mlflow-artifacts' && parts[i + 1] === 'artifacts');
}

/** Whether `source` names `root` or something under it (scheme, authority and segments). */
function isWithin(source: string, root: string): boolean {
  const a = SCHEME.exec(source);
  const b = SCHEME.exec(decodeUntilStable(root));
  if (a === null || b === null || a[1]!.toLowerCase() !== b[1]!.toLowerCase()) return false;
  const s = uriParts(a[2]!);
  const r = uriParts(b[2]!);
  return (
    s.authority === r.authority &&
    r.parts.length <= s.parts.length &&
    r.parts.every((p, i) => s.parts[i] === p)
  );
}
