#!/usr/bin/env node
// Prefill and generation speed of halfbyte through its Node API, and of node-llama-cpp on the
// same file in the same invocation when it is installed (npm i --no-save -E node-llama-cpp@3.21.1),
// so the ratio comes from one run on one machine.
//
//   npm run bench -- --model FILE [--threads 2] [--prompt 128] [--gen 64] [--reps 5] [--no-peer]
//
// Method (the same as ../shared/bench/peer-bench.mjs): prefill = evaluate PROMPT tokens in a
// fresh context; generation = GEN greedy tokens from a 1-token prompt. Reported: min/median/max
// tokens/s, and the memory bandwidth generation implies (bytes of weights read per token x tok/s)
// next to the machine's read bandwidth, measured in the same run (measureReadBandwidth, same
// thread count) because on shared machines it drifts from one hour to the next.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    threads: { type: 'string', default: '2' },
    prompt: { type: 'string', default: '128' },
    gen: { type: 'string', default: '64' },
    reps: { type: 'string', default: '5' },
    'no-peer': { type: 'boolean', default: false },
    'peer-only': { type: 'boolean', default: false },
    // A folder where node-llama-cpp is installed, if not in this project's node_modules.
    'peer-dir': { type: 'string' },
  },
});
if (!values.model) {
  console.error('usage: npm run bench -- --model FILE [--threads N] [--prompt 128] [--gen 64] [--reps 5] [--no-peer]');
  process.exit(2);
}
const nPrompt = Number(values.prompt);
const nGen = Number(values.gen);
const threads = Number(values.threads);
const reps = Number(values.reps);
const stats = (a) => {
  const s = a.slice().sort((x, y) => x - y);
  return { min: +s[0].toFixed(2), median: +s[s.length >> 1].toFixed(2), max: +s[s.length - 1].toFixed(2) };
};
// Peak resident set size of this process (maxRSS is in KiB).
const rssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

async function benchHalfbyte() {
  const { load, getCpuInfo } = await import(join(root, 'dist/esm/index.js'));
  const t0 = performance.now();
  const model = await load(values.model, { threads });
  const loadMs = performance.now() - t0;
  const pp = [];
  const tg = [];
  const tokens = Array.from({ length: nPrompt }, (_, i) => 100 + ((i * 7919) % Math.min(20000, model.info.vocabSize - 100)));
  for (let r = 0; r < reps; r++) {
    let t = performance.now();
    await model.evaluate(tokens);
    pp.push(nPrompt / ((performance.now() - t) / 1000));
    let n = 0;
    t = performance.now();
    for await (const _ of model.generate([tokens[0]], { temperature: 0, maxTokens: nGen })) if (++n >= nGen) break;
    tg.push(n / ((performance.now() - t) / 1000));
  }
  const info = model.info;
  model.dispose();
  return { name: 'halfbyte', isa: getCpuInfo().activeIsa, loadMs: Math.round(loadMs), pp: stats(pp), tg: stats(tg), peakRssMb: rssMb(), info };
}

function benchPeer() {
  const entry = join(values['peer-dir'] ?? root, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  if (!existsSync(entry)) return null;
  const script = join(root, 'bench', 'peer.mjs');
  const out = execFileSync(process.execPath, [script, values.model, String(nPrompt), String(nGen), String(threads), String(reps)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, HALFBYTE_PEER_ENTRY: entry },
  });
  const r = JSON.parse(out.trim().split('\n').pop());
  return { name: 'node-llama-cpp', pp: stats(r.pp), tg: stats(r.tg), peakRssMb: r.peakRssMb };
}

const fileBytes = statSync(values.model).size;
const { measureReadBandwidth, readGgufInfo } = await import(join(root, 'dist/esm/index.js'));
// Generation reads every tensor once per token except the token embedding table, of which it
// reads one row (unless the output matrix is tied to it).
const { tensors } = await readGgufInfo(values.model);
const tied = !tensors.some((t) => t.name === 'output.weight');
const bytesPerToken = tensors.reduce((sum, t) => sum + (t.name === 'token_embd.weight' && !tied ? 0 : t.bytes), 0);
const results = [];
if (!values['peer-only']) results.push(await benchHalfbyte());
// After halfbyte's run, so its buffer does not count in halfbyte's peak RSS; before the peer's.
const bw = await measureReadBandwidth({ threads, passes: 5 });
const peer = values['no-peer'] ? null : benchPeer();
if (peer) results.push(peer);
const bwAfter = await measureReadBandwidth({ threads, passes: 5 });
const readGBps = Math.max(bw.medianGBps, bwAfter.medianGBps);

console.log(`model ${values.model} (${(fileBytes / 2 ** 20).toFixed(0)} MiB), threads ${threads}, prompt ${nPrompt}, gen ${nGen}, reps ${reps}`);
console.log(
  `read bandwidth ${readGBps.toFixed(1)} GB/s (${threads} threads, medians ${bw.medianGBps.toFixed(1)} before and ` +
    `${bwAfter.medianGBps.toFixed(1)} after the peer); weights read per token ${(bytesPerToken / 2 ** 20).toFixed(0)} MiB`,
);
for (const r of results) {
  r.tgGBps = +((r.tg.median * bytesPerToken) / 1e9).toFixed(2);
  console.log(
    `${r.name.padEnd(15)} prefill ${r.pp.median} tok/s (min ${r.pp.min}, max ${r.pp.max})  ` +
      `generation ${r.tg.median} tok/s (min ${r.tg.min}, max ${r.tg.max}) ~ ${r.tgGBps.toFixed(1)} GB/s ` +
      `(${Math.round((100 * r.tgGBps) / readGBps)}% of read bandwidth)  peak RSS ${r.peakRssMb} MB` +
      (r.isa ? `  [${r.isa}]` : ''),
  );
}
if (results.length === 2) {
  const [a, b] = results;
  console.log(`ratio halfbyte/node-llama-cpp: prefill ${(a.pp.median / b.pp.median).toFixed(2)}x, generation ${(a.tg.median / b.tg.median).toFixed(2)}x`);
}
console.log(
  JSON.stringify({
    model: values.model,
    fileBytes,
    bytesPerToken,
    threads,
    nPrompt,
    nGen,
    reps,
    readGBps: { before: +bw.medianGBps.toFixed(2), after: +bwAfter.medianGBps.toFixed(2) },
    results: results.map(({ info, ...r }) => r),
  }),
);
