/**
 * `mobius lineage <ref>`: everything upstream of a prediction, model version, dataset
 * version or run, printed as a tree (nearest first) — "which data and code are behind
 * this model".
 */
import type { Command } from 'commander';
import type { LineageGraph, LineageNode } from '../lineage/index.js';
import { emit } from './output.js';
import { callServer } from './remote.js';
import { withLocalContext, type CommandDeps } from './run-commands.js';

/** Adds `mobius lineage <ref>` to `program`. */
export function registerLineageCommands(program: Command, deps: CommandDeps): void {
  program
    .command('lineage <ref>')
    .description(
      'what is upstream of a node: prediction:<request-id>, model:<name>@<version|alias>, dataset:<name>@<version>, run:<id>',
    )
    .option('--depth <n>', 'edges to follow at most', (v) => Number.parseInt(v, 10))
    .action(async (ref: string, options: { depth?: number }, command: Command) => {
      const cfg = await deps.config(command);
      const graph =
        cfg.url === undefined
          ? await withLocalContext(cfg, 'lineage', (ctx) =>
              ctx.lineage.upstream(ref, options.depth),
            )
          : await callServer<LineageGraph>(
              cfg,
              'GET',
              `/api/v1/lineage?ref=${encodeURIComponent(ref)}${options.depth === undefined ? '' : `&depth=${options.depth}`}`,
            );
      emit(deps.json(command), graph, () => tree(graph));
    });
}

/** The graph as an indented tree: each node under the one it fed. */
function tree(graph: LineageGraph): string {
  const key = (n: { kind: string; id: string }) => `${n.kind}:${n.id}`;
  const children = new Map<string, LineageNode[]>();
  for (const n of graph.upstream) {
    if (n.downstream === null) continue;
    const list = children.get(key(n.downstream)) ?? [];
    list.push(n);
    children.set(key(n.downstream), list);
  }
  const lines = [line(graph.start)];
  const walk = (node: LineageNode, indent: string) => {
    const list = children.get(key(node)) ?? [];
    list.forEach((child, i) => {
      const last = i === list.length - 1;
      lines.push(`${indent}${last ? '└─' : '├─'} ${child.downstream!.relation} ← ${line(child)}`);
      walk(child, `${indent}${last ? '   ' : '│  '}`);
    });
  };
  walk(graph.start, '');
  if (graph.upstream.length === 0) lines.push('(nothing upstream is recorded)');
  return lines.join('\n');
}

function line(n: LineageNode): string {
  const facts = Object.entries(n.details)
    .filter(([, v]) => typeof v === 'string' || typeof v === 'number')
    .map(([k, v]) => `${k} ${String(v)}`);
  return `${n.label}${facts.length > 0 ? `  [${facts.join(', ')}]` : ''}`;
}
