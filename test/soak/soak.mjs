// Soak: 8 generations at a time on one model, for a while, every output checked against the same
// generation run alone, with the event loop's delay watched throughout.
//
//   npm run soak -- [--seconds 120] [--concurrency 8] [--model FILE]
//
// Prints one JSON line (tokens, tokens/s, event-loop delay p50/p99/max in ms, RSS growth in MB,
// mismatches) and exits 1 if any output differed or p99 >= 20 ms. CI runs it shortened.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const seconds = Number(opt('--seconds', '120'));
const concurrency = Number(opt('--concurrency', '8'));
const modelFile = opt('--model', join(root, 'test', 'fixtures', 'models', 'tiny-llama-Q4_K_M.gguf'));
const { load } = await import(pathToFileURL(join(root, 'dist', 'esm', 'index.js')).href);

const model = await load(modelFile, { threads: 2 });
const prompts = ['Once upon a time', 'Lily wanted to', 'The little dog', 'One day, a boy', 'Tom and Sue', 'The sun was'];
// A job: prompt, seed and length; its text alone is the reference. Sampled (seeded) and greedy.
const job = (i) => ({ prompt: prompts[i % prompts.length], seed: i % 13, temperature: i % 3 === 0 ? 0 : 0.8, maxTokens: 24 + (i % 5) * 8 });
const key = (j) => `${j.prompt}|${j.seed}|${j.temperature}|${j.maxTokens}`;
async function run(j) {
  let text = '';
  let tokens = 0;
  for await (const c of model.generate(j.prompt, { seed: j.seed, temperature: j.temperature, maxTokens: j.maxTokens })) {
    text += c.text;
    tokens++;
  }
  return { text, tokens };
}

// References, one at a time.
const reference = new Map();
for (let i = 0; i < 65; i++) if (!reference.has(key(job(i)))) reference.set(key(job(i)), (await run(job(i))).text);

globalThis.gc?.();
const rss0 = process.memoryUsage().rss;
// Sampled every 1 ms; each value is the time between two samples, so it includes that 1 ms.
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
const end = Date.now() + seconds * 1000;
let next = 0;
let tokens = 0;
let generations = 0;
let mismatches = 0;
const t0 = Date.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) {
      const j = job(next++ % 65);
      const r = await run(j);
      tokens += r.tokens;
      generations++;
      if (r.text !== reference.get(key(j))) mismatches++;
    }
  }),
);
delay.disable();
const elapsed = (Date.now() - t0) / 1000;
globalThis.gc?.();
const result = {
  seconds: Math.round(elapsed),
  concurrency,
  generations,
  tokens,
  tokensPerSecond: Math.round(tokens / elapsed),
  mismatches,
  loopDelayMs: { p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 },
  rssGrowthMB: Math.round(((process.memoryUsage().rss - rss0) / 2 ** 20) * 10) / 10,
};
model.dispose();
console.log(JSON.stringify(result));
if (mismatches > 0 || result.loopDelayMs.p99 >= 20) process.exit(1);
