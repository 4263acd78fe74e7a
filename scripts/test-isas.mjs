// Reruns the parity tests once per kernel set this CPU can run (HALFBYTE_FORCE_ISA), so the
// scalar oracle and every SIMD path pass the same llama.cpp comparisons.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const addon = createRequire(import.meta.url)('node-gyp-build')(root);
const { availableIsas, activeIsa } = addon.cpuInfo();
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
for (const isa of availableIsas) {
  if (isa === activeIsa) continue; // the default run already covered it
  console.log(`\n== parity tests with HALFBYTE_FORCE_ISA=${isa} ==`);
  execFileSync(process.execPath, [vitest, 'run', 'test/parity.test.ts'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, HALFBYTE_FORCE_ISA: isa },
  });
}
