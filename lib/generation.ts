// The generation loop shared by Model.generate and Session.generate: evaluate, sample, stream
// text, stop strings, log-probabilities, abort.
import type { NativeAbortFlag, NativeContext, NativeModel, NativeSampler } from './addon.js';
import { addon } from './addon.js';
import { HalfbyteError, fromNative, native } from './errors.js';
import { StopMatcher, Utf8Stream } from './text.js';
import * as v from './validate.js';

export interface SamplingOptions {
  /** 0 is greedy. Default 0.8. */
  temperature?: number;
  /** 0 disables. Default 40. */
  topK?: number;
  /** 1 disables. Default 0.95. */
  topP?: number;
  /** 0 disables. Default 0.05. */
  minP?: number;
  /** 1 disables. Default 1. */
  repeatPenalty?: number;
  /** How many recent tokens the repetition penalty looks at. Default 64. */
  repeatLastN?: number;
  /** Seed for reproducible sampling. Default: random. */
  seed?: number;
}

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate. Default: until the context is full. */
  maxTokens?: number;
  /** Generation ends before any of these strings; the stop string is not yielded. */
  stop?: string | string[];
  /** Stops the generation; the iterator then throws a HalfbyteError with code ABORTED. */
  signal?: AbortSignal;
  /** Context (KV cache) size for this generation. Default: the model's contextSize. */
  contextSize?: number;
  /** Tokenize a string prompt with BOS/EOS. Default true. */
  addSpecial?: boolean;
  /** Report each token's log-probability (under the model, before sampling transforms). */
  logprobs?: boolean;
  /** Also report the k most likely tokens at each step (implies logprobs). */
  topLogprobs?: number;
}

export interface TokenLogprob {
  token: number;
  text: string;
  logprob: number;
}

export interface GenerationChunk {
  token: number;
  text: string;
  /** With `logprobs`: log p(token). */
  logprob?: number;
  /** With `topLogprobs: k`: the k most likely tokens at this step, most likely first. */
  topLogprobs?: TokenLogprob[];
}

export interface CheckedGenerateOptions {
  maxTokens: number | undefined;
  stops: string[];
  signal: AbortSignal | undefined;
  sampling: SamplerSettings;
  topLogprobs: number; // -1: no log-probabilities
}

interface SamplerSettings {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repeatPenalty: number;
  repeatLastN: number;
  seed: number;
}

function samplerSettings(o: SamplingOptions): SamplerSettings {
  return {
    temperature: v.number(o.temperature, 'temperature', 0, 1e6, 0.8),
    topK: v.integer(o.topK, 'topK', 0, 2 ** 31 - 1, 40),
    topP: v.number(o.topP, 'topP', 0, 1, 0.95),
    minP: v.number(o.minP, 'minP', 0, 1, 0.05),
    repeatPenalty: v.number(o.repeatPenalty, 'repeatPenalty', Number.MIN_VALUE, 1e6, 1),
    repeatLastN: v.integer(o.repeatLastN, 'repeatLastN', 0, 1 << 20, 64),
    seed: v.integer(o.seed, 'seed', 0, Number.MAX_SAFE_INTEGER, Math.floor(Math.random() * 2 ** 32)),
  };
}

/** Validates the options every generation shares (not the prompt or context size). */
export function checkGenerateOptions(o: Partial<GenerateOptions>): CheckedGenerateOptions {
  const stops = o.stop === undefined ? [] : typeof o.stop === 'string' ? [o.stop] : o.stop;
  if (!Array.isArray(stops) || stops.some((s) => typeof s !== 'string' || s.length === 0))
    throw v.invalid('a non-empty string or an array of non-empty strings', 'stop', o.stop);
  const logprobs = v.boolean(o.logprobs, 'logprobs', false);
  const top = o.topLogprobs === undefined ? undefined : v.integer(o.topLogprobs, 'topLogprobs', 0, 1000);
  return {
    maxTokens: o.maxTokens === undefined ? undefined : v.integer(o.maxTokens, 'maxTokens', 0, 2 ** 31 - 1),
    stops,
    signal: v.signal(o.signal, 'signal'),
    sampling: samplerSettings(o),
    topLogprobs: top !== undefined ? top : logprobs ? 0 : -1,
  };
}

export function newSampler(s: SamplerSettings): NativeSampler {
  const a = addon();
  return native(() => new a.SamplerHandle(s.temperature, s.topK, s.topP, s.minP, s.repeatPenalty, s.repeatLastN, s.seed));
}

/** Links an AbortSignal to a native flag; returns a function that unlinks it. */
export function linkAbort(signal: AbortSignal | undefined): { flag: NativeAbortFlag; unlink: () => void } {
  const flag = new (addon().AbortFlag)();
  if (!signal) return { flag, unlink: () => {} };
  if (signal.aborted) flag.abort();
  const onAbort = () => flag.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  return { flag, unlink: () => signal.removeEventListener('abort', onAbort) };
}

export function abortedError(signal: AbortSignal | undefined): HalfbyteError {
  return new HalfbyteError('ABORTED', 'The operation was aborted', { cause: signal?.reason });
}

/** Awaits a native call, turning its errors into HalfbyteErrors (ABORTED keeps the signal's reason). */
export async function nativeCall<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  try {
    return await p;
  } catch (err) {
    const e = fromNative(err);
    throw e.code === 'ABORTED' ? abortedError(signal) : e;
  }
}

export interface GenerationRun {
  model: NativeModel;
  ctx: NativeContext;
  sampler: NativeSampler;
  /** Tokens to evaluate before the first sample (not in the KV cache yet). */
  feed: Int32Array;
  maxTokens: number;
  options: CheckedGenerateOptions;
  /**
   * Called before evaluating `n` more tokens. Returns the tokens to evaluate instead (after a
   * context shift), or null to end the generation because the context is full.
   */
  makeRoom(feed: Int32Array): Promise<Int32Array | null>;
  /** Called after tokens entered the KV cache. */
  evaluated(tokens: Int32Array): void;
}

/** The generation loop: one token per iteration until EOG, maxTokens, a stop string or abort. */
export async function* generateTokens(run: GenerationRun): AsyncGenerator<GenerationChunk> {
  const { model, ctx, sampler, options } = run;
  const { signal, topLogprobs } = options;
  const { flag, unlink } = linkAbort(signal);
  const utf8 = new Utf8Stream();
  const stopper = new StopMatcher(options.stops);
  const pieceText = (id: number) => new TextDecoder().decode(model.tokenPiece(id, false));
  try {
    let feed: Int32Array | null = run.feed;
    for (let produced = 0; produced < run.maxTokens; produced++) {
      if (signal?.aborted) throw abortedError(signal);
      feed = await run.makeRoom(feed);
      if (!feed) break;
      let chunk: GenerationChunk;
      if (topLogprobs >= 0) {
        const r = await nativeCall(ctx.step(feed, sampler, flag, topLogprobs), signal);
        chunk = { token: r.token, text: '', logprob: r.logprob };
        if (topLogprobs > 0)
          chunk.topLogprobs = Array.from(r.topTokens, (token, i) => ({ token, text: pieceText(token), logprob: r.topLogprobs[i] }));
      } else {
        chunk = { token: await nativeCall(ctx.step(feed, sampler, flag), signal), text: '' };
      }
      run.evaluated(feed);
      if (model.isEog(chunk.token)) break;
      chunk.text = utf8.push(model.tokenPiece(chunk.token, false));
      const { emit, stopped } = stopper.push(chunk);
      yield* emit;
      if (stopped) return;
      feed = Int32Array.of(chunk.token);
    }
    const held = stopper.flush();
    const tail = utf8.flush();
    if (tail && held.length > 0) held[held.length - 1].text += tail;
    yield* held;
  } finally {
    unlink();
  }
}
