#!/usr/bin/env node
// Converts the multiple-choice items of a halfbyte JSONL task file to the binary task format of
// llama.cpp's `llama-perplexity --multiple-choice -f FILE` (read from its source as the spec:
// tools/perplexity/perplexity.cpp, multiple_choice_task::deserialize):
//   u32 n_tasks; u32 offset[n_tasks] (byte offset of each task in the file);
//   per task: string question; mc1: u32 n, n strings, i32 label[n] (1 = right); mc2: the same (unused, written empty)
// where a string is u32 length + bytes, all little-endian. llama-perplexity scores
// `question + " " + answer`, as halfbyte's multiple-choice does with the default template.
//   node scripts/mc-to-llama-binary.mjs TASKS.jsonl OUT.bin [--label-at K]
// --label-at K marks choice K as the right one in every task (so a run's per-task "correct"
// says whether llama.cpp picked choice K: one run per K recovers its pick for every item).
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { 'label-at': { type: 'string' } } });
if (positionals.length !== 2) {
  console.error('usage: node scripts/mc-to-llama-binary.mjs TASKS.jsonl OUT.bin [--label-at K]');
  process.exit(2);
}
const labelAt = values['label-at'] === undefined ? undefined : Number(values['label-at']);
const items = readFileSync(positionals[0], 'utf8')
  .split('\n')
  .filter((l) => l.trim() && !l.trim().startsWith('//'))
  .map((l) => JSON.parse(l))
  .filter((it) => it.kind === 'multiple-choice' && (it.split ?? 'test') === 'test');

const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const str = (s) => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([u32(b.length), b]);
};
const tasks = items.map((it) => {
  const labels = Buffer.alloc(4 * it.choices.length);
  it.choices.forEach((_, i) => labels.writeInt32LE(i === (labelAt ?? it.answer) ? 1 : 0, 4 * i));
  return Buffer.concat([str(it.context), u32(it.choices.length), ...it.choices.map(str), labels, u32(0)]);
});
let offset = 4 + 4 * tasks.length;
const offsets = tasks.map((t) => {
  const at = offset;
  offset += t.length;
  return u32(at);
});
writeFileSync(positionals[1], Buffer.concat([u32(tasks.length), ...offsets, ...tasks]));
console.error(`${tasks.length} tasks -> ${positionals[1]}`);
