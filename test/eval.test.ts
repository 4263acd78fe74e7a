// runEvaluation and `halfbyte eval`: multiple-choice parity with llama-perplexity, classification,
// generation and sql items end to end, task-file validation, few-shot choice, resume, determinism.
import Ajv2020 from 'ajv/dist/2020.js';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { evalItemSchema, HalfbyteError, load, parseTasks, reportKey, runEvaluation, type EvaluationReport } from '../lib/index.js';
import { SqlRunner } from '../lib/eval-sql.js';
import { chooseShots, fillTemplate, mulberry32, shotBlock } from '../lib/eval-tasks.js';
import { computeMetrics, labelGrammar, matchAnswer, normalizeAnswer, type EvalItemResult } from '../lib/eval.js';
import { fixtures, modelPath } from './helpers.js';

const model = await load(modelPath('stories260K.gguf'), { threads: 2 });
const mcText = readFileSync(join(fixtures, 'eval', 'stories-mc.jsonl'), 'utf8');
const mixedText = readFileSync(join(fixtures, 'eval', 'mixed.jsonl'), 'utf8');
const llamaRef = JSON.parse(readFileSync(join(fixtures, 'eval', 'stories-mc.llama-perplexity.json'), 'utf8')) as {
  ids: string[];
  picks: number[];
  accuracy: number;
  finalResult: number;
};
const mixed = parseTasks(mixedText);
const byId = (r: EvaluationReport, id: string) => r.results.find((x) => x.id === id)!;
const taskError = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(HalfbyteError);
    expect((err as HalfbyteError).code).toBe('INVALID_TASK');
    return (err as Error).message;
  }
  return 'no error';
};

describe('multiple-choice', () => {
  it("picks the same choice as llama-perplexity --multiple-choice on every one of 112 items, with the same accuracy", async () => {
    const report = await runEvaluation(model, mcText, { concurrency: 2 });
    expect(report.results.length).toBe(112);
    expect(report.results.map((r) => r.id)).toEqual(llamaRef.ids);
    expect(report.results.map((r) => r.mc!.predMean)).toEqual(llamaRef.picks);
    const m = report.metrics['stories-mc']!;
    expect(m.acc_mean).toBe(llamaRef.accuracy);
    expect(Number((100 * m.acc_mean!).toFixed(4))).toBe(llamaRef.finalResult);
    // The trained model does much better than chance (25%).
    expect(m.acc).toBeGreaterThan(0.8);
  });

  it('acc sums the log-probabilities of each choice as model.score does; acc_norm divides by UTF-8 bytes', async () => {
    const items = parseTasks(mcText).slice(0, 6);
    const report = await runEvaluation(model, items.map((p) => p.item), { concurrency: 1 });
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!.item as { context: string; choices: string[]; answer: number };
      const r = report.results[i]!;
      const ref = await model.score(it.context, it.choices.map((c) => ' ' + c));
      ref.forEach((s, c) => {
        expect(r.mc!.logprobs[c]).toBeCloseTo(s.logprob, 3);
        expect(r.mc!.tokens[c]).toBe(s.tokens.length);
      });
      const sums = ref.map((s) => s.logprob);
      const best = (xs: number[]) => xs.indexOf(Math.max(...xs));
      expect(r.mc!.pred).toBe(best(sums));
      expect(r.mc!.predNorm).toBe(best(sums.map((s, c) => s / Buffer.byteLength(it.choices[c]!))));
      expect(r.correct).toBe(r.mc!.pred === it.answer);
    }
  });
});

describe('few-shot multiple-choice', () => {
  it('prompts are the seeded examples + the item, scored as model.score of the whole prompt; the examples are evaluated once per lane', async () => {
    const lines = mcText.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const items = [...lines.slice(0, 4).map((it) => ({ ...it, split: 'train' })), ...lines.slice(4, 10)];
    const report = await runEvaluation(model, items, { shots: 3, seed: 5, concurrency: 2 });
    const parsed = parseTasks(items.map((it) => JSON.stringify(it)).join('\n'));
    const shots = chooseShots(parsed.filter((p) => p.split === 'train'), 3, 5, 'stories-mc');
    const block = shotBlock(shots, undefined);
    expect(block.split('\n\n').length).toBe(4);
    expect(report.results.map((r) => r.id)).toEqual(lines.slice(4, 10).map((it) => it.id));
    for (const [i, it] of lines.slice(4, 10).entries()) {
      const ref = await model.score(block + it.context, it.choices.map((c: string) => ' ' + c));
      ref.forEach((s, c) => expect(report.results[i]!.mc!.logprobs[c]).toBeCloseTo(s.logprob, 3));
    }
    // Each of the 2 lanes evaluated the block once; the 6 items found it in the cache.
    const blockTokens = model.tokenize(block).length;
    expect(report.timing.reusedTokens).toBeGreaterThanOrEqual(6 * (blockTokens - 1));
    const zero = await runEvaluation(model, items, { concurrency: 2 });
    expect(zero.timing.reusedTokens).toBe(6); // BOS only
    expect(report.timing.evaluatedTokens - zero.timing.evaluatedTokens).toBeLessThanOrEqual(2 * blockTokens + 6);
    // Another seed draws other examples, so other numbers.
    const other = await runEvaluation(model, items, { shots: 3, seed: 6 });
    expect(other.results[0]!.mc!.logprobs).not.toEqual(report.results[0]!.mc!.logprobs);
  });
});

describe('classification, generation and sql end to end', async () => {
  const report = await runEvaluation(model, mixedText, { maxTokens: 16 });

  it('classification by score: each label scored after the prompt; confusion matrix and per-class figures from the predictions', async () => {
    const items = mixed.filter((p) => p.task === 'animal-or-person' && p.split === 'test');
    const results = report.results.filter((r) => r.task === 'animal-or-person');
    expect(results.length).toBe(8);
    for (const [i, p] of items.entries()) {
      const it = p.item as { labels: string[]; answer: string };
      const prompt = fillTemplate(p.item.template!, p.item);
      const ref = await model.score(prompt, it.labels.map((l) => ' ' + l));
      results[i]!.labelLogprobs!.forEach((x, j) => expect(x).toBeCloseTo(ref[j]!.logprob, 3));
      const pred = ref[0]!.logprob >= ref[1]!.logprob ? 'animal' : 'person';
      expect(results[i]!.pred).toBe(pred);
    }
    const m = report.metrics['animal-or-person']!;
    expect(m.labels).toEqual(['animal', 'person']);
    const count = (a: string, p: string) => results.filter((r) => r.answer === a && r.pred === p).length;
    expect(m.confusion).toEqual([
      [count('animal', 'animal'), count('animal', 'person'), 0],
      [count('person', 'animal'), count('person', 'person'), 0],
    ]);
    expect(m.acc).toBe((count('animal', 'animal') + count('person', 'person')) / 8);
  });

  it('classification by generation under a grammar of the labels gives exactly one label, as model.generate with that grammar', async () => {
    const r = await runEvaluation(model, mixedText, { classificationMode: 'generate', limit: 8 });
    const items = mixed.filter((p) => p.task === 'animal-or-person' && p.split === 'test');
    for (const [i, p] of items.entries()) {
      let text = '';
      for await (const c of model.generate(fillTemplate(p.item.template!, p.item), { temperature: 0, grammar: labelGrammar(['animal', 'person']), maxTokens: 64 }))
        text += c.text;
      expect(r.results[i]!.output).toBe(text);
      expect(['animal', 'person']).toContain(r.results[i]!.pred);
      expect(r.results[i]!.mode).toBe('generate');
    }
  });

  it('generation: greedy output as model.generate gives it, scored by exact, normalized, regex and JSON match', async () => {
    for (const p of mixed.filter((x) => x.task === 'continue' && x.split === 'test')) {
      const it = p.item as { prompt: string; stop?: string[]; maxTokens?: number; grammar?: string; jsonSchema?: object; answers: string[]; match?: 'exact' };
      let text = '';
      for await (const c of model.generate(it.prompt, {
        temperature: 0,
        stop: it.stop ?? '\n',
        maxTokens: it.maxTokens ?? 16,
        grammar: it.grammar,
        jsonSchema: it.jsonSchema,
      }))
        text += c.text;
      const r = byId(report, p.id);
      expect(r.output).toBe(text);
      expect(r.correct).toBe(matchAnswer(it, text));
    }
    // The grammar item can only say meow or hello; the schema item only {"name":"Lily"} or {"name":"Tom"}.
    expect([' meow', ' hello']).toContain(byId(report, 'gen4').output);
    expect(['Lily', 'Tom']).toContain(JSON.parse(byId(report, 'gen3').output!).name);
  });

  it('sql: execution accuracy on an in-memory database; a wrong query and a failing one count as wrong, with the error recorded', () => {
    expect(byId(report, 'sql-right')).toMatchObject({ correct: true, output: ' SELECT name FROM pets WHERE age >= 3 ORDER BY age DESC' });
    expect(byId(report, 'sql-right').error).toBeUndefined();
    expect(byId(report, 'sql-wrong')).toMatchObject({ correct: false, output: ' SELECT name FROM pets' });
    expect(byId(report, 'sql-wrong').error).toBeUndefined();
    expect(byId(report, 'sql-fails')).toMatchObject({ correct: false, output: ' SELECT agee FROM pets' });
    expect(byId(report, 'sql-fails').error).toMatch(/no such column: agee/);
    // The tiny story model cannot write SQL: what it writes does not run.
    expect(byId(report, 'sql-free').correct).toBe(false);
    expect(report.metrics['pets-sql']).toMatchObject({ kind: 'sql', n: 4, acc: 0.25 });
    expect(report.metrics['pets-sql']!.errors).toBe(report.results.filter((r) => r.task === 'pets-sql' && r.error).length);
  });

  it('the report records the model fingerprint, options, version and seed; reruns and other concurrency give the same report', async () => {
    expect(report.model).toMatchObject({ file: 'stories260K.gguf', size: model.info.fileSize, architecture: 'llama' });
    expect(report.model.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(report.halfbyte).toBe(JSON.parse(readFileSync(join(fixtures, '..', '..', 'package.json'), 'utf8')).version);
    expect(report.options).toEqual({ shots: 0, limit: null, seed: 1, classificationMode: 'score', maxTokens: 16, contextSize: model.contextSize, sqlTimeout: 10_000 });
    expect(report.complete).toBe(true);
    const again = await runEvaluation(model, mixedText, { maxTokens: 16, concurrency: 1 });
    expect(reportKey(again)).toBe(reportKey(report));
    expect(JSON.stringify({ ...again, timing: 0 })).toBe(JSON.stringify({ ...report, timing: 0 }));
    const oneThread = await load(modelPath('stories260K.gguf'), { threads: 1 });
    try {
      expect(reportKey(await runEvaluation(oneThread, mixedText, { maxTokens: 16, concurrency: 3 }))).toBe(reportKey(report));
    } finally {
      oneThread.dispose();
    }
  });
});

describe('resume', () => {
  it('an aborted run, resumed from its partial report, gives the same report as an uninterrupted run', async () => {
    const full = await runEvaluation(model, mixedText, { maxTokens: 16, shots: 2 });
    const controller = new AbortController();
    const run = runEvaluation(model, mixedText, { maxTokens: 16, shots: 2, signal: controller.signal, concurrency: 2 });
    let seen = 0;
    await expect(
      (async () => {
        for await (const e of run) if (e.type === 'item' && ++seen === 5) controller.abort();
      })(),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    const partial = run.partialReport()!;
    expect(partial.complete).toBe(false);
    expect(partial.results.length).toBeGreaterThanOrEqual(5);
    expect(partial.results.length).toBeLessThan(full.results.length);
    const saved = JSON.parse(JSON.stringify(partial)) as EvaluationReport;
    const resumed = await runEvaluation(model, mixedText, { maxTokens: 16, shots: 2, resume: saved });
    expect(resumed.timing.resumed).toBe(partial.results.length);
    expect(resumed.timing.evaluated).toBe(full.results.length - partial.results.length);
    expect(reportKey(resumed)).toBe(reportKey(full));
  });

  it('a run with a limit, resumed without it, gives the report of the whole run', async () => {
    const first = await runEvaluation(model, mcText, { limit: 10 });
    const rest = await runEvaluation(model, mcText, { resume: first });
    expect(rest.timing.resumed).toBe(10);
    expect(reportKey(rest)).toBe(reportKey(await runEvaluation(model, mcText)));
  });

  it('refuses a report of other options or tasks', async () => {
    const r = await runEvaluation(model, mixedText, { limit: 2 });
    await expect(runEvaluation(model, mixedText, { limit: 2, seed: 7, resume: r })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // A query's time limit decides whether a slow query counts as wrong, so it is part of the options.
    await expect(runEvaluation(model, mixedText, { limit: 2, sqlTimeout: 500, resume: r })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(runEvaluation(model, mcText, { limit: 2, resume: r })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(() => runEvaluation(model, mixedText, { resume: { results: [] } as unknown as EvaluationReport })).toThrow(/halfbyte evaluation report/);
  });
});

describe('task files', () => {
  it('a malformed line gives INVALID_TASK naming the line and the field', () => {
    const good = mcText.split('\n')[0]!;
    expect(taskError(() => parseTasks(`${good}\n{"kind": "multiple-choice", "context": "x", "choices": ["a"`))).toMatch(/line 2 but received text that does not parse/);
    expect(taskError(() => parseTasks(`${good}\n\n{"kind":"multiple-choice","context":"x","choices":["a","b"],"answer":2}`, 'f.jsonl'))).toBe(
      'Expected a choice index below 2 for answer at f.jsonl line 3 but received 2',
    );
    expect(taskError(() => parseTasks('{"kind":"classification","text":"x","labels":["a","b"],"answer":"c"}'))).toMatch(/for answer at the task file line 1/);
    expect(taskError(() => parseTasks('{"kind":"generation","prompt":"x","answers":["a"],"stopp":"\\n"}'))).toMatch(/for "stopp" at the task file line 1/);
    expect(taskError(() => parseTasks('{"kind":"quiz"}'))).toMatch(/for kind at the task file line 1/);
    expect(taskError(() => parseTasks('{"kind":"sql","schema":"","question":"q"}'))).toMatch(/Expected a string for answer at the task file line 1 but received undefined/);
    expect(taskError(() => parseTasks('{"kind":"generation","prompt":"x","answers":["("],"match":"regex"}'))).toMatch(/for answers\[0\]/);
    expect(taskError(() => parseTasks('{"kind":"generation","prompt":"x","answers":["a"],"template":"{nope}"}'))).toMatch(/for template/);
    expect(taskError(() => parseTasks(`${good}\n${good}`))).toMatch(/^Expected an id not used before \(line 1 has it\) for id at the task file line 2/);
    expect(() => runEvaluation(model, `${good}\n{"kind":"generation","task":"stories-mc","prompt":"x","answers":["a"]}`)).toThrow(/one kind per task/);
  });

  it('options are checked: unknown names, bad values, bad tasks; an item error names its line', async () => {
    expect(() => runEvaluation(model, mcText, { shot: 1 } as never)).toThrow(/Expected a known option in evaluation options but received "shot": did you mean "shots"\?/);
    expect(() => runEvaluation(model, mcText, { concurrency: 0 })).toThrow(/Expected an integer from 1 to 256 for concurrency but received 0/);
    expect(() => runEvaluation(model, mcText, { classificationMode: 'vote' as never })).toThrow(/for classificationMode/);
    expect(() => runEvaluation(model, 42 as never)).toThrow(/for tasks/);
    expect(() => runEvaluation(model, [{ kind: 'generation', prompt: 'x' } as never])).toThrow(/for answers at tasks line 1/);
    await expect(runEvaluation(model, '\n{"kind":"generation","prompt":"x","answers":["a"],"grammar":"root ::= ("}', { source: 'g.jsonl' })).rejects.toMatchObject({
      code: 'GRAMMAR_SYNTAX',
      message: expect.stringMatching(/^g\.jsonl line 2 \(id "2"\): /),
    });
  });

  it("the README's example lines are valid items", () => {
    const readme = readFileSync(join(fixtures, '..', '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Evaluations'));
    const block = /```json\n([\s\S]*?)```/.exec(section)![1]!;
    expect(parseTasks(block).map((p) => p.item.kind)).toEqual(['multiple-choice', 'classification', 'generation', 'sql']);
  });

  it('the published JSON Schema accepts every fixture line and rejects what parseTasks rejects', () => {
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(evalItemSchema);
    for (const line of [...mcText.split('\n'), ...mixedText.split('\n')].filter(Boolean)) expect(validate(JSON.parse(line)), line).toBe(true);
    expect(validate({ kind: 'multiple-choice', context: 'x', choices: ['a'], answer: 0 })).toBe(false);
    expect(validate({ kind: 'generation', prompt: 'x', answers: ['a'], stopp: '\n' })).toBe(false);
  });

  it('few-shot examples: the same seeded draw from the train split for every item, formatted by the template', () => {
    const train = mixed.filter((p) => p.split === 'train' && p.task === 'animal-or-person');
    const a = chooseShots(train, 2, 1, 'animal-or-person');
    expect(chooseShots(train, 2, 1, 'animal-or-person')).toEqual(a);
    expect(a.length).toBe(2);
    const draws = new Set([1, 2, 3, 4, 5, 6].map((s) => chooseShots(train, 2, s, 'animal-or-person').map((p) => p.id).join()));
    expect(draws.size).toBeGreaterThan(1);
    const t = 'Story: {text}\nIs it about an animal or a person?';
    expect(shotBlock(a, t)).toBe(a.map((p) => `Story: ${(p.item as { text: string }).text}\nIs it about an animal or a person? ${(p.item as { answer: string }).answer}\n\n`).join(''));
    expect(() => chooseShots(train, 5, 1, 'animal-or-person')).toThrow(/at least 5 train items/);
    // mulberry32's widely published first output for seed 1.
    expect(mulberry32(1)()).toBe(0.6270739405881613);
  });
});

describe('scoring helpers', () => {
  it('normalized match ignores case, punctuation and articles; exact trims whitespace; regex tests the output', () => {
    expect(normalizeAnswer('  The Big, red BALL! ')).toBe('big red ball');
    expect(matchAnswer({ answers: ['a big red ball'] }, 'The big red ball.')).toBe(true);
    expect(matchAnswer({ answers: ['big ball'], match: 'exact' }, ' big ball\n')).toBe(true);
    expect(matchAnswer({ answers: ['big ball'], match: 'exact' }, 'Big ball')).toBe(false);
    expect(matchAnswer({ answers: ['^\\d+$'], match: 'regex' }, ' 42 ')).toBe(true);
    expect(matchAnswer({ answers: ['{"a":1,"b":[2]}'], jsonSchema: {} }, '{"b":[2],"a":1}')).toBe(true);
    expect(matchAnswer({ answers: ['{"a":1}'], jsonSchema: {} }, '{"a":1')).toBe(false);
    expect(labelGrammar(['yes', 'say "no"'])).toBe('root ::= " " ("yes" | "say \\"no\\"")\n');
  });

  it('precision and recall per class', () => {
    const mk = (answer: string, pred: string | null): EvalItemResult => ({ id: '', line: 0, task: 't', kind: 'classification', correct: answer === pred, answer, pred });
    const items = parseTasks('{"kind":"classification","task":"t","text":"x","labels":["a","b","c"],"answer":"a"}');
    const m = computeMetrics([mk('a', 'a'), mk('a', 'b'), mk('b', 'b'), mk('b', 'b'), mk('b', null), mk('a', 'a')], items).t!;
    expect(m.confusion).toEqual([
      [2, 1, 0, 0],
      [0, 2, 0, 1],
      [0, 0, 0, 0],
    ]);
    expect(m.perClass).toEqual({
      a: { precision: 1, recall: 2 / 3, support: 3 },
      b: { precision: 2 / 3, recall: 2 / 3, support: 3 },
      c: { precision: null, recall: null, support: 0 },
    });
    expect(m.acc).toBe(4 / 6);
  });

  it('sql result sets compare as multisets unless the reference orders them', async () => {
    const sql = new SqlRunner(10_000);
    expect(['node:sqlite', 'sql.js']).toContain(await sql.start());
    const schema = "CREATE TABLE t (x INTEGER, y TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (2, 'b');";
    const cmp = (ref: string, gen: string) => sql.compare(schema, ref, gen);
    expect((await cmp('SELECT x FROM t', 'SELECT x FROM t ORDER BY x DESC')).correct).toBe(true);
    expect((await cmp('SELECT x FROM t ORDER BY x', 'SELECT x FROM t ORDER BY x DESC')).correct).toBe(false);
    expect((await cmp('SELECT x FROM t', 'SELECT DISTINCT x FROM t')).correct).toBe(false);
    expect((await cmp('SELECT COUNT(*) FROM t', 'SELECT 3.0')).correct).toBe(true);
    expect(await cmp('SELECT x FROM t', 'DELETE FROM t; SELECT x FROM t')).toEqual({ correct: false, rows: 0 });
    expect(await cmp('SELECT x FROM t', 'SELEC x')).toMatchObject({ correct: false, error: expect.stringMatching(/syntax error/) });
    await expect(cmp('SELECT nope FROM t', 'SELECT x FROM t')).rejects.toMatchObject({ code: 'INVALID_TASK', message: expect.stringMatching(/reference query/) });
    await sql.close();
  });

  it('without node:sqlite and sql.js, sql items fail with SQLITE_UNAVAILABLE and an install hint', async () => {
    const nowhere = new SqlRunner(1000, mkdtempSync(join(tmpdir(), 'no-sqljs-')));
    const hasNodeSqlite = (process as unknown as { getBuiltinModule?: (m: string) => { DatabaseSync?: unknown } | undefined }).getBuiltinModule?.('node:sqlite')?.DatabaseSync !== undefined;
    if (hasNodeSqlite) expect(await nowhere.start()).toBe('node:sqlite');
    else await expect(nowhere.start()).rejects.toMatchObject({ code: 'SQLITE_UNAVAILABLE', message: expect.stringMatching(/npm install sql\.js/) });
    await nowhere.close();
  });

  it('a query that never ends is stopped on its worker thread and counts as wrong; the next query gets a fresh worker', async () => {
    const sql = new SqlRunner(300);
    const schema = 'CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);';
    const forever = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c';
    expect(await sql.compare(schema, 'SELECT x FROM t', forever)).toEqual({ correct: false, error: 'the query ran longer than 300 ms' });
    expect(await sql.compare(schema, 'SELECT x FROM t', 'SELECT 1')).toEqual({ correct: true, rows: 1 });
    await sql.close();
  });
});

describe('halfbyte eval', () => {
  const cli = join(fixtures, '..', '..', 'bin', 'halfbyte.js');
  const run = (args: string[]) => promisify(execFile)(process.execPath, [cli, 'eval', ...args], { encoding: 'utf8' });
  const dir = mkdtempSync(join(tmpdir(), 'halfbyte-eval-'));

  it('writes the report and prints the table; --resume of a cut report gives the same report', async () => {
    const tasks = join(fixtures, 'eval', 'mixed.jsonl');
    const out = join(dir, 'report.json');
    const args = [tasks, '-m', modelPath('stories260K.gguf'), '--shots', '1', '--max-tokens', '16', '--out', out, '-t', '2'];
    const { stdout } = await run(args);
    expect(stdout).toMatch(/^task\s+kind\s+n\s+acc %/);
    expect(stdout).toMatch(/pets-sql\s+sql\s+4\s+25\.00/);
    expect(stdout).toMatch(/animal-or-person: confusion/);
    const full = JSON.parse(readFileSync(out, 'utf8')) as EvaluationReport;
    expect(full.options.shots).toBe(1);
    expect(full.tasks.source).toBe('mixed.jsonl');
    // An interrupted run leaves a partial report: here, the first 7 items.
    writeFileSync(out, JSON.stringify({ ...full, complete: false, results: full.results.slice(0, 7) }));
    const { stderr } = await run([...args, '--resume']);
    expect(stderr).toMatch(/7 from the earlier report/);
    expect(reportKey(JSON.parse(readFileSync(out, 'utf8')))).toBe(reportKey(full));
  });

  it('Ctrl-C leaves a partial report in --out; --resume completes it to the uninterrupted report', async () => {
    const tasks = join(fixtures, 'eval', 'stories-mc.jsonl');
    const out = join(dir, 'interrupted.json');
    const args = [tasks, '-m', modelPath('stories260K.gguf'), '--out', out, '-t', '1', '--concurrency', '1'];
    const child = spawn(process.execPath, [cli, 'eval', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Interrupt as soon as the first partial report is written (or whenever the run ends first).
    while (!existsSync(out) && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGINT');
    const code = await exited;
    const saved = JSON.parse(readFileSync(out, 'utf8')) as EvaluationReport;
    if (!saved.complete) {
      expect(code).toBe(1);
      expect(stderr).toMatch(/items saved in .*: rerun with --resume/);
    }
    await run([...args, '--resume']);
    const resumed = JSON.parse(readFileSync(out, 'utf8')) as EvaluationReport;
    expect(resumed.complete).toBe(true);
    expect(resumed.timing.resumed).toBe(saved.results.length);
    await run([tasks, '-m', modelPath('stories260K.gguf'), '--out', join(dir, 'whole.json'), '-t', '1']);
    expect(reportKey(resumed)).toBe(reportKey(JSON.parse(readFileSync(join(dir, 'whole.json'), 'utf8'))));
  });

  it('a malformed line fails with its line and field', async () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, mixedText.split('\n').slice(0, 3).join('\n') + '\n{"kind":"classification","text":"x","labels":"ab","answer":"a"}\n');
    await expect(run([bad])).rejects.toMatchObject({
      stderr: 'halfbyte: Expected an array of at least 2 strings for labels at bad.jsonl line 4 but received "ab" [INVALID_TASK]\n',
    });
  });
});
