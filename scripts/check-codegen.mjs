// Checks the compiled x86 kernels for a code-generation regression no result test can see: every
// 8-row tile (TileX8<...>::Of<T>::run) must contain a software prefetch. GCC once deleted all of
// them without a warning (it judged an out-of-line prefetch helper pure), and generation lost ~20%.
// Usage: node scripts/check-codegen.mjs OBJECT.o  (run by native-tests.mjs on x86-64 builds).
import { execFileSync } from 'node:child_process';

const object = process.argv[2];
let asm;
try {
  asm = execFileSync('objdump', ['-d', '-C', '--no-show-raw-insn', object], { encoding: 'utf8', maxBuffer: 1 << 28 });
} catch (err) {
  console.log(`codegen check skipped: objdump could not read ${object} (${err.message.split('\n')[0]})`);
  process.exit(0);
}
const tiles = new Map(); // tile name -> prefetch instructions in it
let current = null;
for (const line of asm.split('\n')) {
  const head = /^[0-9a-f]+ <(.*)>:$/.exec(line);
  if (head) {
    const m = /TileX8<(.*)>::Of<(\d+)>::run/.exec(head[1]);
    current = m ? `${m[1].replace(/hb::(kern::)?(\(anonymous namespace\)::)?/g, '')} T=${m[2]}` : null;
    if (current) tiles.set(current, 0);
  } else if (current && /\sprefetch/.test(line)) {
    tiles.set(current, tiles.get(current) + 1);
  }
}
const missing = [...tiles].filter(([, n]) => n === 0).map(([name]) => name);
if (tiles.size === 0) {
  console.error(`codegen check: no 8-row tiles found in ${object}`);
  process.exit(1);
}
if (missing.length) {
  console.error(`codegen check: no prefetch in ${missing.join(', ')} (${object})`);
  process.exit(1);
}
console.log(`codegen check: ${tiles.size} 8-row tiles in ${object.split('/').pop()}, each with software prefetch`);
