/** The Mobius version, read from package.json once at start-up. */
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** The running Mobius version. */
export const VERSION: string = pkg.version;
