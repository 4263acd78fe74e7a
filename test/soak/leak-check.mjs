// Run by test/leaks.test.ts in its own process (node --expose-gc): load/dispose cycles and many
// short generations, RSS measured after a warm-up and at the end. Prints one JSON line.
// argv: the package's ESM entry, the model, cycles, generations.
import { pathToFileURL } from 'node:url';

const [lib, modelFile, cycles, generations] = process.argv.slice(2);
const { load } = await import(pathToFileURL(lib).href);
const rss = () => {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().rss;
};

async function loadCycles(n) {
  for (let i = 0; i < n; i++) {
    const m = await load(modelFile, { threads: 1 });
    let k = 0;
    for await (const _ of m.generate('Once', { maxTokens: 2 })) k++;
    m.dispose();
  }
}
async function shortGenerations(m, n) {
  let tokens = 0;
  for (let i = 0; i < n; i++) {
    for await (const _ of m.generate(`Once upon a time ${i % 7}`, { maxTokens: 4, temperature: 0.8, seed: i })) tokens++;
    if (i % 10 === 0) {
      const s = m.createSession();
      for await (const _ of s.generate('Lily', { maxTokens: 2 })) tokens++;
      s.dispose();
    }
  }
  return tokens;
}

// Warm-up: allocator arenas, JIT, the addon's first load.
await loadCycles(20);
const m0 = await load(modelFile, { threads: 1 });
await shortGenerations(m0, 200);
const before = rss();
await loadCycles(Number(cycles));
const afterLoads = rss();
const tokens = await shortGenerations(m0, Number(generations));
m0.dispose();
const after = rss();
console.log(JSON.stringify({ before, afterLoads, after, tokens, loadGrowthMB: (afterLoads - before) / 2 ** 20, totalGrowthMB: (after - before) / 2 ** 20 }));
