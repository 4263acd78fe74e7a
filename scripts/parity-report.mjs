#!/usr/bin/env node
// How close halfbyte's logits are to llama.cpp's references, per fixture (docs/numerics.md):
//
//   node scripts/parity-report.mjs [FIXTURE...] [--refs DIR] [--threads N]
//
// FIXTURE: names under test/fixtures/models (default: every tiny-llama-* / tiny-qwen2-* file).
// --refs DIR: read FIXTURE.ref.json from DIR instead (e.g. references made with
// ../shared/tools/ref.cpp on this machine). Prints, per prompt, the mean, first-position and
// largest KL(llama.cpp || halfbyte); when the references carry greedy_margin, also the
// teacher-forced greedy check: the prompt plus llama.cpp's greedy tokens in one batch, and every
// step whose margin is >= 0.05 where halfbyte's argmax differs. Needs a built tree (npm run build).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { refs: { type: 'string' }, threads: { type: 'string', default: '2' } },
});
const { load } = await import(pathToFileURL(join(root, 'dist', 'esm', 'index.js')).href);
const models = join(root, 'test', 'fixtures', 'models');
const names = positionals.length
  ? positionals
  : readdirSync(models).filter((f) => /^tiny-(llama|qwen2)-[A-Z0-9_]+(-pure)?\.gguf$/.test(f)).map((f) => f.replace(/\.gguf$/, '')).sort();

function logSoftmax(row) {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const lse = Math.log(sum) + max;
  return Array.from(row, (v) => v - lse);
}
function kl(ref, ours) {
  const p = logSoftmax(ref);
  const q = logSoftmax(ours);
  let s = 0;
  for (let i = 0; i < p.length; i++) s += Math.exp(p[i]) * (p[i] - q[i]);
  return s;
}
const argmax = (row) => row.reduce((best, v, i) => (v > row[best] ? i : best), 0);
const e = (v) => v.toExponential(1);

let decisions = 0;
let flips = 0;
for (const name of names) {
  const refs = JSON.parse(readFileSync(join(values.refs ?? models, `${name}.ref.json`), 'utf8'));
  const model = await load(join(models, `${name}.gguf`), { threads: Number(values.threads) });
  const parts = [];
  const flipped = [];
  for (const [i, ref] of refs.entries()) {
    const { logits, nVocab } = await model.evaluate(ref.tokens, { logits: 'all' });
    const ks = ref.positions.map((pos, k) => kl(ref.logits[k], logits.subarray(pos * nVocab, (pos + 1) * nVocab)));
    parts.push(`prompt ${i}: mean ${e(ks.reduce((a, b) => a + b, 0) / ks.length)} first ${e(ks[0])} max ${e(Math.max(...ks))}`);
    if (!ref.greedy_margin) continue;
    const forced = await model.evaluate([...ref.tokens, ...ref.greedy.slice(0, -1)], { logits: 'all' });
    ref.greedy.forEach((token, s) => {
      if (ref.greedy_margin[s] < 0.05) return;
      decisions++;
      const at = ref.tokens.length - 1 + s;
      const row = forced.logits.subarray(at * nVocab, (at + 1) * nVocab);
      const ours = argmax(row);
      if (ours !== token) {
        flips++;
        flipped.push(`prompt ${i} step ${s}: llama.cpp's margin ${ref.greedy_margin[s].toFixed(3)}, halfbyte prefers ${ours} by ${(row[ours] - row[token]).toFixed(3)}`);
      }
    });
  }
  console.log(`${name.padEnd(22)} ${parts.join(' | ')}`);
  for (const f of flipped) console.log(`  flipped: ${f}`);
  await model.dispose();
}
if (decisions) console.log(`teacher-forced greedy: ${flips} of ${decisions} decisions with margin >= 0.05 differ`);
