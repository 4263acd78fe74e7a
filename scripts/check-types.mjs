// The declarations in types/ are generated from lib/ (scripts/build-ts.mjs); this checks that
// the committed ones are what the sources produce now, so they cannot drift.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const out = mkdtempSync(join(tmpdir(), 'halfbyte-types-'));
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json'), '--emitDeclarationOnly', '--declarationDir', out, '--outDir', join(out, 'js')], {
  stdio: 'inherit',
});
const list = (dir) => readdirSync(dir, { recursive: true }).filter((f) => f.endsWith('.d.ts')).sort();
const fresh = list(out);
const committed = list(join(root, 'types'));
const problems = [];
for (const f of new Set([...fresh, ...committed])) {
  const a = fresh.includes(f) ? readFileSync(join(out, f), 'utf8') : null;
  const b = committed.includes(f) ? readFileSync(join(root, 'types', f), 'utf8') : null;
  if (a !== b) problems.push(a === null ? `types/${f} has no source any more` : b === null ? `types/${f} is missing` : `types/${f} differs from what lib/ generates`);
}
rmSync(out, { recursive: true, force: true });
if (problems.length) {
  console.error(`types/ is out of date (run npm run build:ts):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`types/: ${committed.length} declaration files match lib/ (${relative(root, join(root, 'types'))})`);
