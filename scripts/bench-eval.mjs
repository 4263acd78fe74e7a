#!/usr/bin/env node
// Throughput of 4-way multiple-choice evaluation: runEvaluation against a naive loop of
// model.score calls (one per item, the prompt rebuilt and evaluated from scratch each time), on
// the same items, alternating the two in one process, zero-shot and with few-shot examples.
//   node scripts/bench-eval.mjs --model FILE [--threads 1] [--items 24] [--shots 3[,5]] [--reps 2] [--concurrency 1]
//   node scripts/bench-eval.mjs --model FILE --generation 4   (generation items: concurrency 1 vs 4)
// Items come from test/fixtures/eval/stories-mc.jsonl: the first `shots` + 3 are the train split.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    threads: { type: 'string', default: '1' },
    items: { type: 'string', default: '24' },
    shots: { type: 'string', default: '3' },
    reps: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '1' },
    generation: { type: 'string' },
  },
});
if (!values.model) {
  console.error('usage: node scripts/bench-eval.mjs --model FILE [--threads 1] [--items 24] [--shots 3[,5]] [--reps 2] [--concurrency 1]');
  process.exit(2);
}
const dist = (f) => import(pathToFileURL(join(root, 'dist/esm', f)).href);
const { load, runEvaluation } = await dist('index.js');
const { chooseShots, parseTasks, shotBlock, itemPrompt } = await dist('eval-tasks.js');
const shotList = values.shots.split(',').map(Number);
const shots = Math.max(...shotList);
const nItems = Number(values.items);
const nTrain = shots + 3;
const lines = readFileSync(join(root, 'test/fixtures/eval/stories-mc.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const items = [...lines.slice(0, nTrain).map((it) => ({ ...it, split: 'train' })), ...lines.slice(nTrain, nTrain + nItems)];
const parsed = parseTasks(items.map((it) => JSON.stringify(it)).join('\n'));
const test = parsed.filter((p) => p.split === 'test');
const train = parsed.filter((p) => p.split === 'train');

const model = await load(values.model, { threads: Number(values.threads) });
const argmax = (xs) => xs.indexOf(Math.max(...xs));

async function naive(k) {
  const block = shotBlock(chooseShots(train, k, 1, 'stories-mc'), undefined);
  const picks = [];
  for (const p of test) {
    const r = await model.score(block + itemPrompt(p.item), p.item.choices.map((c) => ' ' + c));
    picks.push(argmax(r.map((x) => x.logprob)));
  }
  return picks;
}
async function ours(k) {
  const report = await runEvaluation(model, items, { shots: k, concurrency: Number(values.concurrency) });
  return report.results.map((r) => r.mc.pred);
}
const time = async (fn) => {
  const t = performance.now();
  const picks = await fn();
  return { s: (performance.now() - t) / 1000, picks };
};

if (values.generation) {
  // Generation items (the contexts, 16 greedy tokens each): concurrency 1 against N, whose
  // decode steps the engine batches across lanes.
  const gen = lines.slice(nTrain, nTrain + nItems).map((it) => ({ kind: 'generation', id: it.id, prompt: it.context, answers: [it.choices[it.answer]], maxTokens: 16, stop: '\n\n' }));
  const n = Number(values.generation);
  const rates = { 1: [], [n]: [] };
  let same = true;
  for (let rep = 0; rep < Number(values.reps); rep++) {
    const outs = [];
    for (const c of [1, n]) {
      const t = performance.now();
      const r = await runEvaluation(model, gen, { concurrency: c });
      rates[c].push(gen.length / ((performance.now() - t) / 1000));
      outs.push(r.results.map((x) => x.output).join('\u0000'));
    }
    same &&= outs[0] === outs[1];
  }
  console.log(
    `generation, ${gen.length} items x 16 tokens, threads ${values.threads}: concurrency 1 ${rates[1].map((x) => x.toFixed(2)).join(' / ')} items/s, ` +
      `concurrency ${n} ${rates[n].map((x) => x.toFixed(2)).join(' / ')} items/s (best ${(Math.max(...rates[n]) / Math.max(...rates[1])).toFixed(2)}x); same outputs: ${same}`,
  );
  model.dispose();
  process.exit(0);
}

console.log(`${values.model}: ${test.length} 4-way items, threads ${values.threads}, concurrency ${values.concurrency}, reps ${values.reps}`);
for (const k of [0, ...shotList.filter((k) => k > 0)]) {
  const rates = { naive: [], ours: [] };
  let agree = true;
  for (let rep = 0; rep < Number(values.reps); rep++) {
    const a = await time(() => naive(k));
    const b = await time(() => ours(k));
    rates.naive.push(test.length / a.s);
    rates.ours.push(test.length / b.s);
    agree &&= a.picks.every((x, i) => x === b.picks[i]);
  }
  const best = (xs) => Math.max(...xs);
  console.log(
    `shots ${k}: naive score loop ${rates.naive.map((x) => x.toFixed(2)).join(' / ')} items/s, runEvaluation ${rates.ours.map((x) => x.toFixed(2)).join(' / ')} items/s ` +
      `(best ${best(rates.naive).toFixed(2)} vs ${best(rates.ours).toFixed(2)}: ${(best(rates.ours) / best(rates.naive)).toFixed(2)}x); same picks: ${agree}`,
  );
}
model.dispose();
