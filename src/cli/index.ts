/** cli: the `mobius` command. */
export { buildCli, runCli } from './main.js';
