import type { NativeAbortFlag, NativeContext, NativeModel, NativeSampler, NativeSamplerOptions } from './addon.js';
import { HalfbyteError } from './errors.js';
import { Grammar } from './grammar.js';
import { type JsonSchema } from './json-schema.js';
/** A logit bias: add `bias` to a token's logit, or to every token of `text` (tokenized without BOS); -Infinity bans. */
export type LogitBiasEntry = {
    token: number;
    bias: number;
} | {
    text: string;
    bias: number;
};
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
export declare const SAMPLING_KEYS: readonly string[];
export declare const GENERATE_KEYS: readonly string[];
/** GENERATE_KEYS without the named ones. */
export declare function keysWithout(keys: readonly string[], ...drop: string[]): readonly string[];
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
    topLogprobs: number;
}
interface SamplerSettings {
    native: Omit<NativeSamplerOptions, 'biasTokens' | 'biasValues'>;
    grammar: Grammar | undefined;
    logitBias: LogitBiasEntry[];
}
/** Validates the options every generation shares (not the prompt or context size). */
export declare function checkGenerateOptions(o: Partial<GenerateOptions>): CheckedGenerateOptions;
export declare function newSampler(s: SamplerSettings, model: NativeModel): NativeSampler;
/** Links an AbortSignal to a native flag; returns a function that unlinks it. */
export declare function linkAbort(signal: AbortSignal | undefined): {
    flag: NativeAbortFlag;
    unlink: () => void;
};
export declare function abortedError(signal: AbortSignal | undefined): HalfbyteError;
/** Awaits a native call, turning its errors into HalfbyteErrors (ABORTED keeps the signal's reason). */
export declare function nativeCall<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T>;
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
export declare function generateTokens(run: GenerationRun): AsyncGenerator<GenerationChunk>;
export {};
