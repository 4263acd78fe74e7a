// The generation loop shared by Model.generate and Session.generate: evaluate, sample, stream
// text, stop strings, log-probabilities, abort.
import type { NativeAbortFlag, NativeContext, NativeModel, NativeSampler, NativeSamplerOptions } from './addon.js';
import { addon } from './addon.js';
import { HalfbyteError, fromNative, native } from './errors.js';
import { Grammar, toGrammar } from './grammar.js';
import { jsonSchemaToGrammar, type JsonSchema } from './json-schema.js';
import { StopMatcher, Utf8Stream } from './text.js';
import * as v from './validate.js';

/** A logit bias: add `bias` to a token's logit, or to every token of `text` (tokenized without BOS); -Infinity bans. */
export type LogitBiasEntry = { token: number; bias: number } | { text: string; bias: number };

/**
 * Sampling, as a chain in this order (each stage off unless noted): grammar (only tokens that keep
 * the output in the grammar), logit bias, penalties (repetition, presence, frequency), DRY, then
 * greedy (temperature 0), or mirostat v2, or top-k (40), typical-p, top-p (0.95), min-p (0.05),
 * XTC, temperature (0.8) and the draw. Semantics and defaults are llama.cpp's.
 */
export interface SamplingOptions {
  /** Constrain the output to a GBNF grammar: its text, or a Grammar from model.createGrammar(). */
  grammar?: string | Grammar;
  /** Constrain the output to JSON valid against this JSON Schema (see jsonSchemaToGrammar). Not with `grammar`. */
  jsonSchema?: JsonSchema;
  /** Per-token or per-text logit biases. */
  logitBias?: LogitBiasEntry[] | Map<number | string, number>;
  /** Subtracted once from the logit of every token seen in the last repeatLastN tokens. Default 0. */
  presencePenalty?: number;
  /** Subtracted per occurrence in the last repeatLastN tokens. Default 0. */
  frequencyPenalty?: number;
  /** DRY: penalty multiplier (0 disables). Default 0. */
  dryMultiplier?: number;
  /** DRY: penalty base, raised to (repeat length - allowed length). Default 1.75. */
  dryBase?: number;
  /** DRY: repeats up to this long are free. Default 2. */
  dryAllowedLength?: number;
  /** DRY: how many recent tokens it looks at (-1: up to 8192). Default -1. */
  dryPenaltyLastN?: number;
  /** DRY: strings that break repeats. Default ["\n", ":", "\"", "*"]. */
  drySequenceBreakers?: string[];
  /** XTC: chance of removing the top choices at a step (0 disables). Default 0. */
  xtcProbability?: number;
  /** XTC: tokens at or above this probability are the "top choices" (all but the least likely go). Default 0.1. */
  xtcThreshold?: number;
  /** Typical-p (1 disables). Default 1. */
  typicalP?: number;
  /** 2 turns on mirostat v2 (in place of top-k, typical, top-p, min-p and XTC); 0 is off. Default 0. */
  mirostat?: 0 | 2;
  /** Mirostat target surprise. Default 5. */
  mirostatTau?: number;
  /** Mirostat learning rate. Default 0.1. */
  mirostatEta?: number;
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

/** The names of SamplingOptions and GenerateOptions, checked against the interfaces by the compiler. */
export const SAMPLING_KEYS = v.optionKeys<SamplingOptions>({
  grammar: true, jsonSchema: true, logitBias: true, presencePenalty: true, frequencyPenalty: true,
  dryMultiplier: true, dryBase: true, dryAllowedLength: true, dryPenaltyLastN: true, drySequenceBreakers: true,
  xtcProbability: true, xtcThreshold: true, typicalP: true, mirostat: true, mirostatTau: true, mirostatEta: true,
  temperature: true, topK: true, topP: true, minP: true, repeatPenalty: true, repeatLastN: true, seed: true,
});
export const GENERATE_KEYS: readonly string[] = [
  ...SAMPLING_KEYS,
  ...v.optionKeys<Omit<GenerateOptions, keyof SamplingOptions>>({
    maxTokens: true, stop: true, signal: true, contextSize: true, addSpecial: true, logprobs: true, topLogprobs: true,
  }),
];
/** GENERATE_KEYS without the named ones. */
export function keysWithout(keys: readonly string[], ...drop: string[]): readonly string[] {
  return keys.filter((k) => !drop.includes(k));
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
  native: Omit<NativeSamplerOptions, 'biasTokens' | 'biasValues'>;
  grammar: Grammar | undefined;
  logitBias: LogitBiasEntry[];
}

const defaultBreakers = ['\n', ':', '"', '*'];

function logitBiasEntries(value: unknown): LogitBiasEntry[] {
  if (value === undefined) return [];
  const entries: LogitBiasEntry[] = [];
  const bias = (b: unknown, what: string) => {
    if (typeof b !== 'number' || Number.isNaN(b) || b === Infinity) throw v.invalid('a finite number or -Infinity', what, b);
    return b;
  };
  if (value instanceof Map) {
    for (const [k, b] of value) {
      if (typeof k === 'number') entries.push({ token: v.integer(k, 'logitBias token', 0, 2 ** 31 - 1), bias: bias(b, `logitBias for ${k}`) });
      else if (typeof k === 'string' && k.length > 0) entries.push({ text: k, bias: bias(b, `logitBias for ${JSON.stringify(k)}`) });
      else throw v.invalid('token ids or non-empty strings as keys', 'logitBias', k);
    }
    return entries;
  }
  if (!Array.isArray(value)) throw v.invalid('an array of { token | text, bias } or a Map', 'logitBias', value);
  value.forEach((e, i) => {
    if (typeof e !== 'object' || e === null) throw v.invalid('{ token, bias } or { text, bias }', `logitBias[${i}]`, e);
    const r = e as Record<string, unknown>;
    const keys = Object.keys(r).filter((k) => k !== 'bias');
    if (keys.length !== 1 || (keys[0] !== 'token' && keys[0] !== 'text'))
      throw v.invalid('{ token, bias } or { text, bias }', `logitBias[${i}]`, e);
    if (keys[0] === 'token') entries.push({ token: v.integer(r.token, `logitBias[${i}].token`, 0, 2 ** 31 - 1), bias: bias(r.bias, `logitBias[${i}].bias`) });
    else {
      if (typeof r.text !== 'string' || r.text.length === 0) throw v.invalid('a non-empty string', `logitBias[${i}].text`, r.text);
      entries.push({ text: r.text, bias: bias(r.bias, `logitBias[${i}].bias`) });
    }
  });
  return entries;
}

function schemaGrammar(o: SamplingOptions): Grammar {
  if (o.grammar !== undefined)
    throw new HalfbyteError('INVALID_ARGUMENT', 'Expected either grammar or jsonSchema but received both');
  return new Grammar(jsonSchemaToGrammar(o.jsonSchema as JsonSchema));
}

function samplerSettings(o: SamplingOptions): SamplerSettings {
  if (o.mirostat !== undefined && o.mirostat !== 0 && o.mirostat !== 2)
    throw v.invalid('0 (off) or 2 (mirostat v2; v1 is not supported)', 'mirostat', o.mirostat);
  const breakers = o.drySequenceBreakers ?? defaultBreakers;
  if (!Array.isArray(breakers) || breakers.some((b) => typeof b !== 'string' || b.length === 0))
    throw v.invalid('an array of non-empty strings', 'drySequenceBreakers', o.drySequenceBreakers);
  return {
    native: {
      temperature: v.number(o.temperature, 'temperature', 0, 1e6, 0.8),
      topK: v.integer(o.topK, 'topK', 0, 2 ** 31 - 1, 40),
      topP: v.number(o.topP, 'topP', 0, 1, 0.95),
      minP: v.number(o.minP, 'minP', 0, 1, 0.05),
      typicalP: v.number(o.typicalP, 'typicalP', 0, 1, 1),
      repeatPenalty: v.number(o.repeatPenalty, 'repeatPenalty', Number.MIN_VALUE, 1e6, 1),
      presencePenalty: v.number(o.presencePenalty, 'presencePenalty', -1e6, 1e6, 0),
      frequencyPenalty: v.number(o.frequencyPenalty, 'frequencyPenalty', -1e6, 1e6, 0),
      repeatLastN: v.integer(o.repeatLastN, 'repeatLastN', 0, 1 << 20, 64),
      dryMultiplier: v.number(o.dryMultiplier, 'dryMultiplier', 0, 1e6, 0),
      dryBase: v.number(o.dryBase, 'dryBase', 1, 1e6, 1.75),
      dryAllowedLength: v.integer(o.dryAllowedLength, 'dryAllowedLength', 0, 1 << 20, 2),
      dryPenaltyLastN: v.integer(o.dryPenaltyLastN, 'dryPenaltyLastN', -1, 1 << 20, -1),
      drySequenceBreakers: breakers,
      xtcProbability: v.number(o.xtcProbability, 'xtcProbability', 0, 1, 0),
      xtcThreshold: v.number(o.xtcThreshold, 'xtcThreshold', 0, 1, 0.1),
      mirostat: o.mirostat ?? 0,
      mirostatTau: v.number(o.mirostatTau, 'mirostatTau', 0, 1e6, 5),
      mirostatEta: v.number(o.mirostatEta, 'mirostatEta', 0, 1e6, 0.1),
      seed: v.integer(o.seed, 'seed', 0, Number.MAX_SAFE_INTEGER, Math.floor(Math.random() * 2 ** 32)),
    },
    grammar: o.jsonSchema !== undefined ? schemaGrammar(o) : toGrammar(o.grammar),
    logitBias: logitBiasEntries(o.logitBias),
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

export function newSampler(s: SamplerSettings, model: NativeModel): NativeSampler {
  const a = addon();
  const ids: number[] = [];
  const biases: number[] = [];
  for (const e of s.logitBias) {
    const tokens = 'token' in e ? [e.token] : Array.from(native(() => model.tokenize(e.text, false, false)));
    for (const t of tokens) {
      ids.push(t);
      biases.push(e.bias);
    }
  }
  const options: NativeSamplerOptions = { ...s.native, biasTokens: Int32Array.from(ids), biasValues: Float32Array.from(biases) };
  return native(() => new a.SamplerHandle(model, options, s.grammar?.handle));
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
  } catch (err) {
    throw fromNative(err); // e.g. DISPOSED from a model disposed mid-loop: every error is a HalfbyteError
  } finally {
    unlink();
    sampler.dispose(); // now, not when the GC gets to it: V8 does not see its native memory
  }
}
