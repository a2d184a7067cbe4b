/**
 * What registry-backed deployments need from the registry and tracking, built here so the
 * serving folder imports neither: `model@ref` → a model version → the model among its
 * logged artifacts: one in-process model file (a blob in the blob store), or an MLflow
 * model directory (its files as blobs, served by the out-of-process Python runtime).
 */
import { MobiusError } from '../core/index.js';
import { parseVersion, type RegistryService } from '../registry/index.js';
import type { ModelFile, ModelSource, ResolveModel } from '../serving/index.js';
import type { Store } from '../store/index.js';
import { runArtifactRoot, type TrackingService } from '../tracking/index.js';

/** Model files a version's artifact directory may hold, in order of preference. */
const MODEL_FILE = /(\.onnx|\.mobius\.json)$/;

/**
 * Resolves `model@ref` (a version number or an alias) to the version's model. In order:
 * the version's source itself when that is a file; else the one `.onnx` or `.mobius.json`
 * file directly inside it (`model.onnx` when there are several) — served in-process, so an
 * MLflow model logged with an ONNX flavor still runs on onnxruntime; else, when the
 * directory holds an `MLmodel`, every file below it (`{files}`: the serving service copies
 * them to scratch and starts the Python runtime on them — this process never unpickles).
 * A version tag `mobius.features` (a JSON array of names) gives the column order for the
 * records endpoint.
 *
 * @example
 * new DeploymentService({ ..., resolve: modelResolver(registry, tracking, store) })
 */
export function modelResolver(
  registry: RegistryService,
  tracking: TrackingService,
  store: Store,
): ResolveModel {
  const sha256Of = async (path: string) =>
    (
      await store.db
        .selectFrom('artifact')
        .select('sha256')
        .where('path', '=', path)
        .executeTakeFirst()
    )?.sha256;
  return async (model, ref) => {
    const version = /^\d+$/.test(ref)
      ? await registry.versions.get(model, parseVersion(ref))
      : await registry.aliases.get(model, ref);
    const name = `${version.name}@${version.version}`;
    const source = await registry.versions.downloadUri(version.name, version.version);
    let root = source;
    const logged = /^models:\/(m-[\w-]+)\/?$/.exec(source);
    const run = /^runs:\/([0-9a-f]{32})(?:\/(.*))?$/.exec(source);
    if (logged !== null) root = (await tracking.loggedModels.get(logged[1]!)).artifactUri;
    else if (run !== null) {
      const uri = (await tracking.runs.get(run[1]!)).info.artifactUri.replace(/\/+$/, '');
      root = run[2] === undefined || run[2] === '' ? uri : `${uri}/${run[2]}`;
    }
    if (!root.startsWith('mlflow-artifacts:'))
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `${name} has its files at '${source}', which this server does not store; register a version whose model was logged to Mobius`,
      );
    const path = runArtifactRoot(root);
    let found: ModelSource;
    const sha256 = await sha256Of(path);
    if (sha256 !== undefined) found = { blob: sha256 };
    else {
      const files = (await tracking.artifacts.list(path)).filter((e) => !e.isDir);
      const models = files.filter((f) => MODEL_FILE.test(f.name));
      const pick =
        models.find((f) => f.name === 'model.onnx') ??
        (models.length === 1 ? models[0] : undefined) ??
        models.find((f) => f.name === 'model.mobius.json');
      if (pick !== undefined) found = { blob: (await sha256Of(`${path}/${pick.name}`))! };
      else if (models.length > 1)
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `${name} has several model files (${models.map((f) => f.name).join(', ')}); name one as the version's source, or call one model.onnx`,
        );
      else if (files.some((f) => f.name === 'MLmodel'))
        found = { files: await directoryFiles(store, path) };
      else
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `${name} has no model at '${source}': no .onnx or .mobius.json file and no MLflow model (an MLmodel file)${
            files.length === 0
              ? ''
              : ` (found ${files
                  .slice(0, 10)
                  .map((f) => f.name)
                  .join(', ')})`
          }; register the directory that holds the model (e.g. runs:/<run>/model), logged with mlflow.<flavor>.log_model or as model.onnx`,
        );
    }
    const features = version.tags['mobius.features'];
    let options: { features: string[] } | undefined;
    if (features !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(features);
      } catch {
        parsed = undefined;
      }
      if (!Array.isArray(parsed) || !parsed.every((f) => typeof f === 'string'))
        throw new MobiusError(
          'INVALID_ARGUMENT',
          `${name}'s tag mobius.features must be a JSON array of feature names, e.g. ["age","plan"]`,
        );
      options = { features: parsed };
    }
    return { model: version.name, version: version.version, source: found, options };
  };
}

/**
 * Every file stored below the artifact directory `path`, with paths relative to it: an
 * MLflow model directory (MLmodel, the pickle, requirements, …) for the Python runtime.
 */
async function directoryFiles(store: Store, path: string): Promise<ModelFile[]> {
  const prefix = `${path}/`;
  // LIKE narrows with the index; `_` and `%` in the path are wildcards there, so the exact
  // prefix is checked again below.
  const rows = await store.db
    .selectFrom('artifact')
    .select(['path', 'sha256'])
    .where('path', 'like', `${prefix}%`)
    .orderBy('path')
    .execute();
  return rows
    .filter((r) => r.path.startsWith(prefix))
    .map((r) => ({ path: r.path.slice(prefix.length), blob: r.sha256 }));
}
