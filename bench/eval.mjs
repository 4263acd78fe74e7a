#!/usr/bin/env node
// Evaluation-side figures (issue 6): 4-way multiple-choice scoring throughput, the speed-up of
// session prefix reuse, and aggregate tokens/s of 4 concurrent generations vs one.
//
//   node bench/eval.mjs --model FILE [--threads 2] [--reps 3]
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { model: { type: 'string' }, threads: { type: 'string', default: '2' }, reps: { type: 'string', default: '3' } },
});
if (!values.model) {
  console.error('usage: node bench/eval.mjs --model FILE [--threads 2] [--reps 3]');
  process.exit(2);
}
const reps = Number(values.reps);
const { load } = await import(pathToFileURL(join(root, 'dist/esm/index.js')).href);
const model = await load(values.model, { threads: Number(values.threads) });
const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
const time = async (fn) => {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
};
const vocab = model.info.vocabSize;
const ids = (n, off = 0) => Array.from({ length: n }, (_, i) => 3 + ((i * 7919 + off) % Math.min(20000, vocab - 3)));
const words = (n) => Array.from({ length: n }, (_, i) => `word${i % 97}`).join(' ');

// 1. Multiple choice: a ~100-token question, four ~8-token answers.
const question = words(60);
const choices = [' alpha beta gamma', ' delta epsilon zeta eta', ' theta iota', ' kappa lambda mu nu xi'];
const mc = [];
for (let r = 0; r < reps; r++) mc.push(await time(() => model.score(question, choices)));
const promptOnly = [];
for (let r = 0; r < reps; r++) promptOnly.push(await time(() => model.evaluate(model.tokenize(question))));

// 2. Prefix reuse: a 256-token conversation, then 16 more tokens, fresh vs in a session.
const history = ids(256);
const next = [...history, ...ids(16, 5)];
const fresh = [];
const reused = [];
for (let r = 0; r < reps; r++) {
  fresh.push(await time(async () => { for await (const _ of model.generate(next, { temperature: 0, maxTokens: 1 })); }));
  const s = model.createSession({ contextSize: 512 });
  for await (const _ of s.generate(history, { temperature: 0, maxTokens: 1 }));
  reused.push(await time(async () => { for await (const _ of s.generate(next, { temperature: 0, maxTokens: 1 })); }));
  s.dispose();
}

// 3. Concurrency: 4 generations of 32 tokens at once vs one alone.
const gen = async (p) => { let n = 0; for await (const _ of model.generate(p, { temperature: 0, maxTokens: 32 })) n++; return n; };
const single = [];
const four = [];
for (let r = 0; r < reps; r++) {
  single.push(32 / (await time(() => gen(ids(8)))));
  let total = 0;
  const t = await time(async () => { total = (await Promise.all([0, 1, 2, 3].map((k) => gen(ids(8, k * 11))))).reduce((a, b) => a + b, 0); });
  four.push(total / t);
}

const out = {
  model: values.model,
  threads: Number(values.threads),
  multipleChoice: { choicesPerS: +(4 / median(mc)).toFixed(2), secondsPer4Choices: +median(mc).toFixed(3), promptPrefillSeconds: +median(promptOnly).toFixed(3) },
  prefixReuse: { freshSeconds: +median(fresh).toFixed(3), reusedSeconds: +median(reused).toFixed(3), speedup: +(median(fresh) / median(reused)).toFixed(2) },
  concurrency: { oneTokPerS: +median(single).toFixed(2), fourAggregateTokPerS: +median(four).toFixed(2), ratio: +(median(four) / median(single)).toFixed(2) },
};
console.log(JSON.stringify(out, null, 2));
model.dispose();
