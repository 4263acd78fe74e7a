// node-llama-cpp's side of bench/grammar.mjs: the same prompt, generation with and without its
// JSON-schema grammar, driven over stdin ("plain" / "json" lines -> one JSON line { tg, tokens }).
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const nlc = await import(pathToFileURL(process.env.HALFBYTE_PEER_ENTRY).href);
const [path, tg = '64', th = '2', schemaJson] = process.argv.slice(2);
const llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const model = await llama.loadModel({ modelPath: path });
const ctx = await model.createContext({ contextSize: 1024, batchSize: 512, threads: +th, sequences: 1 });
const grammar = await llama.createGrammarForJsonSchema(JSON.parse(schemaJson));
const prompt = model.tokenize('Once upon a time');

async function rep(constrained) {
  const seq = ctx.getSequence();
  const grammarEvaluationState = constrained ? new nlc.LlamaGrammarEvaluationState({ model, grammar }) : undefined;
  let n = 0;
  const t0 = performance.now();
  for await (const _ of seq.evaluate(prompt, { temperature: 0.8, seed: 1, grammarEvaluationState })) if (++n >= +tg) break;
  const s = (performance.now() - t0) / 1000;
  seq.dispose();
  return { tg: n / s, tokens: n };
}

console.log(JSON.stringify({ ready: true }));
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'plain' || line === 'json') console.log(JSON.stringify(await rep(line === 'json')));
  else break;
}
process.exit(0);
