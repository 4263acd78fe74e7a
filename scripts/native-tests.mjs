// Builds and runs the core's native tests (plain C++, no Node) with CMake into build-tests/.
// HALFBYTE_SANITIZE=1 builds them with AddressSanitizer + UBSan.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = join(root, process.env.HALFBYTE_SANITIZE ? 'build-tests-asan' : 'build-tests');
const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit', cwd: root });
try {
  run('cmake', [
    '-S', root, '-B', build, '-DHALFBYTE_TESTS=ON', '-DHALFBYTE_ADDON=OFF',
    `-DHALFBYTE_SANITIZE=${process.env.HALFBYTE_SANITIZE ? 'ON' : 'OFF'}`,
    `-DCMAKE_BUILD_TYPE=${process.env.HALFBYTE_SANITIZE ? 'RelWithDebInfo' : 'Release'}`,
  ]);
  run('cmake', ['--build', build, '-j', String(Math.max(2, (await import('node:os')).availableParallelism()))]);
  run(join(build, 'halfbyte_tests'), [join(root, 'test', 'fixtures'), ...process.argv.slice(2)]);
  if (process.arch === 'x64' && !process.env.HALFBYTE_SANITIZE) {
    for (const file of ['avx2', 'avx2_k0', 'avx2_k1', 'avx512', 'avx512_k0', 'avx512_k1']) {
      const object = join(build, 'CMakeFiles', 'halfbyte_core.dir', 'native', 'core', 'quant', `kernels_${file}.cpp.o`);
      run(process.execPath, [join(root, 'scripts', 'check-codegen.mjs'), object]);
    }
  }
} catch (err) {
  process.exitCode = typeof err.status === 'number' ? err.status : 1;
}
