#!/usr/bin/env node
// The `mobius` executable: runs the compiled CLI (built by `npm install` via the
// `prepare` script, or `npm run build`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    'mobius: the CLI is not built yet\n  hint: run `npm install` (or `npm run build`) in the Mobius checkout\n',
  );
  process.exit(1);
}
const { runCli } = await import(entry.href);
const code = await runCli(process.argv.slice(2), process.env, process.cwd());
if (code !== 0) process.exitCode = code;
