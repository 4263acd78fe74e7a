// Fuzzing: builds the libFuzzer targets (native/fuzz/, clang with ASan+UBSan), makes seed corpora
// from the fixtures, replays every input that ever crashed (test/fuzz-regressions/<target>/),
// then fuzzes each target for a bounded time; also fuzzes chat-template rendering (JavaScript,
// @huggingface/jinja) in-process. A new crash is copied into test/fuzz-regressions/ and fails.
//
//   npm run fuzz -- [--seconds N] [--runs N] [--target NAME]... [--jobs N] [--build-only]
//
// --runs N stops each target after N executions (or --seconds, whichever comes first).
//
// The build (build-fuzz/, clang, every core file with coverage + ASan + UBSan) also makes the
// native test runner and the addon with the same sanitizers, for scripts/test-sanitizers.sh.
//
// Needs: clang-14 and libclang-rt-14-dev (Debian), a built tree (npm ci) for the chat target.
// Prints executions per target; exits 1 on any finding.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = join(root, 'build-fuzz');
const fixtures = join(root, 'test', 'fixtures');
const regressions = join(root, 'test', 'fuzz-regressions');

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const runs = Number(opt('--runs', '0'));
const seconds = Number(opt('--seconds', runs > 0 ? '86400' : '30'));
if (!(runs >= 0)) throw new Error(`Expected a non-negative --runs but received ${opt('--runs')}`);
const jobs = Number(opt('--jobs', String(Math.max(1, availableParallelism()))));
const wanted = args.flatMap((a, i) => (args[i - 1] === '--target' ? [a] : []));
if (!(seconds > 0)) throw new Error(`Expected a positive --seconds but received ${opt('--seconds')}`);

// name: [max input length, seeds()]
const nativeTargets = {
  gguf: [1 << 15, seedsGguf],
  model: [1 << 19, seedsModel],
  tokenizer: [4096, seedsTokenizer],
  grammar: [4096, seedsGrammar],
  state: [1 << 16, seedsState],
};
const allTargets = [...Object.keys(nativeTargets), 'chat-template'];
for (const t of wanted) if (!allTargets.includes(t)) throw new Error(`Expected a target of ${allTargets.join(', ')} but received ${t}`);
const targets = wanted.length ? wanted : allTargets;

function sh(cmd, argv, extra = {}) {
  return execFileSync(cmd, argv, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...extra });
}

function buildTargets() {
  const cxx = ['clang++-14', 'clang++'].find((c) => {
    try {
      sh('sh', ['-c', `command -v ${c}`]);
      return true;
    } catch {
      return false;
    }
  });
  if (!cxx) throw new Error('fuzz: no clang++ (apt-get install clang-14 libclang-rt-14-dev)');
  sh('cmake', ['-S', root, '-B', build, `-DCMAKE_CXX_COMPILER=${cxx}`, '-DHALFBYTE_FUZZ=ON', '-DHALFBYTE_TESTS=ON', '-DHALFBYTE_ADDON=ON',
    '-DCMAKE_BUILD_TYPE=RelWithDebInfo'], { stdio: ['ignore', 'ignore', 'inherit'] });
  sh('cmake', ['--build', build, '-j', String(Math.max(2, availableParallelism()))], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function fresh(dir) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

// Headers (the first 20 KB: metadata, the tensor table) of the micro models and of every fixture
// vocabulary: the reader is what this target fuzzes, so no tensor data to drag along.
function seedsGguf(dir) {
  const models = join(build, 'corpus-models');
  fresh(models);
  seedsModel(models);
  for (const [d, f] of [...readdirSync(models).map((f) => [models, f]), ...readdirSync(join(fixtures, 'tokenizer')).filter((n) => n.endsWith('.gguf')).map((f) => [join(fixtures, 'tokenizer'), f])])
    writeFileSync(join(dir, f), readFileSync(join(d, f)).subarray(0, 20_000));
}

// The micro model of every architecture (scripts/make-arch-fixture.mjs --micro), made once.
function seedsModel(dir) {
  const micro = join(build, 'micro');
  if (!existsSync(micro)) {
    mkdirSync(micro, { recursive: true });
    const names = sh(process.execPath, [join(root, 'scripts', 'make-arch-fixture.mjs'), '--list']).trim().split('\n');
    for (const n of names) sh(process.execPath, [join(root, 'scripts', 'make-arch-fixture.mjs'), n, join(micro, `${n}.gguf`), '--micro']);
  }
  for (const f of readdirSync(micro)) copyFileSync(join(micro, f), join(dir, f));
}

function seedsTokenizer(dir) {
  let i = 0;
  for (const f of readdirSync(join(fixtures, 'tokenizer')).filter((n) => n.endsWith('.inp'))) {
    const text = readFileSync(join(fixtures, 'tokenizer', f));
    for (let at = 0; at < text.length && at < 1 << 15; at += 2000, i++)
      writeFileSync(join(dir, `t${i}`), Buffer.concat([Buffer.of(i & 0xff), text.subarray(at, at + 2000)]));
  }
}

function seedsGrammar(dir) {
  for (const f of readdirSync(join(fixtures, 'grammars')).filter((n) => n.endsWith('.gbnf')))
    copyFileSync(join(fixtures, 'grammars', f), join(dir, f));
}

function seedsState(dir) {
  sh(join(build, 'fuzz_state'), [], { env: { ...process.env, HALFBYTE_FIXTURES: fixtures, HALFBYTE_FUZZ_WRITE_SEED: join(dir, 'session.hbs') } });
}

// Runs one libFuzzer target; resolves { execs, findings }.
function runNative(name, seconds) {
  const [maxLen, seeds] = nativeTargets[name];
  const bin = join(build, `fuzz_${name}`);
  const corpus = fresh(join(build, 'corpus', name));
  seeds(corpus);
  const work = join(build, 'work', name);
  mkdirSync(work, { recursive: true });
  const artifacts = fresh(join(build, 'artifacts', name)) + '/';
  const env = { ...process.env, HALFBYTE_FIXTURES: fixtures, ASAN_OPTIONS: 'detect_leaks=1:allocator_may_return_null=1', UBSAN_OPTIONS: 'print_stacktrace=1' };

  // Every input that ever crashed: replayed first, each must now pass.
  const kept = join(regressions, name);
  if (existsSync(kept)) {
    const files = readdirSync(kept).map((f) => join(kept, f));
    if (files.length) {
      execFileSync(bin, [`-rss_limit_mb=4096`, ...files], { env, stdio: ['ignore', 'ignore', 'inherit'] });
      console.log(`fuzz ${name}: ${files.length} kept regression inputs pass`);
    }
  }

  const start = Date.now();
  return new Promise((resolve) => {
    const child = spawn(bin, [`-max_total_time=${seconds}`, ...(runs > 0 ? [`-runs=${runs}`] : []), '-timeout=10', '-rss_limit_mb=4096', '-malloc_limit_mb=2048',
      `-max_len=${maxLen}`, '-print_final_stats=1', `-artifact_prefix=${artifacts}`, work, corpus], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      if (err.length > 1 << 20) err = err.slice(-(1 << 19));
    });
    child.on('close', (code) => {
      const execs = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(err)?.[1] ?? 0);
      const findings = readdirSync(artifacts).filter((f) => /^(crash|leak|timeout|oom)-/.test(f));
      if (findings.length || code !== 0) {
        mkdirSync(kept, { recursive: true });
        for (const f of findings) copyFileSync(join(artifacts, f), join(kept, f));
        console.error(err.split('\n').filter((l) => /ERROR|SUMMARY|==\d+==|#\d+ 0x|runtime error|unregistered/.test(l)).slice(0, 60).join('\n'));
      }
      resolve({ name, execs, findings: findings.length + (code !== 0 && !findings.length ? 1 : 0), elapsed: (Date.now() - start) / 1000 });
    });
  });
}

// Chat templates are rendered in JavaScript by @huggingface/jinja: random mutations of the
// fixture templates must either render or throw HalfbyteError INVALID_CHAT_TEMPLATE, each within
// a time bound, and never reach the process.
async function runChatTemplate(seconds) {
  const { renderChatTemplate } = await import(join(root, 'dist', 'esm', 'chat.js'));
  const { HalfbyteError } = await import(join(root, 'dist', 'esm', 'errors.js'));
  const dir = join(fixtures, 'chat');
  const seeds = [dir, join(dir, 'templates')].flatMap((d) =>
    readdirSync(d).filter((f) => f.endsWith('.jinja')).map((f) => readFileSync(join(d, f), 'utf8')));
  const pieces = ['{{', '}}', '{%', '%}', '{#', '#}', ' if ', ' for ', ' endfor ', ' endif ', ' set ', 'messages', 'message',
    '[0]', "['content']", '.role', '|length', '|tojson', '|safe', ' in ', ' not ', ' loop.index ', 'raise_exception(', ')', '(',
    '"', "'", '~', '+', ' recursive ', ' macro ', ' call ', 'namespace(', '.__class__', 'constructor', 'process', 'globalThis', '\n'];
  let seed = 12345;
  const rand = (n) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const special = { bos: '<s>', eos: '</s>' };
  const messages = [{ role: 'system', content: 'S' }, { role: 'user', content: 'Hi {{ x }}' }, { role: 'assistant', content: 'Yo' }];
  let execs = 0;
  let findings = 0;
  const start = Date.now();
  const end = start + seconds * 1000;
  while (Date.now() < end && !(runs > 0 && execs >= runs)) {
    let t = seeds[rand(seeds.length)];
    for (let k = 1 + rand(4); k > 0; k--) {
      const at = rand(t.length + 1);
      const op = rand(3);
      if (op === 0) t = t.slice(0, at) + pieces[rand(pieces.length)] + t.slice(at);
      else if (op === 1) t = t.slice(0, at) + t.slice(at + 1 + rand(8));
      else {
        const from = rand(t.length + 1);
        t = t.slice(0, at) + t.slice(from, from + rand(40)) + t.slice(at);
      }
    }
    if (execs % 50 === 0) await new Promise((r) => setImmediate(r)); // let the native targets' output drain
    const t0 = Date.now();
    try {
      renderChatTemplate(t, messages, special, { addGenerationPrompt: rand(2) === 0 });
    } catch (e) {
      if (!(e instanceof HalfbyteError) || e.code !== 'INVALID_CHAT_TEMPLATE') {
        findings++;
        mkdirSync(join(regressions, 'chat-template'), { recursive: true });
        writeFileSync(join(regressions, 'chat-template', `crash-${execs}.jinja`), t);
        console.error(`fuzz chat-template: ${e && e.constructor && e.constructor.name} ${e && e.code}: ${e && e.message}`);
      }
    }
    if (Date.now() - t0 > 5000) {
      findings++;
      console.error(`fuzz chat-template: one rendering took ${Date.now() - t0} ms`);
    }
    execs++;
  }
  return { name: 'chat-template', execs, findings, elapsed: (Date.now() - start) / 1000 };
}

const natives = targets.filter((t) => t !== 'chat-template');
if (natives.length || args.includes('--build-only')) buildTargets();
if (args.includes('--build-only')) process.exit(0);
const results = [];
// Native targets run `jobs` at a time; the chat-template target runs in this process alongside.
const queue = [...natives];
const workers = Array.from({ length: Math.min(jobs, queue.length) }, async () => {
  while (queue.length) results.push(await runNative(queue.shift(), seconds));
});
if (targets.includes('chat-template')) {
  // Replay kept template findings first.
  const kept = join(regressions, 'chat-template');
  if (existsSync(kept)) {
    const { renderChatTemplate } = await import(join(root, 'dist', 'esm', 'chat.js'));
    for (const f of readdirSync(kept)) {
      try {
        renderChatTemplate(readFileSync(join(kept, f), 'utf8'), [{ role: 'user', content: 'x' }], { bos: '<s>', eos: '</s>' });
      } catch (e) {
        if (e.code !== 'INVALID_CHAT_TEMPLATE') throw e;
      }
    }
  }
  results.push(await runChatTemplate(seconds));
}
await Promise.all(workers);
for (const r of results) console.log(`fuzz ${r.name}: ${r.execs} executions in ${Math.round(r.elapsed)} s, ${r.findings} findings`);
if (results.some((r) => r.findings > 0)) process.exit(1);
