// Links the package's own `halfbyte` command into node_modules/.bin, so that `npx halfbyte …`
// works inside a clone of this repository too (npm links bins only for dependencies).
import { chmodSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Only in a clone: as an installed dependency, npm links the bin itself.
if (!root.split(/[\\/]/).includes('node_modules')) {
  const binDir = join(root, 'node_modules', '.bin');
  const link = join(binDir, 'halfbyte');
  mkdirSync(binDir, { recursive: true });
  rmSync(link, { force: true });
  symlinkSync(join('..', '..', 'bin', 'halfbyte.js'), link);
  chmodSync(join(root, 'bin', 'halfbyte.js'), 0o755);
}
