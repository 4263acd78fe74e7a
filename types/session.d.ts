import { type ChatMessage, type ChatTemplateOptions } from './chat.js';
import { type GenerateOptions, type GenerationChunk } from './generation.js';
import type { Model } from './model.js';
export interface SessionOptions {
    /** KV cache size in tokens. Default: the model's contextSize. */
    contextSize?: number;
    /**
     * What happens when the context is full: 'error' throws CONTEXT_FULL; 'shift' drops the oldest
     * tokens after the first `keep` and goes on. Default 'error'.
     */
    contextOverflow?: 'error' | 'shift';
    /** Tokens at the start that a shift never drops (e.g. BOS and a system prompt). Default 1. */
    keep?: number;
}
export type SessionGenerateOptions = Omit<GenerateOptions, 'contextSize'>;
export type SessionChatOptions = Omit<SessionGenerateOptions, 'addSpecial'> & ChatTemplateOptions;
export interface SessionStats {
    /** Tokens the last call found in the cache and did not evaluate again. */
    reusedTokens: number;
    /** Tokens the last call evaluated (prompt remainder and generated tokens fed back). */
    evaluatedTokens: number;
    /** Context shifts in the last call. */
    shifts: number;
}
export declare class Session {
    private readonly model;
    private ctx;
    private cached;
    private busy;
    readonly contextSize: number;
    private readonly overflow;
    private readonly keep;
    /** Figures of the most recent call. */
    stats: SessionStats;
    /** @internal Use model.createSession(). */
    constructor(model: Model, options: SessionOptions | undefined);
    /** The tokens whose keys and values are in the cache, in order. */
    get tokens(): readonly number[];
    private live;
    private claim;
    /**
     * Keeps the longest prefix of `tokens` that is cached and returns the rest to evaluate. At least
     * one token is always left to evaluate, since the next logits come from evaluating something.
     */
    private reuse;
    /**
     * Makes room for `feed`: returns what to evaluate, or null if the context is full and the
     * session does not shift. A shift drops the oldest half of the tokens after `keep` and
     * re-evaluates the kept ones (exact: they get the positions they would have had).
     */
    private makeRoom;
    /**
     * Generates after `prompt`, which is the whole text (or token ids) of the conversation so far:
     * the cached prefix it shares is not evaluated again.
     */
    generate(prompt: string | ArrayLike<number>, options?: SessionGenerateOptions): AsyncIterable<GenerationChunk>;
    private run;
    /** After an error, trusts the engine's count of cached tokens. */
    private resync;
    /** Like generate, for chat messages formatted with the model's chat template. */
    chat(messages: ChatMessage[], options?: SessionChatOptions): AsyncIterable<GenerationChunk>;
    /** Writes the cached tokens and their KV cache to a file. */
    save(path: string): Promise<void>;
    /** Restores a state written by save() (for the same model file). */
    load(path: string): Promise<void>;
    dispose(): void;
    get disposed(): boolean;
    [Symbol.asyncDispose](): Promise<void>;
    [Symbol.dispose](): void;
}
