// Compiles lib/ twice: ESM into dist/esm (with declarations into types/) and CommonJS into
// dist/cjs. The CommonJS twin of lib/root.ts is written here, since import.meta is ESM-only.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  // Installed as a dependency without devDependencies: use the shipped dist/ as is.
  console.log('halfbyte: typescript not installed, skipping the TypeScript build');
  process.exit(0);
}
rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.cjs.json')], { stdio: 'inherit' });
mkdirSync(join(root, 'dist/cjs'), { recursive: true });
writeFileSync(join(root, 'dist/cjs/package.json'), '{ "type": "commonjs" }\n');
writeFileSync(
  join(root, 'dist/cjs/root.js'),
  `"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
const path = require("node:path");
exports.packageRoot = path.join(__dirname, "..", "..");
exports.packageRequire = require;
`,
);
