/**
 * MLflow's query-safety scan (mlflow/server/graphql/graphql_no_batching.py), run on the
 * parsed document before validation or execution: at most 10 levels of selections, 1000
 * selections in all, 10 root fields and 10 aliases in any one selection set (aliases in
 * sibling fragments count together). Batching many root fields or aliases into one
 * request is how a GraphQL endpoint is made to do unbounded work per request.
 */
import {
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

export const MAX_DEPTH = 10;
export const MAX_SELECTIONS = 1000;
/** MLflow's defaults for MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS / _MAX_ALIASES. */
export const MAX_ROOT_FIELDS = 10;
export const MAX_ALIASES = 10;

export interface QueryLimits {
  maxRootFields: number;
  maxAliases: number;
}

/** The fields of one selection set, with fragments at that level merged in. */
function collectFields(
  selectionSet: SelectionSetNode,
  fragments: Map<string, FragmentDefinitionNode>,
  visited: ReadonlySet<string>,
): { fields: FieldNode[]; aliases: number } {
  const fields: FieldNode[] = [];
  let aliases = 0;
  const queue = [...selectionSet.selections];
  const seen = new Set(visited);
  for (let i = 0; i < queue.length; i++) {
    const s = queue[i]!;
    if (s.kind === Kind.FIELD) {
      fields.push(s);
      if (s.alias !== undefined) aliases++;
    } else if (s.kind === Kind.INLINE_FRAGMENT) {
      queue.push(...s.selectionSet.selections);
    } else if (!seen.has(s.name.value)) {
      seen.add(s.name.value);
      const fragment = fragments.get(s.name.value);
      if (fragment !== undefined) queue.push(...fragment.selectionSet.selections);
    }
  }
  return { fields, aliases };
}

/**
 * The first limit `document` breaks, as MLflow words it, or undefined when it is within
 * all of them.
 */
export function checkQuerySafety(document: DocumentNode, limits: QueryLimits): string | undefined {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions)
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);

  let rootFields = 0;
  let maxAliases = 0;
  let selections = 0;
  for (const d of document.definitions) {
    if (d.kind !== Kind.OPERATION_DEFINITION) continue;
    // Depth-first, as MLflow's stack walks it, so the first broken limit is the same one.
    const stack: [SelectionSetNode, number, ReadonlySet<string>][] = [
      [d.selectionSet, 1, new Set()],
    ];
    while (stack.length > 0) {
      const [set, depth, visited] = stack.pop()!;
      if (depth > MAX_DEPTH) return `Query exceeds maximum depth of ${MAX_DEPTH}`;
      const { fields, aliases } = collectFields(set, fragments, visited);
      for (const f of fields) {
        if (depth === 1) rootFields++;
        if (f.selectionSet !== undefined) stack.push([f.selectionSet, depth + 1, visited]);
        if (++selections > MAX_SELECTIONS)
          return `Query exceeds maximum total selections of ${MAX_SELECTIONS}`;
      }
      maxAliases = Math.max(maxAliases, aliases);
    }
  }
  if (rootFields > limits.maxRootFields)
    return `GraphQL queries should have at most ${limits.maxRootFields} root fields, got ${rootFields} root fields.`;
  if (maxAliases > limits.maxAliases)
    return `GraphQL queries should have at most ${limits.maxAliases} aliases, got ${maxAliases} aliases.`;
  return undefined;
}
