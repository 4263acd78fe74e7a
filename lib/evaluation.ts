// Evaluation helpers: log-likelihood of continuations (multiple-choice scoring) and perplexity
// by llama.cpp's method. Log-probabilities are computed natively (scoreTokens), so only one
// float per token crosses into JavaScript.
import type { NativeModel } from './addon.js';
import { addon } from './addon.js';
import { HalfbyteError, native } from './errors.js';
import { linkAbort, nativeCall } from './generation.js';
import * as v from './validate.js';

export interface ScoreOptions {
  signal?: AbortSignal;
}

export interface ScoreResult {
  /** log p(continuation | prompt): the sum of tokenLogprobs. */
  logprob: number;
  /** The continuation's tokens (as the text prompt + continuation tokenizes). */
  tokens: Int32Array;
  /** log p of each of those tokens. */
  tokenLogprobs: Float32Array;
}

export interface PerplexityOptions {
  /** Tokens per chunk (llama-perplexity's -c). Default 512. */
  contextSize?: number;
  /** Tokens evaluated per native call (memory only; results do not change). Default contextSize. */
  batchSize?: number;
  signal?: AbortSignal;
}

export interface PerplexityResult {
  perplexity: number;
  /** Tokens scored (chunks x (contextSize - 1 - contextSize/2)). */
  tokens: number;
  chunks: number;
  /** Mean negative log-likelihood per scored token (ln of perplexity). */
  nll: number;
}

export interface Tokenizer {
  tokenize(text: string, options?: { addSpecial?: boolean; parseSpecial?: boolean }): Int32Array;
}

function commonPrefix(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let k = 0;
  while (k < a.length && k < b.length && a[k] === b[k]) k++;
  return k;
}

/**
 * log p(continuation | prompt) for each continuation. Each prompt + continuation is tokenized
 * as one text (as evaluation harnesses do, so a word keeps its leading-space token); the tokens
 * after the prompt's are the continuation's. The prefix all of them share is evaluated once.
 */
const SCORE_KEYS = v.optionKeys<ScoreOptions>({ signal: true });
const PERPLEXITY_KEYS = v.optionKeys<PerplexityOptions>({ contextSize: true, batchSize: true, signal: true });
const EMBED_KEYS = v.optionKeys<EmbedOptions>({ pooling: true, normalize: true, signal: true });

export async function score(
  h: NativeModel,
  tok: Tokenizer,
  maxContext: number,
  prompt: string,
  continuations: string[],
  options?: ScoreOptions,
): Promise<ScoreResult[]> {
  v.string(prompt, 'prompt');
  if (!Array.isArray(continuations) || continuations.length === 0)
    throw v.invalid('a non-empty array of strings', 'continuations', continuations);
  continuations.forEach((c, i) => v.string(c, `continuations[${i}]`));
  const o = v.optionsObject(options, 'score options', SCORE_KEYS);
  const signal = v.signal(o.signal, 'signal');

  const promptTokens = tok.tokenize(prompt);
  const wholes = continuations.map((c) => tok.tokenize(prompt + c));
  const splits = wholes.map((w, i) => {
    const k = commonPrefix(w, promptTokens);
    if (k >= w.length)
      throw new HalfbyteError(
        'INVALID_ARGUMENT',
        `Expected a continuation that adds at least one token for continuations[${i}] but received ${JSON.stringify(continuations[i])}`,
      );
    return k;
  });
  const longest = Math.max(...wholes.map((w) => w.length));
  if (longest > maxContext)
    throw new HalfbyteError('CONTEXT_FULL', `Expected prompt and continuation within ${maxContext} tokens but received ${longest}`);
  // Evaluated once: the tokens every whole sequence shares (at least one token stays per continuation).
  let shared = Math.min(...splits);
  for (const w of wholes) shared = Math.min(shared, commonPrefix(w, wholes[0]));

  const a = addon();
  const ctx = native(() => new a.ContextHandle(h, longest, maxContext));
  const { flag, unlink } = linkAbort(signal);
  try {
    // Row shared-1 of the shared prefix predicts each sequence's token at position `shared`.
    let sharedRow: Float32Array | undefined;
    if (shared > 0) {
      const prefix = wholes[0].subarray(0, shared);
      sharedRow = await nativeCall(ctx.decode(prefix, false, flag), signal);
    }
    const results: ScoreResult[] = [];
    for (let c = 0; c < wholes.length; c++) {
      const w = wholes[c];
      const split = splits[c];
      native(() => ctx.truncate(shared));
      const rest = w.subarray(shared);
      // targets[i]: the token after rest[i], scored if it belongs to the continuation.
      const targets = new Int32Array(rest.length).fill(-1);
      for (let i = 0; i + 1 < rest.length; i++) if (shared + i + 1 >= split) targets[i] = rest[i + 1];
      const lp = await nativeCall(ctx.scoreTokens(rest, targets, flag), signal);
      const tokenLogprobs = new Float32Array(w.length - split);
      for (let j = split; j < w.length; j++) {
        if (j === shared) {
          if (!sharedRow) throw new HalfbyteError('INTERNAL', 'no logits for the first continuation token');
          tokenLogprobs[j - split] = logSoftmaxAt(sharedRow, w[j]);
        } else tokenLogprobs[j - split] = lp[j - 1 - shared];
      }
      let sum = 0;
      for (const x of tokenLogprobs) sum += x;
      results.push({ logprob: sum, tokens: w.slice(split), tokenLogprobs });
    }
    return results;
  } finally {
    unlink();
    ctx.dispose();
  }
}

function logSoftmaxAt(row: Float32Array, index: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return row[index] - max - Math.log(sum);
}

/**
 * Perplexity by llama.cpp's method (llama-perplexity): tokenize the whole text with BOS; cut it
 * into consecutive chunks of contextSize tokens (the remainder is dropped); in each chunk put BOS
 * in place of the first token (when the vocabulary adds BOS), evaluate it from position 0, and
 * score only the second half: the tokens at positions contextSize/2 + 1 … contextSize - 1, each
 * given everything before it in the chunk. perplexity = exp(mean negative log-likelihood).
 * Like llama-perplexity, needs at least 2 x contextSize tokens.
 */
export async function perplexity(
  h: NativeModel,
  tok: Tokenizer,
  bos: number,
  addBos: boolean,
  text: string,
  options?: PerplexityOptions,
): Promise<PerplexityResult> {
  v.string(text, 'text');
  const o = v.optionsObject(options, 'perplexity options', PERPLEXITY_KEYS);
  const nCtx = v.integer(o.contextSize, 'contextSize', 4, 1 << 20, 512);
  const batch = v.integer(o.batchSize, 'batchSize', 1, 1 << 20, nCtx);
  const signal = v.signal(o.signal, 'signal');
  const tokens = tok.tokenize(text);
  if (tokens.length < 2 * nCtx)
    throw new HalfbyteError(
      'INVALID_ARGUMENT',
      `Expected a text of at least ${2 * nCtx} tokens for perplexity with contextSize ${nCtx} but received ${tokens.length} tokens`,
    );
  const nChunks = Math.floor(tokens.length / nCtx);
  const first = nCtx >> 1;
  const a = addon();
  const ctx = native(() => new a.ContextHandle(h, nCtx));
  const { flag, unlink } = linkAbort(signal);
  let nll = 0;
  let count = 0;
  try {
    for (let c = 0; c < nChunks; c++) {
      const chunk = tokens.slice(c * nCtx, (c + 1) * nCtx);
      if (addBos && bos >= 0) chunk[0] = bos;
      native(() => ctx.truncate(0));
      for (let b = 0; b < nCtx; b += batch) {
        const part = chunk.subarray(b, Math.min(nCtx, b + batch));
        const targets = new Int32Array(part.length).fill(-1);
        for (let i = 0; i < part.length; i++) {
          const pos = b + i;
          if (pos >= first && pos + 1 < nCtx) targets[i] = chunk[pos + 1];
        }
        const lp = await nativeCall(ctx.scoreTokens(part, targets, flag), signal);
        for (let i = 0; i < part.length; i++)
          if (targets[i] >= 0) {
            nll -= lp[i];
            count++;
          }
      }
    }
  } finally {
    unlink();
    ctx.dispose();
  }
  const mean = nll / count;
  return { perplexity: Math.exp(mean), tokens: count, chunks: nChunks, nll: mean };
}

export interface EmbedOptions {
  /** How token states become one vector: their mean, or the last token's. Default 'mean'. */
  pooling?: 'mean' | 'last';
  /** Scale to unit length (L2). Default true. */
  normalize?: boolean;
  signal?: AbortSignal;
}

/** One embedding per text, from the model's final hidden states (after the output norm). */
export async function embed(
  h: NativeModel,
  tok: Tokenizer,
  maxContext: number,
  texts: string[],
  options?: EmbedOptions,
): Promise<Float32Array[]> {
  const o = v.optionsObject(options, 'embed options', EMBED_KEYS);
  if (o.pooling !== undefined && o.pooling !== 'mean' && o.pooling !== 'last') throw v.invalid("'mean' or 'last'", 'pooling', o.pooling);
  const pooling = o.pooling ?? 'mean';
  const normalize = v.boolean(o.normalize, 'normalize', true);
  const signal = v.signal(o.signal, 'signal');
  const a = addon();
  const { flag, unlink } = linkAbort(signal);
  try {
    const out: Float32Array[] = [];
    for (const text of texts) {
      const ids = tok.tokenize(text);
      if (ids.length === 0) throw new HalfbyteError('INVALID_ARGUMENT', 'Expected a text with at least one token but received an empty one');
      if (ids.length > maxContext)
        throw new HalfbyteError('CONTEXT_FULL', `Expected a text of at most ${maxContext} tokens but received ${ids.length}`);
      const ctx = native(() => new a.ContextHandle(h, ids.length, maxContext));
      try {
        const hidden = await nativeCall(ctx.decodeHidden(ids, flag), signal);
        const dim = hidden.length / ids.length;
        const e = new Float32Array(dim);
        if (pooling === 'last') e.set(hidden.subarray((ids.length - 1) * dim));
        else {
          for (let t = 0; t < ids.length; t++) for (let i = 0; i < dim; i++) e[i] += hidden[t * dim + i];
          for (let i = 0; i < dim; i++) e[i] /= ids.length;
        }
        if (normalize) {
          let n = 0;
          for (const x of e) n += x * x;
          n = Math.sqrt(n);
          if (n > 0) for (let i = 0; i < dim; i++) e[i] /= n;
        }
        out.push(e);
      } finally {
        ctx.dispose();
      }
    }
    return out;
  } finally {
    unlink();
  }
}
