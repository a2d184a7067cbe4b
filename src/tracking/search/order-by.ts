/**
 * MLflow's order_by clauses for run search: `<identifier> [ASC|DESC]`, one per string,
 * e.g. `metrics.acc DESC`, `params.lr`, `` tags.`my tag` ASC ``, `start_time`.
 * Identifiers follow the filter grammar; datasets cannot be sorted on (nor in MLflow).
 */
import { MobiusError } from '../../core/index.js';
import {
  ATTRIBUTE_LIST,
  resolveAttribute,
  resolveEntityPrefix,
  type RunAttribute,
} from './run-fields.js';
import { SearchScanner } from './search-scanner.js';

/** One parsed order_by clause. */
export type OrderByClause =
  | { entity: 'metric' | 'param' | 'tag'; key: string; ascending: boolean }
  | { entity: 'attribute'; key: RunAttribute; ascending: boolean };

/**
 * Parses order_by clauses; ascending unless DESC. Throws INVALID_ARGUMENT for a clause
 * that does not parse, names an unknown attribute, or repeats a field (as MLflow does).
 *
 * @example
 * parseOrderBy(['metrics.acc DESC', 'params.lr']);
 */
export function parseOrderBy(clauses: readonly string[] | null | undefined): OrderByClause[] {
  const parsed = (clauses ?? []).map(parseOrderByClause);
  const seen = new Set<string>();
  for (const [i, clause] of parsed.entries()) {
    const field = `${clause.entity}\u0000${clause.key}`;
    if (seen.has(field)) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `order_by names the same field twice ('${clauses?.[i] ?? ''}'); keep one clause per field`,
      );
    }
    seen.add(field);
  }
  return parsed;
}

/** Parses one order_by clause. */
export function parseOrderByClause(clause: string): OrderByClause {
  const s = new SearchScanner(clause, `order_by clause '${clause}'`);
  if (s.atEnd()) {
    throw new MobiusError(
      'INVALID_ARGUMENT',
      'an order_by clause is empty; remove it or name a field',
    );
  }
  const id = s.readIdentifier('a field such as metrics.acc or start_time');
  let ascending = true;
  const word = s.peekWord();
  if (word === 'ASC' || word === 'DESC') {
    s.takeWord();
    ascending = word === 'ASC';
  }
  if (!s.atEnd()) throw s.error('expected ASC, DESC or the end', s.pos);

  const entity = id.prefix === undefined ? 'attribute' : resolveEntityPrefix(id.prefix);
  const fail = (message: string): MobiusError =>
    new MobiusError('INVALID_ARGUMENT', `${message} (in order_by clause '${clause}')`);
  switch (entity) {
    case undefined:
      throw fail(
        `unknown entity '${id.prefix ?? ''}': use metrics., params., tags. or attributes.`,
      );
    case 'dataset':
      throw fail('runs cannot be sorted by dataset fields');
    case 'metric':
    case 'param':
    case 'tag':
      if (id.key === '') throw fail(`${entity}s need a non-empty key`);
      return { entity, key: id.key, ascending };
    case 'attribute': {
      const key = resolveAttribute(id.key);
      if (key === undefined) {
        throw fail(`unknown attribute '${id.key}': attributes are ${ATTRIBUTE_LIST}`);
      }
      return { entity, key, ascending };
    }
  }
}
