#!/usr/bin/env node
// Prefill and generation speed of halfbyte through its Node API, and of node-llama-cpp on the
// same file in the same invocation when it is installed (npm i --no-save -E node-llama-cpp@3.21.1),
// so the ratio comes from one run on one machine.
//
//   npm run bench -- --model FILE [--threads 2] [--prompt 128] [--gen 64] [--reps 5] [--no-peer]
//                    [--context-fill N] [--load [--pack-cache DIR]]
//
// Method (the same as ../shared/bench/peer-bench.mjs): prefill = evaluate PROMPT tokens in a
// fresh context; generation = GEN greedy tokens from a 1-token prompt. With --context-fill N,
// generation also runs after N tokens already in the cache (timed from its first token, so the
// N-token prefill does not count), next to the empty-cache rate. --load instead times load() to
// the first generated token, in a fresh process per repetition (warm page cache: the file is
// read once before), packing and context creation included, library start-up not. The two engines alternate
// repetition by repetition (the peer in its own process, bench/peer.mjs), so drift of a shared
// machine hits both alike. Reported: min/median/max tokens/s, and the memory bandwidth generation
// implies (bytes of weights read per token x tok/s) next to the machine's read bandwidth,
// measured in the same run (measureReadBandwidth, same thread count, in a child process so its
// buffer does not count in halfbyte's peak RSS) before and after the repetitions.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const usage =
  'usage: npm run bench -- --model FILE [--threads 2] [--prompt 128] [--gen 64] [--reps 5] [--context-fill N]\n' +
  '                        [--load [--pack-cache DIR]] [--no-peer | --peer-only] [--peer-dir DIR]';
let parsed;
try {
  parsed = parseArgs({
    options: {
      model: { type: 'string' },
      threads: { type: 'string', default: '2' },
      prompt: { type: 'string', default: '128' },
      gen: { type: 'string', default: '64' },
      reps: { type: 'string', default: '5' },
      'context-fill': { type: 'string', default: '0' },
      load: { type: 'boolean', default: false },
      // With --load: halfbyte loads with packCache: DIR (one untimed load writes the file first).
      'pack-cache': { type: 'string' },
      'no-peer': { type: 'boolean', default: false },
      'peer-only': { type: 'boolean', default: false },
      // A folder where node-llama-cpp is installed, if not in this project's node_modules.
      'peer-dir': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
} catch (err) {
  console.error(`${err.message}\n${usage}`);
  process.exit(2);
}
const { values } = parsed;
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (!values.model) {
  console.error(usage);
  process.exit(2);
}
const nPrompt = Number(values.prompt);
const nGen = Number(values.gen);
const threads = Number(values.threads);
const reps = Number(values.reps);
const fill = Number(values['context-fill']);
// Room for the fill, the generation and the prompt.
const contextSize = Math.max(1024, fill + nGen + 16, nPrompt + 16);
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
  const model = await load(values.model, { threads, contextSize });
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
      const tg = n / ((performance.now() - t) / 1000);
      if (!fill) return { pp, tg };
      // GEN tokens after FILL in the cache: from the first generated token to the last.
      const prompt = Array.from({ length: fill }, (_, i) => tokens[i % tokens.length]);
      let first = 0;
      n = 0;
      for await (const _ of model.generate(prompt, { temperature: 0, maxTokens: nGen + 1 })) {
        if (n++ === 0) first = performance.now();
        if (n > nGen) break;
      }
      return { pp, tg, tgFill: nGen / ((performance.now() - first) / 1000) };
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
  const child = spawn(process.execPath, [join(root, 'bench', 'peer.mjs'), values.model, String(nPrompt), String(nGen), String(threads), String(fill), String(contextSize)], {
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

// --load: load() to the first generated token, each repetition in a fresh process (the
// engines alternate); the library's own start-up (import, getLlama) is not counted.
if (values.load) {
  execFileSync('cat', [values.model], { stdio: ['ignore', 'ignore', 'inherit'] }); // warm the page cache
  const peerEntry = join(values['peer-dir'] ?? root, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  const codes = {
    halfbyte: `const { load } = await import(${JSON.stringify(pathToFileURL(api).href)});
const t0 = performance.now();
const model = await load(${JSON.stringify(values.model)}, { threads: ${threads}${values['pack-cache'] ? `, packCache: ${JSON.stringify(values['pack-cache'])}` : ''} });
for await (const _ of model.generate([100], { temperature: 0, maxTokens: 1 })) break;
if (process.env.HALFBYTE_BENCH_SAY_CACHE) console.error(model.info.packCache);
console.log(JSON.stringify({ ms: performance.now() - t0 }));
process.exit(0);`,
    'node-llama-cpp': `const { getLlama } = await import(${JSON.stringify(pathToFileURL(peerEntry).href)});
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const t0 = performance.now();
const model = await llama.loadModel({ modelPath: ${JSON.stringify(values.model)} });
const ctx = await model.createContext({ contextSize: 1024, batchSize: 512, threads: ${threads}, sequences: 1 });
for await (const _ of ctx.getSequence().evaluate([100], { temperature: 0 })) break;
console.log(JSON.stringify({ ms: performance.now() - t0 }));
process.exit(0);`,
  };
  const names = ['halfbyte', ...(!values['no-peer'] && existsSync(peerEntry) ? ['node-llama-cpp'] : [])];
  const times = Object.fromEntries(names.map((n) => [n, []]));
  // Script files, not `node -e`: node-llama-cpp forks a test process that would inherit `-e`.
  const dir = mkdtempSync(join(tmpdir(), 'halfbyte-bench-'));
  for (const n of names) writeFileSync(join(dir, `${n}.mjs`), codes[n]);
  if (values['pack-cache'])
    execFileSync(process.execPath, [join(dir, 'halfbyte.mjs')], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, HALFBYTE_BENCH_SAY_CACHE: '1' } });
  for (let r = 0; r < reps; r++)
    for (const n of names) {
      const out = execFileSync(process.execPath, [join(dir, `${n}.mjs`)], { encoding: 'utf8' });
      times[n].push(JSON.parse(out.trim().split('\n').pop()).ms);
    }
  console.log(`model ${values.model} (${(fileBytes / 2 ** 20).toFixed(0)} MiB), threads ${threads}, reps ${reps}: load() to the first token, warm page cache` +
    (values['pack-cache'] ? `, halfbyte with packCache ${values['pack-cache']}` : ''));
  for (const n of names) {
    const st = stats(times[n]);
    console.log(`${n.padEnd(15)} ${st.median} ms (min ${st.min}, max ${st.max})`);
  }
  if (names.length === 2)
    console.log(`ratio halfbyte/node-llama-cpp: ${(stats(times.halfbyte).median / stats(times['node-llama-cpp']).median).toFixed(2)}x the time`);
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ model: values.model, fileBytes, threads, reps, load: Object.fromEntries(names.map((n) => [n, stats(times[n])])) }));
  process.exit(0);
}

const bwBefore = readBandwidth();
const engines = [];
if (!values['peer-only']) engines.push(await startHalfbyte());
if (!values['no-peer']) {
  const peer = await startPeer();
  if (peer) engines.push(peer);
}
const samples = engines.map(() => ({ pp: [], tg: [], tgFill: [] }));
for (let r = 0; r < reps; r++) {
  for (const [i, e] of engines.entries()) {
    const { pp, tg, tgFill } = await e.rep();
    samples[i].pp.push(pp);
    samples[i].tg.push(tg);
    if (tgFill) samples[i].tgFill.push(tgFill);
  }
}
const results = [];
for (const [i, e] of engines.entries()) {
  const peakRssMb = await e.finish();
  results.push({ name: e.name, ...(e.isa ? { isa: e.isa, loadMs: e.loadMs } : {}), pp: stats(samples[i].pp), tg: stats(samples[i].tg),
    ...(fill ? { tgFill: stats(samples[i].tgFill) } : {}), peakRssMb });
}
const bwAfter = readBandwidth();
const readGBps = Math.max(bwBefore, bwAfter);

console.log(`model ${values.model} (${(fileBytes / 2 ** 20).toFixed(0)} MiB), threads ${threads}, prompt ${nPrompt}, gen ${nGen}, reps ${reps}` +
  (fill ? `, context fill ${fill}` : ''));
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
  if (fill)
    console.log(`${''.padEnd(15)} generation after ${fill} tokens ${r.tgFill.median} tok/s (min ${r.tgFill.min}, max ${r.tgFill.max}): ` +
      `${(r.tg.median / r.tgFill.median).toFixed(2)}x the time per token of an empty cache`);
}
if (results.length === 2) {
  const [a, b] = results;
  console.log(`ratio halfbyte/node-llama-cpp: prefill ${(a.pp.median / b.pp.median).toFixed(2)}x, generation ${(a.tg.median / b.tg.median).toFixed(2)}x` +
    (fill ? `, generation after ${fill} tokens ${(a.tgFill.median / b.tgFill.median).toFixed(2)}x` : ''));
}
console.log(
  JSON.stringify({
    model: values.model,
    fileBytes,
    bytesPerToken,
    threads,
    nPrompt,
    nGen,
    fill,
    reps,
    readGBps: { before: +bwBefore.toFixed(2), after: +bwAfter.toFixed(2) },
    results,
  }),
);
