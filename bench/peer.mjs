// node-llama-cpp on the same file, the same way as ../shared/bench/peer-bench.mjs, in its own
// process so the two engines never share a heap. bench.mjs drives it over stdin so the engines'
// repetitions alternate: each line "rep" runs one prefill + generation and prints one JSON line
// { pp, tg } (tokens/s); "quit" (or the end of stdin) prints { peakRssMb } and exits. It prints { ready: true } once the
// model is loaded.
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const { getLlama } = await import(pathToFileURL(process.env.HALFBYTE_PEER_ENTRY).href);

const [path, pp = '128', tg = '64', th = '2', fillArg = '0', ctxArg = '1024'] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const model = await llama.loadModel({ modelPath: path });
const nPrompt = +pp;
const nGen = +tg;
const fill = +fillArg;
const ctx = await model.createContext({ contextSize: +ctxArg, batchSize: 512, threads: +th, sequences: 1 });
const tokens = Array.from({ length: nPrompt }, (_, i) => 100 + ((i * 7919) % 20000));

async function rep() {
  const seq = ctx.getSequence();
  let t0 = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(tokens);
  const ppRate = nPrompt / ((performance.now() - t0) / 1000);
  let n = 0;
  t0 = performance.now();
  for await (const _ of seq.evaluate([tokens[0]], { temperature: 0 })) if (++n >= nGen) break;
  const tgRate = nGen / ((performance.now() - t0) / 1000);
  seq.dispose();
  if (!fill) return { pp: ppRate, tg: tgRate };
  // GEN tokens after FILL in the cache, from the first generated token to the last.
  const filled = ctx.getSequence();
  const prompt = Array.from({ length: fill }, (_, i) => tokens[i % tokens.length]);
  let first = 0;
  n = 0;
  for await (const _ of filled.evaluate(prompt, { temperature: 0 })) {
    if (n++ === 0) first = performance.now();
    if (n > nGen) break;
  }
  const tgFill = nGen / ((performance.now() - first) / 1000);
  filled.dispose();
  return { pp: ppRate, tg: tgRate, tgFill };
}

console.log(JSON.stringify({ ready: true }));
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'rep') console.log(JSON.stringify(await rep()));
  else break;
}
console.log(JSON.stringify({ peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
// Exit without disposing: the measurements are done and node-llama-cpp's teardown can take long.
process.exit(0);
