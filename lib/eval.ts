// Evaluations in one call: runEvaluation(model, tasks, options) runs a task file of
// multiple-choice, classification, generation and sql items and makes a reproducible report.
// Items run on `concurrency` lanes, each a KV cache that keeps the task's few-shot block
// evaluated once; generation steps of the lanes are batched natively (one weight read per step
// for all of them).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { NativeContext, NativeModel } from './addon.js';
import { addon } from './addon.js';
import { HalfbyteError, native } from './errors.js';
import {
  chooseShots,
  checkItem,
  itemPrompt,
  parseTasks,
  shotBlock,
  type ClassificationItem,
  type EvalItem,
  type EvalKind,
  type GenerationItem,
  type MultipleChoiceItem,
  type ParsedItem,
  type SqlItem,
} from './eval-tasks.js';
import { SqlRunner } from './eval-sql.js';
import { abortedError, checkGenerateOptions, generateTokens, linkAbort, nativeCall, newSampler } from './generation.js';
import type { Model } from './model.js';
import { packageRoot } from './root.js';
import * as v from './validate.js';

export interface EvaluationOptions {
  /** Few-shot examples per prompt, drawn from the task's train split (seeded). Default 0. */
  shots?: number;
  /** Evaluate only the first `limit` test items (in file order). Default: all. */
  limit?: number;
  /** Seed of the few-shot choice. Default 1. */
  seed?: number;
  /** How classification items without a `mode` are run. Default 'score'. */
  classificationMode?: 'score' | 'generate';
  /** Most tokens for generation and sql items without their own maxTokens. Default 64. */
  maxTokens?: number;
  /** KV cache size of each lane. Default: the model's contextSize. */
  contextSize?: number;
  /**
   * Items in flight at once (each lane has its own KV cache). Generation steps of the lanes are
   * batched natively. Results do not depend on it. Default 4.
   */
  concurrency?: number;
  /** Time limit of one sql item's queries in milliseconds (the query then counts as wrong). Default 10000. */
  sqlTimeout?: number;
  /** A report of an earlier run (same model, tasks and options): its items are not run again. */
  resume?: EvaluationReport;
  /** Names the tasks in errors and in the report (e.g. the file name). Default 'tasks'. */
  source?: string;
  /** Stops the run: the report promise rejects with ABORTED; partialReport() keeps what finished. */
  signal?: AbortSignal;
}

/** The result of one multiple-choice item. */
export interface MultipleChoiceResult {
  /** log p(choice | prompt) summed over the choice's tokens, per choice. */
  logprobs: number[];
  /** Tokens of each choice. */
  tokens: number[];
  /** argmax of logprobs (acc). */
  pred: number;
  /** argmax of logprobs / UTF-8 bytes of the choice (acc_norm). */
  predNorm: number;
  /**
   * argmax of the mean log-probability of the tokens after the prefix all choices share
   * (llama.cpp's llama-perplexity --multiple-choice).
   */
  predMean: number;
}

export interface EvalItemResult {
  id: string;
  line: number;
  task: string;
  kind: EvalKind;
  /** The item was answered right (acc for multiple-choice). */
  correct: boolean;
  /** multiple-choice: the right index; classification: the right label. */
  answer?: number | string;
  /** multiple-choice: see MultipleChoiceResult. */
  mc?: MultipleChoiceResult;
  /** classification: the predicted label (null: a generation that is none of the labels). */
  pred?: string | null;
  /** classification in score mode: log p of each label. */
  labelLogprobs?: number[];
  /** classification mode. */
  mode?: 'score' | 'generate';
  /** generation, sql and classification in generate mode: the generated text. */
  output?: string;
  /** sql: why the generated query failed to run. */
  error?: string;
}

/** Per-task figures. */
export interface TaskMetrics {
  kind: EvalKind;
  n: number;
  /** Fraction right (multiple-choice: highest total log-probability; sql: execution accuracy). */
  acc: number;
  /** multiple-choice: highest log-probability per byte of the choice. */
  acc_norm?: number;
  /** multiple-choice: highest mean token log-probability after the choices' common prefix (llama.cpp). */
  acc_mean?: number;
  /** classification: the labels in order of first appearance. */
  labels?: string[];
  /** classification: confusion[i][j] counts items whose answer is labels[i] and prediction labels[j]; a last column counts predictions that are none of the labels. */
  confusion?: number[][];
  /** classification: per label, precision (null when never predicted) and recall (null when never the answer). */
  perClass?: Record<string, { precision: number | null; recall: number | null; support: number }>;
  /** sql: generated queries that failed to run. */
  errors?: number;
}

export interface EvaluationReport {
  format: 'halfbyte-eval-report';
  formatVersion: 1;
  /** halfbyte's version. */
  halfbyte: string;
  model: { file: string; size: number; fingerprint: string; architecture: string; name: string };
  tasks: { source: string; sha256: string; items: number };
  /** What decides the results (concurrency and threads do not): a resumed run must use the same. */
  options: {
    shots: number;
    limit: number | null;
    seed: number;
    classificationMode: 'score' | 'generate';
    maxTokens: number;
    contextSize: number;
    /** Milliseconds an sql item's queries may run before the item counts as wrong. */
    sqlTimeout: number;
  };
  /** False in a partial report (an interrupted run): resume it with `resume`. */
  complete: boolean;
  /** One per evaluated item, in file order. */
  results: EvalItemResult[];
  metrics: Record<string, TaskMetrics>;
  /**
   * The only part that changes between runs of the same inputs (wall-clock figures of this
   * run); everything else is the same bit for bit. Leave it out when comparing reports.
   */
  timing: {
    seconds: number;
    itemsPerSecond: number;
    /** Items run now / taken from `resume`. */
    evaluated: number;
    resumed: number;
    /** Tokens the model evaluated in this run, and tokens of few-shot blocks found in a lane's cache instead. */
    evaluatedTokens: number;
    reusedTokens: number;
  };
}

export type EvaluationEvent =
  | { type: 'start'; total: number; resumed: number }
  | { type: 'item'; done: number; total: number; result: EvalItemResult }
  | { type: 'end'; report: EvaluationReport };

const EVAL_KEYS = v.optionKeys<EvaluationOptions>({
  shots: true, limit: true, seed: true, classificationMode: true, maxTokens: true, contextSize: true,
  concurrency: true, resume: true, source: true, signal: true, sqlTimeout: true,
});

let version: string | undefined;
function halfbyteVersion(): string {
  version ??= (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

/**
 * A fingerprint of a model file without reading all of it: SHA-256 of its size, its first MiB
 * (the GGUF header and metadata) and 64 samples of 4 KiB spread evenly over the rest.
 */
export async function fileFingerprint(path: string): Promise<string> {
  const f = await open(path, 'r');
  try {
    const { size } = await f.stat();
    const h = createHash('sha256');
    h.update(`size:${size}\n`);
    const head = Buffer.alloc(Math.min(size, 1 << 20));
    await f.read(head, 0, head.length, 0);
    h.update(head);
    const sample = Buffer.alloc(4096);
    if (size > head.length)
      for (let i = 0; i < 64; i++) {
        const at = head.length + Math.floor(((size - head.length - Math.min(4096, size - head.length)) * i) / 63);
        const { bytesRead } = await f.read(sample, 0, sample.length, at);
        h.update(sample.subarray(0, bytesRead));
      }
    return 'sha256:' + h.digest('hex');
  } finally {
    await f.close();
  }
}

function commonPrefix(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let k = 0;
  while (k < a.length && k < b.length && a[k] === b[k]) k++;
  return k;
}

function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}

function logSoftmaxAt(row: Float32Array, index: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return row[index]! - max - Math.log(sum);
}

/** SQuAD-style normalisation: lower case, no punctuation, no articles, single spaces. */
export function normalizeAnswer(s: string): string {
  return s
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\p{P}\p{S}]/gu, ' ')
    .replace(/\b(a|an|the)\b/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => JSON.stringify(k) + ':' + canonicalJson((v as Record<string, unknown>)[k]))
      .join(',')}}`;
  return JSON.stringify(v);
}

/** Whether a generation's output matches one of the item's answers. */
export function matchAnswer(item: Pick<GenerationItem, 'answers' | 'match' | 'jsonSchema'>, output: string): boolean {
  const match = item.match ?? 'normalized';
  if (match === 'regex') return item.answers.some((a) => new RegExp(a, 'u').test(output.trim()));
  if (item.jsonSchema !== undefined) {
    let got: unknown;
    try {
      got = JSON.parse(output);
    } catch {
      return false;
    }
    return item.answers.some((a) => {
      try {
        return canonicalJson(JSON.parse(a)) === canonicalJson(got);
      } catch {
        return false;
      }
    });
  }
  if (match === 'exact') return item.answers.some((a) => a.trim() === output.trim());
  return item.answers.some((a) => normalizeAnswer(a) === normalizeAnswer(output));
}

/** A GBNF string literal. */
function gbnfLiteral(s: string): string {
  return '"' + s.replace(/[\\"]/g, (c) => '\\' + c).replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t') + '"';
}

/** The grammar of classification in generate mode: one space, then exactly one of the labels. */
export function labelGrammar(labels: string[]): string {
  return `root ::= " " (${labels.map(gbnfLiteral).join(' | ')})\n`;
}

interface Work {
  p: ParsedItem;
  /** The few-shot block (shared by the task's items). */
  block: string;
}

/**
 * One KV cache. Before each item it keeps only a prefix of the few-shot block it evaluated in one
 * call, so an item's numbers never depend on which items ran on the lane before it.
 */
/**
 * Runs multi-token evaluations (prompts, few-shot blocks, choices) one at a time across lanes:
 * they keep every core busy on their own, and run side by side they only contend. Single-token
 * generation steps do not take it, so the lanes' steps meet in the engine's batch.
 */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.tail.then(fn);
    this.tail = r.catch(() => {});
    return r;
  }
}

class Lane {
  private ctx: NativeContext | undefined;
  private pinnedText: string | undefined;
  private pinned: Int32Array = new Int32Array(0);
  /** Tokens fed to the model, and tokens of the pinned block reused from the cache. */
  evaluatedTokens = 0;
  reusedTokens = 0;

  constructor(
    private readonly model: Model,
    private readonly h: NativeModel,
    readonly nCtx: number,
    private readonly signal: AbortSignal | undefined,
    private readonly serial: Serial,
  ) {}

  private context(): NativeContext {
    this.ctx ??= native(() => new (addon().ContextHandle)(this.h, this.nCtx));
    return this.ctx;
  }

  /** Makes the cache hold the part of the block's tokens that `tokens` starts with; returns its length. */
  private async start(block: string, tokens: Int32Array, keepAtMost: number): Promise<number> {
    const ctx = this.context();
    if (this.pinnedText !== block) {
      this.pinnedText = undefined;
      native(() => ctx.truncate(0));
      const t = this.model.tokenize(block);
      if (t.length >= this.nCtx)
        throw new HalfbyteError('CONTEXT_FULL', `Expected a few-shot block shorter than the context size ${this.nCtx} but received ${t.length} tokens`);
      if (t.length > 0) {
        const { flag, unlink } = linkAbort(this.signal);
        try {
          await this.serial.run(() => nativeCall(ctx.decode(t, false, flag), this.signal));
          this.evaluatedTokens += t.length;
        } finally {
          unlink();
        }
      }
      this.pinned = t;
      this.pinnedText = block;
    }
    const k = native(() => ctx.truncate(Math.min(commonPrefix(tokens, this.pinned), keepAtMost)));
    this.reusedTokens += k;
    return k;
  }

  /**
   * log p of each token of each whole sequence from position `from` on (NaN before): the prefix
   * the sequences share is evaluated once, then each sequence's rest.
   */
  async logprobs(block: string, wholes: Int32Array[], from: number): Promise<Float64Array[]> {
    const longest = Math.max(...wholes.map((w) => w.length));
    if (longest > this.nCtx) throw new HalfbyteError('CONTEXT_FULL', `Expected a prompt and choice within ${this.nCtx} tokens but received ${longest}`);
    if (from < 1) throw new HalfbyteError('INVALID_TASK', 'Expected choices that share at least the first token (BOS) but received none');
    const ctx = this.context();
    const base = await this.start(block, wholes[0]!, from - 1);
    const { flag, unlink } = linkAbort(this.signal);
    try {
      const row = await this.serial.run(() => nativeCall(ctx.decode(wholes[0]!.subarray(base, from), false, flag), this.signal));
      this.evaluatedTokens += from - base;
      const out: Float64Array[] = [];
      for (const w of wholes) {
        const lp = new Float64Array(w.length).fill(NaN);
        lp[from] = logSoftmaxAt(row, w[from]!);
        if (w.length - 1 > from) {
          native(() => ctx.truncate(from));
          const scored = await this.serial.run(() => nativeCall(ctx.scoreTokens(w.subarray(from, w.length - 1), w.slice(from + 1), flag), this.signal));
          this.evaluatedTokens += w.length - 1 - from;
          for (let j = from + 1; j < w.length; j++) lp[j] = scored[j - 1 - from]!;
        }
        out.push(lp);
      }
      return out;
    } finally {
      unlink();
    }
  }

  /** Greedy generation after `tokens`. */
  async generate(
    block: string,
    tokens: Int32Array,
    o: { maxTokens: number; stop?: string | string[]; grammar?: string; jsonSchema?: unknown; seed: number },
  ): Promise<string> {
    if (tokens.length >= this.nCtx)
      throw new HalfbyteError('CONTEXT_FULL', `Expected a prompt shorter than the context size ${this.nCtx} but received ${tokens.length} tokens`);
    const checked = checkGenerateOptions({
      temperature: 0,
      seed: o.seed,
      maxTokens: o.maxTokens,
      stop: o.stop,
      grammar: o.grammar,
      jsonSchema: o.jsonSchema as never,
      signal: this.signal,
    });
    const ctx = this.context();
    const base = await this.start(block, tokens, tokens.length - 1);
    // The prompt but its last token here (serially); from the last token on, single-token steps.
    if (tokens.length - 1 > base) {
      const { flag, unlink } = linkAbort(this.signal);
      try {
        await this.serial.run(() => nativeCall(ctx.decode(tokens.subarray(base, tokens.length - 1), false, flag), this.signal));
        this.evaluatedTokens += tokens.length - 1 - base;
      } finally {
        unlink();
      }
    }
    const sampler = newSampler(checked.sampling, this.h);
    native(() => sampler.accept(tokens));
    let text = '';
    for await (const c of generateTokens({
      model: this.h,
      ctx,
      sampler,
      feed: tokens.subarray(tokens.length - 1),
      maxTokens: o.maxTokens,
      options: checked,
      makeRoom: async (feed) => (ctx.nPast() + feed.length <= this.nCtx ? feed : null),
      evaluated: (t) => (this.evaluatedTokens += t.length),
    }))
      text += c.text;
    return text;
  }

  dispose(): void {
    this.ctx?.dispose();
    this.ctx = undefined;
  }
}

/** Scores choices as `prompt + " " + choice`: per choice, the sums and llama.cpp's mean. */
async function scoreChoices(model: Model, lane: Lane, block: string, prompt: string, choices: string[]) {
  const promptTokens = model.tokenize(prompt);
  const wholes = choices.map((c) => model.tokenize(prompt + ' ' + c));
  const splits = wholes.map((w, i) => {
    const k = commonPrefix(w, promptTokens);
    if (k >= w.length) throw new HalfbyteError('INVALID_TASK', `Expected a choice that adds at least one token but received ${JSON.stringify(choices[i])}`);
    return k;
  });
  const minLen = Math.min(...wholes.map((w) => w.length));
  let cp = minLen;
  for (const w of wholes) cp = Math.min(cp, commonPrefix(w, wholes[0]!));
  // llama.cpp scores the tokens after the prefix all sequences share (at least one each).
  const cpMean = Math.min(cp, minLen - 1);
  const from = Math.min(cpMean, ...splits);
  const lps = await lane.logprobs(block, wholes, from);
  const sums = lps.map((lp, c) => {
    let s = 0;
    for (let j = splits[c]!; j < lp.length; j++) s += lp[j]!;
    return s;
  });
  const means = lps.map((lp) => {
    let s = 0;
    for (let j = cpMean; j < lp.length; j++) s += lp[j]!;
    return s / (lp.length - cpMean);
  });
  const tokens = wholes.map((w, c) => w.length - splits[c]!);
  return { sums, means, tokens };
}

async function runItem(
  model: Model,
  lane: Lane,
  w: Work,
  o: { classificationMode: 'score' | 'generate'; maxTokens: number; seed: number },
  sql: SqlRunner,
): Promise<EvalItemResult> {
  const { p, block } = w;
  const item = p.item;
  const prompt = block + itemPrompt(item);
  const head = { id: p.id, line: p.line, task: p.task, kind: item.kind };
  switch (item.kind) {
    case 'multiple-choice': {
      const mcItem = item as MultipleChoiceItem;
      const { sums, means, tokens } = await scoreChoices(model, lane, block, prompt, mcItem.choices);
      const bytes = mcItem.choices.map((c) => Buffer.byteLength(c, 'utf8'));
      const pred = argmax(sums);
      const mc: MultipleChoiceResult = {
        logprobs: sums,
        tokens,
        pred,
        predNorm: argmax(sums.map((s, i) => s / bytes[i]!)),
        predMean: argmax(means),
      };
      return { ...head, correct: pred === mcItem.answer, answer: mcItem.answer, mc };
    }
    case 'classification': {
      const c = item as ClassificationItem;
      const mode = c.mode ?? o.classificationMode;
      if (mode === 'score') {
        const { sums } = await scoreChoices(model, lane, block, prompt, c.labels);
        const pred = c.labels[argmax(sums)]!;
        return { ...head, correct: pred === c.answer, answer: c.answer, mode, pred, labelLogprobs: sums };
      }
      const output = await lane.generate(block, model.tokenize(prompt), { maxTokens: o.maxTokens, grammar: labelGrammar(c.labels), seed: o.seed });
      const label = output.startsWith(' ') ? output.slice(1) : output;
      const pred = c.labels.includes(label) ? label : null;
      return { ...head, correct: pred === c.answer, answer: c.answer, mode, pred, output };
    }
    case 'generation': {
      const g = item as GenerationItem;
      const output = await lane.generate(block, model.tokenize(prompt), {
        maxTokens: g.maxTokens ?? o.maxTokens,
        stop: g.stop ?? '\n',
        grammar: g.grammar,
        jsonSchema: g.jsonSchema,
        seed: o.seed,
      });
      return { ...head, correct: matchAnswer(g, output), output };
    }
    case 'sql': {
      const s = item as SqlItem;
      const output = await lane.generate(block, model.tokenize(prompt), {
        maxTokens: s.maxTokens ?? o.maxTokens,
        stop: s.stop ?? [';', '\n\n'],
        grammar: s.grammar,
        seed: o.seed,
      });
      const r = await sql.compare(s.schema, s.answer, output.trim());
      return { ...head, correct: r.correct, output, ...(r.error !== undefined ? { error: r.error } : {}) };
    }
  }
}

/** Per-task metrics of a set of results (in file order). */
export function computeMetrics(results: EvalItemResult[], items: ParsedItem[]): Record<string, TaskMetrics> {
  const byTask = new Map<string, EvalItemResult[]>();
  for (const r of results) {
    const list = byTask.get(r.task) ?? [];
    list.push(r);
    byTask.set(r.task, list);
  }
  const metrics: Record<string, TaskMetrics> = {};
  for (const [task, rs] of byTask) {
    const kind = rs[0]!.kind;
    const n = rs.length;
    const frac = (f: (r: EvalItemResult) => boolean) => rs.filter(f).length / n;
    const m: TaskMetrics = { kind, n, acc: frac((r) => r.correct) };
    if (kind === 'multiple-choice') {
      m.acc_norm = frac((r) => r.mc!.predNorm === r.answer);
      m.acc_mean = frac((r) => r.mc!.predMean === r.answer);
    }
    if (kind === 'classification') {
      const labels: string[] = [];
      for (const p of items)
        if (p.task === task && p.item.kind === 'classification') for (const l of p.item.labels) if (!labels.includes(l)) labels.push(l);
      const confusion = labels.map(() => new Array<number>(labels.length + 1).fill(0));
      for (const r of rs) {
        const j = r.pred == null ? labels.length : labels.indexOf(r.pred);
        confusion[labels.indexOf(r.answer as string)]![j]!++;
      }
      m.labels = labels;
      m.confusion = confusion;
      m.perClass = {};
      labels.forEach((l, i) => {
        const tp = confusion[i]![i]!;
        const predicted = confusion.reduce((s, row) => s + row[i]!, 0);
        const support = confusion[i]!.reduce((s, x) => s + x, 0);
        m.perClass![l] = { precision: predicted ? tp / predicted : null, recall: support ? tp / support : null, support };
      });
    }
    if (kind === 'sql') m.errors = rs.filter((r) => r.error !== undefined).length;
    metrics[task] = m;
  }
  return metrics;
}

function sameOptions(a: EvaluationReport['options'], b: EvaluationReport['options']): boolean {
  const { limit: _a, ...x } = a;
  const { limit: _b, ...y } = b;
  return JSON.stringify(x) === JSON.stringify(y);
}

/**
 * What runEvaluation returns: await it for the report, or iterate it for progress events first
 * (`for await (const e of run) …; const report = await run`).
 */
export class EvaluationRun implements PromiseLike<EvaluationReport>, AsyncIterable<EvaluationEvent> {
  private readonly events: EvaluationEvent[] = [];
  private wake: (() => void) | undefined;
  private done = false;
  private readonly promise: Promise<EvaluationReport>;
  private partial: (() => EvaluationReport) | undefined;

  /** @internal Use runEvaluation(). */
  constructor(start: (emit: (e: EvaluationEvent) => void, setPartial: (f: () => EvaluationReport) => void) => Promise<EvaluationReport>) {
    this.promise = start(
      (e) => {
        this.events.push(e);
        this.wake?.();
      },
      (f) => (this.partial = f),
    ).finally(() => {
      this.done = true;
      this.wake?.();
    });
    this.promise.catch(() => {});
  }

  /**
   * The report of what has finished so far (complete: false until the end), e.g. to save after
   * an abort and pass as `resume` later. Undefined before the run has started.
   */
  partialReport(): EvaluationReport | undefined {
    return this.partial?.();
  }

  then<T1 = EvaluationReport, T2 = never>(
    onfulfilled?: ((value: EvaluationReport) => T1 | PromiseLike<T1>) | null,
    onrejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    return this.promise.then(onfulfilled, onrejected);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<EvaluationEvent> {
    let next = 0;
    for (;;) {
      while (next < this.events.length) yield this.events[next++]!;
      if (this.done) break;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    while (next < this.events.length) yield this.events[next++]!;
    await this.promise;
  }
}

function checkReport(value: unknown): EvaluationReport {
  const r = value as EvaluationReport;
  if (!r || typeof r !== 'object' || r.format !== 'halfbyte-eval-report' || r.formatVersion !== 1 || !Array.isArray(r.results))
    throw v.invalid('a halfbyte evaluation report (format "halfbyte-eval-report", formatVersion 1)', 'resume', value);
  return r;
}

/**
 * Runs an evaluation: `tasks` is the text of a JSONL task file (see README: Evaluations) or an
 * array of items. Returns an EvaluationRun: iterate it for progress events, await it for the
 * report. Items already in `resume` are not run again; the report is the same as a run without
 * interruption.
 */
export function runEvaluation(model: Model, tasks: string | readonly EvalItem[], options?: EvaluationOptions): EvaluationRun {
  const h = model.native();
  const o = v.optionsObject(options, 'evaluation options', EVAL_KEYS);
  const source = o.source === undefined ? 'tasks' : v.string(o.source, 'source');
  let parsed: ParsedItem[];
  if (typeof tasks === 'string') parsed = parseTasks(tasks, source);
  else if (Array.isArray(tasks)) {
    parsed = tasks.map((t, i) => checkItem(t, i + 1, source));
    const seen = new Set<string>();
    for (const p of parsed) {
      if (seen.has(p.id)) throw new HalfbyteError('INVALID_TASK', `Expected an id not used before for id at ${source} item ${p.line} but received ${JSON.stringify(p.id)}`);
      seen.add(p.id);
    }
  } else throw v.invalid('the text of a JSONL task file or an array of items', 'tasks', tasks);
  const kinds = new Map<string, EvalKind>();
  for (const p of parsed) {
    const k = kinds.get(p.task);
    if (k !== undefined && k !== p.item.kind)
      throw new HalfbyteError('INVALID_TASK', `Expected one kind per task for kind at ${source} line ${p.line} but received "${p.item.kind}" in task "${p.task}" of kind "${k}"`);
    kinds.set(p.task, p.item.kind);
  }
  const shots = v.integer(o.shots, 'shots', 0, 1000, 0);
  const limit = o.limit === undefined ? null : v.integer(o.limit, 'limit', 1, Number.MAX_SAFE_INTEGER);
  const seed = v.integer(o.seed, 'seed', 0, 2 ** 32 - 1, 1);
  if (o.classificationMode !== undefined && o.classificationMode !== 'score' && o.classificationMode !== 'generate')
    throw v.invalid("'score' or 'generate'", 'classificationMode', o.classificationMode);
  const classificationMode = o.classificationMode ?? 'score';
  const maxTokens = v.integer(o.maxTokens, 'maxTokens', 1, 65536, 64);
  const contextSize = v.integer(o.contextSize, 'contextSize', 2, 1 << 24, model.contextSize);
  const concurrency = v.integer(o.concurrency, 'concurrency', 1, 256, 4);
  const sqlTimeout = v.integer(o.sqlTimeout, 'sqlTimeout', 1, 3_600_000, 10_000);
  const signal = v.signal(o.signal, 'signal');
  const resume = o.resume === undefined ? undefined : checkReport(o.resume);

  const test = parsed.filter((p) => p.split === 'test');
  const selected = limit === null ? test : test.slice(0, limit);
  const blocks = new Map<string, string>();
  const work: Work[] = selected.map((p) => {
    const key = `${p.task}\u0000${p.item.template ?? ''}`;
    let block = blocks.get(key);
    if (block === undefined) {
      const train = parsed.filter((t) => t.split === 'train' && t.task === p.task);
      block = shotBlock(chooseShots(train, shots, seed, p.task), p.item.template);
      blocks.set(key, block);
    }
    return { p, block };
  });
  const reportOptions = { shots, limit, seed, classificationMode, maxTokens, contextSize, sqlTimeout };
  const tasksHash = 'sha256:' + createHash('sha256').update(canonicalJson(parsed.map((p) => [p.line, p.id, p.item]))).digest('hex');

  return new EvaluationRun(async (emit, setPartial) => {
    const t0 = performance.now();
    const fingerprint = await fileFingerprint(model.path);
    const head = {
      format: 'halfbyte-eval-report' as const,
      formatVersion: 1 as const,
      halfbyte: halfbyteVersion(),
      model: { file: basename(model.path), size: model.info.fileSize, fingerprint, architecture: model.info.architecture, name: model.info.name },
      tasks: { source, sha256: tasksHash, items: parsed.length },
      options: reportOptions,
    };
    const results = new Map<string, EvalItemResult>();
    let resumed = 0;
    if (resume) {
      if (resume.model.fingerprint !== fingerprint || resume.tasks.sha256 !== tasksHash || !sameOptions(resume.options, reportOptions))
        throw new HalfbyteError(
          'INVALID_ARGUMENT',
          'Expected a report of the same model, tasks and options for resume but received one of ' +
            (resume.model.fingerprint !== fingerprint ? 'another model file' : resume.tasks.sha256 !== tasksHash ? 'other tasks' : `other options (${JSON.stringify(resume.options)})`),
        );
      const wanted = new Set(work.map((w) => w.p.id));
      for (const r of resume.results)
        if (wanted.has(r.id)) {
          results.set(r.id, r);
          resumed++;
        }
    }
    let lanes: Lane[] = [];
    const build = (complete: boolean): EvaluationReport => {
      const ordered = work.map((w) => results.get(w.p.id)).filter((r): r is EvalItemResult => r !== undefined);
      const seconds = (performance.now() - t0) / 1000;
      return {
        ...head,
        complete,
        results: ordered,
        metrics: computeMetrics(ordered, parsed),
        timing: {
          seconds,
          itemsPerSecond: seconds > 0 ? (ordered.length - resumed) / seconds : 0,
          evaluated: ordered.length - resumed,
          resumed,
          evaluatedTokens: lanes.reduce((s, l) => s + l.evaluatedTokens, 0),
          reusedTokens: lanes.reduce((s, l) => s + l.reusedTokens, 0),
        },
      };
    };
    setPartial(() => build(false));
    const todo = work.filter((w) => !results.has(w.p.id));
    emit({ type: 'start', total: work.length, resumed });
    const sql = new SqlRunner(sqlTimeout);
    if (todo.some((w) => w.p.item.kind === 'sql')) await sql.start();
    const serial = new Serial();
    lanes = Array.from({ length: Math.min(concurrency, Math.max(1, todo.length)) }, () => new Lane(model, h, contextSize, signal, serial));
    let next = 0;
    let failed: unknown;
    const item = { classificationMode, maxTokens, seed };
    try {
      // Every lane stops before the contexts go: a failing item stops the others at their next item.
      const settled = await Promise.allSettled(
        lanes.map(async (lane) => {
          while (failed === undefined && next < todo.length) {
            if (signal?.aborted) throw abortedError(signal);
            const w = todo[next++]!;
            try {
              const r = await runItem(model, lane, w, item, sql);
              results.set(w.p.id, r);
              emit({ type: 'item', done: results.size, total: work.length, result: r });
            } catch (err) {
              failed ??=
                err instanceof HalfbyteError && err.code !== 'ABORTED' && err.code !== 'DISPOSED'
                  ? new HalfbyteError(err.code, `${source} line ${w.p.line} (id ${JSON.stringify(w.p.id)}): ${err.message}`, { cause: err })
                  : err;
            }
          }
        }),
      );
      for (const s of settled) if (s.status === 'rejected') failed ??= s.reason;
      if (failed !== undefined) throw failed;
    } finally {
      for (const l of lanes) l.dispose();
      await sql.close();
    }
    const report = build(true);
    emit({ type: 'end', report });
    return report;
  });
}

/** A report without its `timing`, as canonical JSON: equal for runs of the same inputs. */
export function reportKey(report: EvaluationReport): string {
  const { timing: _t, ...rest } = report;
  return canonicalJson(rest);
}
