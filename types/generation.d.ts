import type { NativeAbortFlag, NativeContext, NativeModel, NativeSampler } from './addon.js';
import { HalfbyteError } from './errors.js';
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
    topLogprobs: number;
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
/** Validates the options every generation shares (not the prompt or context size). */
export declare function checkGenerateOptions(o: Partial<GenerateOptions>): CheckedGenerateOptions;
export declare function newSampler(s: SamplerSettings): NativeSampler;
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
