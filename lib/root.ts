// Package root (where package.json, prebuilds/ and build/ live) and a require() for CommonJS
// dependencies. The CommonJS build replaces this file with a __dirname-based twin
// (scripts/build-ts.mjs), since import.meta is ESM-only.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
// lib/ (sources, under vitest) and dist/esm/ (built) sit one and two levels below the root.
export const packageRoot: string = here.endsWith('lib') ? join(here, '..') : join(here, '..', '..');
export const packageRequire: NodeJS.Require = createRequire(import.meta.url);
