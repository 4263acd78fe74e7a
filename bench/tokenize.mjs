#!/usr/bin/env node
// Tokenizer throughput: 1 MB of English and 1 MB of mixed-script text through halfbyte's
// model.tokenize and, when installed, node-llama-cpp's model.tokenize on the same vocabulary,
// in one invocation (medians of --reps runs), so the ratio comes from one run.
//
//   node bench/tokenize.mjs --vocab FILE.gguf [--reps 5] [--peer-dir DIR]
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { vocab: { type: 'string' }, reps: { type: 'string', default: '5' }, 'peer-dir': { type: 'string' } },
});
if (!values.vocab) {
  console.error('usage: node bench/tokenize.mjs --vocab FILE.gguf [--reps 5] [--peer-dir DIR]');
  process.exit(2);
}
const reps = Number(values.reps);
const MB = 1 << 20;

// Deterministic texts of about 1 MB each.
function fill(parts) {
  let s = '';
  let i = 0;
  while (s.length < MB) s += parts[i++ % parts.length] + (i % 7 === 0 ? '\n\n' : ' ');
  return s.slice(0, MB);
}
const english = fill([
  readFileSync(join(root, 'test/fixtures/models/long-prompt.txt'), 'utf8'),
  'The quick brown fox jumps over the lazy dog, 1234 times; it was 3.14 percent faster than expected.',
  "It's been a long day: we've shipped v2.0.1 (finally!) and the tests pass.",
]);
const mixed = fill([
  '東京は日本の首都です。人口は約1400万人で、世界有数の大都市です。',
  'Москва — столица России, крупнейший по численности населения город страны.',
  'القاهرة هي عاصمة مصر وأكبر مدنها، وتقع على ضفاف نهر النيل.',
  'दिल्ली भारत की राजधानी है और यह एक ऐतिहासिक शहर है।',
  'Ελληνικά: η Αθήνα είναι η πρωτεύουσα της Ελλάδας. 🙂🚀✨',
  'function add(a, b) { return a + b; } // ünïcödé 한국어 텍스트 입니다',
]);
const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];

function measure(tokenize) {
  const out = {};
  for (const [name, text] of [['english', english], ['mixed', mixed]]) {
    tokenize(text.slice(0, 10000)); // warm up
    const times = [];
    let count = 0;
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      count = tokenize(text).length;
      times.push(performance.now() - t);
    }
    out[name] = { mbPerS: +(text.length / MB / (median(times) / 1000)).toFixed(2), tokens: count };
  }
  return out;
}

const { load } = await import(pathToFileURL(join(root, 'dist/esm/index.js')).href);
const model = await load(values.vocab, { vocabOnly: true });
const ours = measure((t) => model.tokenize(t, { addSpecial: false }));
model.dispose();

let peer = null;
const entry = join(values['peer-dir'] ?? root, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
if (existsSync(entry)) {
  const { getLlama } = await import(pathToFileURL(entry).href);
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const m = await llama.loadModel({ modelPath: values.vocab, vocabOnly: true });
  peer = measure((t) => m.tokenize(t, false));
  await m.dispose();
  await llama.dispose();
}

console.log(`vocab ${values.vocab}, 1 MiB texts, median of ${reps}`);
for (const k of ['english', 'mixed']) {
  const line = `${k.padEnd(8)} halfbyte ${ours[k].mbPerS} MB/s (${ours[k].tokens} tokens)`;
  console.log(
    peer
      ? `${line}  node-llama-cpp ${peer[k].mbPerS} MB/s (${peer[k].tokens} tokens)  ratio ${(ours[k].mbPerS / peer[k].mbPerS).toFixed(2)}x` +
          (ours[k].tokens === peer[k].tokens ? '' : '  TOKEN COUNTS DIFFER')
      : line,
  );
}
console.log(JSON.stringify({ vocab: values.vocab, ours, peer }));
