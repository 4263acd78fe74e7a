#!/usr/bin/env node
// Prefill and generation speed of halfbyte through its Node API, and of node-llama-cpp on the
// same file in the same invocation when it is installed (npm i --no-save -E node-llama-cpp@3.21.1),
// so the ratio comes from one run on one machine.
//
//   npm run bench -- --model FILE [--threads 2] [--prompt 128] [--gen 64] [--reps 5] [--no-peer]
//
// Method (the same as ../shared/bench/peer-bench.mjs): prefill = evaluate PROMPT tokens in a
// fresh context; generation = GEN greedy tokens from a 1-token prompt. The two engines alternate
// repetition by repetition (the peer in its own process, bench/peer.mjs), so drift of a shared
// machine hits both alike. Reported: min/median/max tokens/s, and the memory bandwidth generation
// implies (bytes of weights read per token x tok/s) next to the machine's read bandwidth,
// measured in the same run (measureReadBandwidth, same thread count, in a child process so its
// buffer does not count in halfbyte's peak RSS) before and after the repetitions.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
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
const api = join(root, 'dist/esm/index.js');
const { load, getCpuInfo, readGgufInfo } = await import(api);

function readBandwidth() {
  const code = `const { measureReadBandwidth } = await import(${JSON.stringify(pathToFileURL(api).href)});
console.log(JSON.stringify(await measureReadBandwidth({ threads: ${threads}, passes: 5 })));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()).medianGBps;
}

// halfbyte in this process: load once, then one repetition per call.
async function startHalfbyte() {
  const t0 = performance.now();
  const model = await load(values.model, { threads });
  const loadMs = performance.now() - t0;
  const tokens = Array.from({ length: nPrompt }, (_, i) => 100 + ((i * 7919) % Math.min(20000, model.info.vocabSize - 100)));
  return {
    name: 'halfbyte',
    isa: getCpuInfo().activeIsa,
    loadMs: Math.round(loadMs),
    async rep() {
      let t = performance.now();
      await model.evaluate(tokens);
      const pp = nPrompt / ((performance.now() - t) / 1000);
      let n = 0;
      t = performance.now();
      for await (const _ of model.generate([tokens[0]], { temperature: 0, maxTokens: nGen })) if (++n >= nGen) break;
      return { pp, tg: n / ((performance.now() - t) / 1000) };
    },
    async finish() {
      const peakRssMb = rssMb();
      model.dispose();
      return peakRssMb;
    },
  };
}

// node-llama-cpp in a child process (bench/peer.mjs), one repetition per "rep" line.
async function startPeer() {
  const entry = join(values['peer-dir'] ?? root, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  if (!existsSync(entry)) return null;
  const child = spawn(process.execPath, [join(root, 'bench', 'peer.mjs'), values.model, String(nPrompt), String(nGen), String(threads)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, HALFBYTE_PEER_ENTRY: entry },
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    for (;;) {
      const { value, done } = await lines.next();
      if (done) throw new Error('the peer process exited early');
      if (value.startsWith('{')) return JSON.parse(value);
    }
  };
  await next(); // { ready: true }
  return {
    name: 'node-llama-cpp',
    async rep() {
      child.stdin.write('rep\n');
      return next();
    },
    async finish() {
      child.stdin.write('quit\n');
      const { peakRssMb } = await next();
      // Do not wait for the peer's teardown.
      child.stdin.end();
      child.unref();
      return peakRssMb;
    },
  };
}

const fileBytes = statSync(values.model).size;
// Generation reads every tensor once per token except the token embedding table, of which it
// reads one row (unless the output matrix is tied to it), and the experts of a mixture of
// experts, of which it reads the used ones: the active bytes.
const { tensors, metadata } = await readGgufInfo(values.model);
const tied = !tensors.some((t) => t.name === 'output.weight');
const archName = metadata['general.architecture'];
const nExpert = Number(metadata[`${archName}.expert_count`] ?? 0);
const nUsed = Number(metadata[`${archName}.expert_used_count`] ?? 0);
const activeShare = (t) => (nExpert > 0 && t.name.endsWith('_exps.weight') ? nUsed / nExpert : 1);
const bytesPerToken = tensors.reduce((sum, t) => sum + (t.name === 'token_embd.weight' && !tied ? 0 : t.bytes * activeShare(t)), 0);

const bwBefore = readBandwidth();
const engines = [];
if (!values['peer-only']) engines.push(await startHalfbyte());
if (!values['no-peer']) {
  const peer = await startPeer();
  if (peer) engines.push(peer);
}
const samples = engines.map(() => ({ pp: [], tg: [] }));
for (let r = 0; r < reps; r++) {
  for (const [i, e] of engines.entries()) {
    const { pp, tg } = await e.rep();
    samples[i].pp.push(pp);
    samples[i].tg.push(tg);
  }
}
const results = [];
for (const [i, e] of engines.entries()) {
  const peakRssMb = await e.finish();
  results.push({ name: e.name, ...(e.isa ? { isa: e.isa, loadMs: e.loadMs } : {}), pp: stats(samples[i].pp), tg: stats(samples[i].tg), peakRssMb });
}
const bwAfter = readBandwidth();
const readGBps = Math.max(bwBefore, bwAfter);

console.log(`model ${values.model} (${(fileBytes / 2 ** 20).toFixed(0)} MiB), threads ${threads}, prompt ${nPrompt}, gen ${nGen}, reps ${reps}`);
console.log(
  `read bandwidth ${readGBps.toFixed(1)} GB/s (${threads} threads; medians ${bwBefore.toFixed(1)} before and ` +
    `${bwAfter.toFixed(1)} after the repetitions); weights read per token ${(bytesPerToken / 2 ** 20).toFixed(0)} MiB`,
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
    readGBps: { before: +bwBefore.toFixed(2), after: +bwAfter.toFixed(2) },
    results,
  }),
);
