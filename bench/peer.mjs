// node-llama-cpp on the same file, the same way as ../shared/bench/peer-bench.mjs (run in its own
// process by bench.mjs so the two engines never share a heap). Prints one JSON line.
import { pathToFileURL } from 'node:url';

const { getLlama } = await import(pathToFileURL(process.env.HALFBYTE_PEER_ENTRY).href);

const [path, pp = '128', tg = '64', th = '2', reps = '3'] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const model = await llama.loadModel({ modelPath: path });
const nPrompt = +pp;
const nGen = +tg;
const ctx = await model.createContext({ contextSize: 1024, batchSize: 512, threads: +th, sequences: 1 });
const out = { pp: [], tg: [] };
for (let r = 0; r < +reps; r++) {
  const seq = ctx.getSequence();
  const tokens = Array.from({ length: nPrompt }, (_, i) => 100 + ((i * 7919) % 20000));
  let t0 = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(tokens);
  out.pp.push(nPrompt / ((performance.now() - t0) / 1000));
  let n = 0;
  t0 = performance.now();
  for await (const _ of seq.evaluate([tokens[0]], { temperature: 0 })) if (++n >= nGen) break;
  out.tg.push(nGen / ((performance.now() - t0) / 1000));
  seq.dispose();
}
out.peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
console.log(JSON.stringify(out));
await ctx.dispose();
await model.dispose();
await llama.dispose();
