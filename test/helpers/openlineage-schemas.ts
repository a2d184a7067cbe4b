/**
 * Validates events against OpenLineage's published JSON schemas: the core spec
 * (OpenLineage.json, 2-0-2) and the facet specs Mobius fills. The schema files are the
 * OpenLineage project's (Apache-2.0), not this repository's: they are read from
 * OPENLINEAGE_SPEC_DIR, else from `openlineage-spec/` in the shared folder beside the
 * repository, laid out as the project's `spec/` folder (OpenLineage.json, facets/*.json).
 * Where neither exists, `loadOpenLineageSchemas` returns undefined and the callers skip.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

/** The facet spec files Mobius' events use, by the key the facet has in its event. */
export const FACET_FILES = {
  run: { parent: 'ParentRunFacet.json', errorMessage: 'ErrorMessageRunFacet.json' },
  job: { jobType: 'JobTypeJobFacet.json' },
  dataset: { version: 'DatasetVersionDatasetFacet.json' },
  inputDataset: { dataQualityAssertions: 'DataQualityAssertionsDatasetFacet.json' },
} as const;

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

/** Where the spec files are, or undefined. */
export function openLineageSpecDir(): string | undefined {
  const candidates = [
    process.env.OPENLINEAGE_SPEC_DIR,
    join(repoRoot, '..', 'shared', 'openlineage-spec'),
  ].filter((d): d is string => d !== undefined && d !== '');
  return candidates.find((d) => existsSync(join(d, 'OpenLineage.json')));
}

export interface OpenLineageSchemas {
  dir: string;
  /** Every schema error of one event (core and every facet it carries), as strings. */
  errors(event: unknown): string[];
}

type Facets = Record<string, unknown> | undefined;

/** Compiles the core and facet schemas, or returns undefined when the spec is not here. */
export function loadOpenLineageSchemas(): OpenLineageSchemas | undefined {
  const dir = openLineageSpecDir();
  if (dir === undefined) return undefined;
  // The spec's schemas carry `example` and other annotations strict mode would reject.
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  // ajv-formats is CommonJS: its module object is the plugin function itself.
  const addFormats = addFormatsModule as unknown as (a: Ajv2020) => void;
  addFormats(ajv);
  const read = (path: string): Record<string, unknown> =>
    JSON.parse(readFileSync(join(dir, path), 'utf8')) as Record<string, unknown>;
  const core = read('OpenLineage.json');
  ajv.addSchema(core);
  const facetSchemas = new Map<string, ValidateFunction>();
  for (const group of Object.values(FACET_FILES))
    for (const file of Object.values(group)) {
      const schema = read(join('facets', file));
      ajv.addSchema(schema);
      facetSchemas.set(file, ajv.getSchema(schema.$id as string)!);
    }
  const validateEvent = ajv.getSchema(core.$id as string)!;

  const check = (
    where: string,
    validate: ValidateFunction | undefined,
    data: unknown,
    out: string[],
  ): void => {
    if (validate === undefined) return;
    if (!validate(data))
      for (const e of validate.errors ?? [])
        out.push(`${where}${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
  };
  const checkFacets = (
    where: string,
    facets: Facets,
    files: Record<string, string>,
    out: string[],
  ): void => {
    if (facets === undefined) return;
    for (const key of Object.keys(facets)) {
      const file = files[key];
      if (file === undefined) out.push(`${where}: facet '${key}' has no schema in this check`);
      // Each facet file's root schema maps the facet's key to its definition.
      else check(`${where}.${key} (${file})`, facetSchemas.get(file), { [key]: facets[key] }, out);
    }
  };

  return {
    dir,
    errors(event) {
      const out: string[] = [];
      check('event', validateEvent, event, out);
      const e = event as {
        run?: { facets?: Facets };
        job?: { facets?: Facets };
        inputs?: { facets?: Facets; inputFacets?: Facets }[];
        outputs?: { facets?: Facets; outputFacets?: Facets }[];
      };
      checkFacets('run.facets', e.run?.facets, FACET_FILES.run, out);
      checkFacets('job.facets', e.job?.facets, FACET_FILES.job, out);
      for (const [i, d] of (e.inputs ?? []).entries()) {
        checkFacets(`inputs[${i}].facets`, d.facets, FACET_FILES.dataset, out);
        checkFacets(`inputs[${i}].inputFacets`, d.inputFacets, FACET_FILES.inputDataset, out);
      }
      for (const [i, d] of (e.outputs ?? []).entries()) {
        checkFacets(`outputs[${i}].facets`, d.facets, FACET_FILES.dataset, out);
        checkFacets(`outputs[${i}].outputFacets`, d.outputFacets, {}, out);
      }
      return out;
    },
  };
}
