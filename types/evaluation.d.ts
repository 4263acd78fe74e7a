import type { NativeModel } from './addon.js';
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
    tokenize(text: string, options?: {
        addSpecial?: boolean;
        parseSpecial?: boolean;
    }): Int32Array;
}
export declare function score(h: NativeModel, tok: Tokenizer, maxContext: number, prompt: string, continuations: string[], options?: ScoreOptions): Promise<ScoreResult[]>;
/**
 * Perplexity by llama.cpp's method (llama-perplexity): tokenize the whole text with BOS; cut it
 * into consecutive chunks of contextSize tokens (the remainder is dropped); in each chunk put BOS
 * in place of the first token (when the vocabulary adds BOS), evaluate it from position 0, and
 * score only the second half: the tokens at positions contextSize/2 + 1 … contextSize - 1, each
 * given everything before it in the chunk. perplexity = exp(mean negative log-likelihood).
 * Like llama-perplexity, needs at least 2 x contextSize tokens.
 */
export declare function perplexity(h: NativeModel, tok: Tokenizer, bos: number, addBos: boolean, text: string, options?: PerplexityOptions): Promise<PerplexityResult>;
export interface EmbedOptions {
    /** How token states become one vector: their mean, or the last token's. Default 'mean'. */
    pooling?: 'mean' | 'last';
    /** Scale to unit length (L2). Default true. */
    normalize?: boolean;
    signal?: AbortSignal;
}
/** One embedding per text, from the model's final hidden states (after the output norm). */
export declare function embed(h: NativeModel, tok: Tokenizer, maxContext: number, texts: string[], options?: EmbedOptions): Promise<Float32Array[]>;
