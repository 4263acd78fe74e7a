#!/usr/bin/env node
// Constrained generation against unconstrained, on one file, in one run: halfbyte with and
// without a JSON-schema grammar, and node-llama-cpp the same way when it is installed, the four
// alternating repetition by repetition; medians of tokens/s.
//
//   node bench/grammar.mjs --model FILE [--threads 2] [--gen 64] [--reps 5] [--peer-dir DIR]
//
// The schema keeps generation inside a long string (so every repetition makes --gen tokens):
// the state a JSON answer spends most of its tokens in.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    threads: { type: 'string', default: '2' },
    gen: { type: 'string', default: '64' },
    reps: { type: 'string', default: '5' },
    'peer-dir': { type: 'string' },
  },
});
if (!values.model) {
  console.error('usage: node bench/grammar.mjs --model FILE [--threads 2] [--gen 64] [--reps 5] [--peer-dir DIR]');
  process.exit(2);
}
const schema = {
  type: 'object',
  properties: { title: { type: 'string', maxLength: 12 }, story: { type: 'string', minLength: 300 } },
  required: ['title', 'story'],
};
const nGen = Number(values.gen);
const { load, getCpuInfo, jsonSchemaToGrammar } = await import(join(root, 'dist/esm/index.js'));
const model = await load(values.model, { threads: Number(values.threads) });
const gbnf = jsonSchemaToGrammar(schema);
async function ours(constrained) {
  let n = 0;
  const t0 = performance.now();
  // A new grammar each time, timed too: its per-vocabulary caches start cold, as the peer's do.
  const grammar = constrained ? model.createGrammar(gbnf) : undefined;
  for await (const _ of model.generate('Once upon a time', { maxTokens: nGen, temperature: 0.8, seed: 1, grammar })) n++;
  return { tg: n / ((performance.now() - t0) / 1000), tokens: n };
}

let peer = null;
const entry = join(values['peer-dir'] ?? root, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
if (existsSync(entry)) {
  const child = spawn(process.execPath, [join(root, 'bench', 'grammar-peer.mjs'), values.model, String(nGen), values.threads, JSON.stringify(schema)], {
    env: { ...process.env, HALFBYTE_PEER_ENTRY: entry },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value);
  await next(); // ready
  peer = { run: async (kind) => (child.stdin.write(kind + '\n'), next()), stop: () => child.kill() };
}

const results = { plain: [], json: [], peerPlain: [], peerJson: [] };
await ours(false); // warm-up
await ours(true);
for (let r = 0; r < Number(values.reps); r++) {
  results.plain.push((await ours(false)).tg);
  results.json.push((await ours(true)).tg);
  if (peer) {
    results.peerPlain.push((await peer.run('plain')).tg);
    results.peerJson.push((await peer.run('json')).tg);
  }
}
peer?.stop();
const median = (a) => (a.length ? a.slice().sort((x, y) => x - y)[a.length >> 1] : NaN);
const m = Object.fromEntries(Object.entries(results).map(([k, a]) => [k, +median(a).toFixed(2)]));
console.log(`model ${values.model} (vocabulary ${model.info.vocabSize}), ${getCpuInfo().activeIsa}, ${values.threads} threads, ${nGen} tokens`);
console.log(`halfbyte        unconstrained ${m.plain} tok/s, JSON schema ${m.json} tok/s: overhead ${((1 - m.json / m.plain) * 100).toFixed(1)}%`);
if (peer)
  console.log(`node-llama-cpp  unconstrained ${m.peerPlain} tok/s, JSON schema ${m.peerJson} tok/s: overhead ${((1 - m.peerJson / m.peerPlain) * 100).toFixed(1)}%`);
console.log(JSON.stringify({ model: values.model, vocab: model.info.vocabSize, threads: +values.threads, nGen, medians: m, results }));
model.dispose();
process.exit(0);
