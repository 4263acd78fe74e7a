// Package root (where package.json, prebuilds/ and build/ live) and a require() for CommonJS
// dependencies. import.meta is ESM-only: the CommonJS build compiles this file with the two
// errors below silenced, then replaces its output with a __dirname twin (scripts/build-ts.mjs).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

// @ts-ignore TS1343 under the CommonJS build only
const here = dirname(fileURLToPath(import.meta.url));
// lib/ (sources, under vitest) and dist/esm/ (built) sit one and two levels below the root.
export const packageRoot: string = here.endsWith('lib') ? join(here, '..') : join(here, '..', '..');
// @ts-ignore TS1343 under the CommonJS build only
export const packageRequire: NodeJS.Require = createRequire(import.meta.url);
