#!/usr/bin/env node
// Regenerates the llama.cpp reference of a multiple-choice task file: which choice
// `llama-perplexity --multiple-choice` picks for every item, and its accuracy.
//   node scripts/mc-llama-reference.mjs --perplexity PATH/llama-perplexity --model MODEL.gguf \
//     --tasks TASKS.jsonl --out REF.json
// llama-perplexity prints only the running accuracy after each task, so the script runs it once
// per choice index K with every task's label at K (scripts/mc-to-llama-binary.mjs --label-at K):
// a task counted right in run K is one where llama.cpp picked K. One more run with the true labels
// gives its "Final result".
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    perplexity: { type: 'string' },
    model: { type: 'string' },
    tasks: { type: 'string' },
    out: { type: 'string' },
    ctx: { type: 'string', default: '512' },
  },
});
if (!values.perplexity || !values.model || !values.tasks || !values.out) {
  console.error('usage: node scripts/mc-llama-reference.mjs --perplexity BIN --model MODEL --tasks TASKS.jsonl --out REF.json [--ctx 512]');
  process.exit(2);
}
const convert = fileURLToPath(new URL('./mc-to-llama-binary.mjs', import.meta.url));
const items = readFileSync(values.tasks, 'utf8')
  .split('\n')
  .filter((l) => l.trim() && !l.trim().startsWith('//'))
  .map((l) => JSON.parse(l))
  .filter((it) => it.kind === 'multiple-choice' && (it.split ?? 'test') === 'test');
const maxChoices = Math.max(...items.map((it) => it.choices.length));
const dir = mkdtempSync(join(tmpdir(), 'mc-ref-'));

/** Per task: counted right or not, from the running accuracy lines. */
function run(labelAt) {
  const bin = join(dir, `k${labelAt ?? 'true'}.bin`);
  execFileSync(process.execPath, [convert, values.tasks, bin, ...(labelAt === undefined ? [] : ['--label-at', String(labelAt)])], { stdio: 'ignore' });
  const r = spawnSync(values.perplexity, ['-m', values.model, '-f', bin, '--multiple-choice', '-c', values.ctx, '-t', '1'], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`llama-perplexity failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const out = r.stdout + '\n' + r.stderr;
  const right = [];
  let prev = 0;
  let final;
  for (const line of out.split('\n')) {
    const m = /^(\d+)\t([\d.]+)$/.exec(line.trim());
    if (m) {
      const n = Number(m[1]);
      const correct = Math.round((Number(m[2]) * n) / 100);
      right.push(correct > prev);
      prev = correct;
    }
    const f = /Final result: ([\d.]+)/.exec(line);
    if (f) final = Number(f[1]);
  }
  if (right.length !== items.length) throw new Error(`llama-perplexity reported ${right.length} tasks, expected ${items.length}`);
  return { right, final };
}

function commit() {
  try {
    return execFileSync('git', ['-C', join(values.perplexity, '..'), 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

const picks = new Array(items.length).fill(-1);
for (let k = 0; k < maxChoices; k++) {
  const { right } = run(k);
  right.forEach((r, i) => {
    if (r) {
      if (picks[i] !== -1) throw new Error(`task ${i} picked twice`);
      picks[i] = k;
    }
  });
}
if (picks.includes(-1)) throw new Error(`no pick for task ${picks.indexOf(-1)}`);
const truth = run(undefined);
const correct = picks.filter((p, i) => p === items[i].answer).length;
writeFileSync(
  values.out,
  JSON.stringify(
    {
      tool: 'llama-perplexity --multiple-choice',
      llamaCppCommit: commit(),
      model: basename(values.model),
      tasks: basename(values.tasks),
      ctx: Number(values.ctx),
      finalResult: truth.final,
      accuracy: correct / items.length,
      ids: items.map((it) => it.id),
      picks,
    },
    null,
    1,
  ) + '\n',
);
rmSync(dir, { recursive: true });
console.error(`${items.length} tasks, accuracy ${correct}/${items.length}, llama-perplexity final ${truth.final}`);
