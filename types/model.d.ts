import type { NativeModel } from './addon.js';
import { type ChatMessage, type ChatTemplateOptions } from './chat.js';
import { ChatSession, type ChatSessionOptions } from './chat-session.js';
import { Grammar } from './grammar.js';
import type { JsonSchema } from './json-schema.js';
import { type EmbedOptions, type PerplexityOptions, type PerplexityResult, type ScoreOptions, type ScoreResult } from './evaluation.js';
import { type GenerateOptions, type GenerationChunk } from './generation.js';
import { Session, type SessionOptions } from './session.js';
import { type TokenizeStreamOptions } from './stream.js';
export interface LoadOptions {
    /** Worker threads for matrix work. Default: the number of physical cores. */
    threads?: number;
    /** Default context (KV cache) size for generations. Default: min(model context length, 4096). */
    contextSize?: number;
    /** Load only the tokenizer (works with vocabulary-only GGUF files). */
    vocabOnly?: boolean;
    /**
     * Copy Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q8_0, Q4_K, Q5_K and Q6_K matrices into an 8-row
     * interleaved layout at load, when the CPU's kernels have one (x86-64 with AVX2): faster
     * generation and about 2x faster prompt matrix work. The mapped file pages of those matrices are
     * released, so memory use stays about the file size (Q4_K's layout is 2.8% larger, Q5_K's 2.3%),
     * but the copies are private to this process where file pages would be shared between processes
     * loading the same file. `info.packedBytes` says how much was copied. Default true.
     */
    packWeights?: boolean;
    /**
     * Keep the packed layout (see packWeights) in a cache file, so later loads of the same model
     * map it instead of packing again: no copy, no fresh memory, and the system's page cache shares
     * it between processes. `true` uses the user's cache folder (`$XDG_CACHE_HOME/halfbyte/packed`
     * or `~/.cache/halfbyte/packed`; `~/Library/Caches/halfbyte/packed` on macOS;
     * `%LOCALAPPDATA%\halfbyte\packed` on Windows); a string names the folder. The file is about
     * the size of the model's matrices, named by the model's fingerprint, and written once (under a
     * temporary name, then renamed). A file that does not match (another halfbyte layout, a changed
     * model, a failed checksum) is rewritten; a folder that cannot be written leaves loading as without
     * the option. `info.packCache` says what happened. Default false (nothing is written).
     */
    packCache?: boolean | string;
    /**
     * Where the layers run. `false` (the default): the CPU. `'cuda'`: an NVIDIA GPU through the CUDA
     * backend; fails with GPU_UNAVAILABLE when this binary has no CUDA backend or the machine no usable
     * device. `'auto'`: the GPU when there is one, else the CPU, with the reason in `info.gpu.reason`.
     * The default install is CPU-only; the CUDA backend is built from source (docs/cuda.md).
     */
    gpu?: 'cuda' | 'auto' | false;
    /** With `gpu`: how many layers, from the first, run on the GPU (the rest on the CPU). Default: all. */
    gpuLayers?: number;
    /** Aborts loading; the promise then rejects with code ABORTED. */
    signal?: AbortSignal;
    /** Called as the weights are paged in. */
    onProgress?: (progress: LoadProgress) => void;
}
export interface LoadProgress {
    loadedBytes: number;
    totalBytes: number;
}
export interface ModelInfo {
    architecture: string;
    name: string;
    contextLength: number;
    embeddingLength: number;
    layers: number;
    heads: number;
    kvHeads: number;
    feedForwardLength: number;
    vocabSize: number;
    /** general.file_type (llama.cpp's LLAMA_FTYPE numbering), 0 if absent. */
    fileType: number;
    fileSize: number;
    vocabOnly: boolean;
    threads: number;
    tokenizer: {
        model: string;
        pre: string;
        bos: number;
        eos: number;
        addBos: boolean;
        addEos: boolean;
        eogTokens: number[];
    };
    /** Tensor type name -> number of tensors of that type. */
    tensorTypes: Record<string, number>;
    /** Bytes of weights in the 8-row layout (see LoadOptions.packWeights), copied at load or mapped from the pack cache; 0 if none. */
    packedBytes: number;
    /** Set when packWeights was on but the packed copy would not fit in available memory: why (the weights stay in place). */
    packSkipped?: string;
    /** With LoadOptions.packCache: "loaded PATH", "written PATH", "stale (why), rewritten PATH", "not written: why" or "not used: why" (kernels without a packed layout). */
    packCache?: string;
    chatTemplate: string | null;
    /** Where the layers run: `backend` 'cpu' or 'cuda', how many layers are offloaded, and with `gpu: 'auto'` on the CPU, why. */
    gpu: GpuInfo;
}
export interface GpuInfo {
    backend: 'cpu' | 'cuda';
    /** Layers running on the GPU (0 on the CPU). */
    offloadedLayers: number;
    /** Set when `gpu: 'auto'` fell back to the CPU: why. */
    reason?: string;
}
export interface TokenizeOptions {
    /** Add BOS/EOS as the vocabulary asks. Default true. */
    addSpecial?: boolean;
    /** Turn special-token text such as `<|eot_id|>` into its control token. Default false. */
    parseSpecial?: boolean;
}
export interface DetokenizeOptions {
    /** Render control tokens (BOS, EOS, ...) as their text. Default false. */
    renderSpecial?: boolean;
}
export type { GenerateOptions, GenerationChunk, LogitBiasEntry, SamplingOptions, TokenLogprob } from './generation.js';
export type ChatOptions = Omit<GenerateOptions, 'addSpecial'> & ChatTemplateOptions;
export interface EvaluateOptions {
    /** 'last': only the last position's row (default); 'all': one row per token. */
    logits?: 'last' | 'all';
    signal?: AbortSignal;
}
export interface EvaluateResult {
    /** Rows of nVocab floats, in token order. */
    logits: Float32Array;
    nVocab: number;
}
/**
 * What load() returns: await it for the Model, or iterate it for progress events first
 * (`for await (const p of task) …; const model = await task`).
 */
export declare class LoadTask implements PromiseLike<Model>, AsyncIterable<LoadProgress> {
    private readonly gpuInfo;
    private readonly events;
    private wake;
    private done;
    private readonly promise;
    /** @internal Use load(). */
    constructor(path: string, options: LoadOptions, gpuInfo: GpuInfo);
    private start;
    then<T1 = Model, T2 = never>(onfulfilled?: ((value: Model) => T1 | PromiseLike<T1>) | null, onrejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null): Promise<T1 | T2>;
    catch<T = never>(onrejected?: ((reason: unknown) => T | PromiseLike<T>) | null): Promise<Model | T>;
    [Symbol.asyncIterator](): AsyncIterator<LoadProgress>;
}
/** The default folder of LoadOptions.packCache: true. */
export declare function defaultPackCacheDir(): string;
/** Loads a GGUF model. Await the result for the Model; iterate it for progress events. */
export declare function load(path: string, options?: LoadOptions): LoadTask;
export declare class Model {
    /** Architecture, sizes, tokenizer and tensor types of the loaded file. */
    readonly info: ModelInfo;
    /** The file it was loaded from, as an absolute path. */
    readonly path: string;
    private handle;
    private readonly defaultContextSize;
    /** @internal Use load(). */
    constructor(handle: NativeModel, contextSize: number | undefined, path: string, gpu: GpuInfo);
    /** @internal The live native handle; throws DISPOSED after dispose(). */
    native(): NativeModel;
    /** @internal */
    get contextSize(): number;
    tokenize(text: string, options?: TokenizeOptions): Int32Array;
    /**
     * Tokenizes text that arrives in chunks (an async iterable or a ReadableStream of strings),
     * yielding ids as soon as they are certain: all of them together are exactly
     * tokenize(whole text), wherever the chunks split.
     */
    tokenizeStream(source: AsyncIterable<string> | ReadableStream<string>, options?: TokenizeStreamOptions): AsyncIterable<Int32Array>;
    /** Text of a token sequence; bytes that do not form valid UTF-8 become U+FFFD. */
    detokenize(tokens: ArrayLike<number>, options?: DetokenizeOptions): string;
    /** The raw bytes of one token's text (may be part of a multi-byte character). */
    tokenBytes(token: number, options?: DetokenizeOptions): Uint8Array;
    /** Whether a token ends generation (EOS, EOT, ...). */
    isEndOfGeneration(token: number): boolean;
    /**
     * Generates text after a prompt, one token per iteration. Ends at an end-of-generation token
     * (not yielded), at maxTokens, at a stop string (not yielded) or when the context is full.
     * Breaking out of the loop frees the native state at once.
     */
    generate(prompt: string | ArrayLike<number>, options?: GenerateOptions): AsyncIterable<GenerationChunk>;
    private runGeneration;
    /** The text of a special token as templates write it ('' for -1, i.e. no such token). */
    private specialText;
    /** The prompt text a chat template makes of these messages. */
    applyChatTemplate(messages: ChatMessage[], options?: ChatTemplateOptions): string;
    /**
     * The prompt tokens of a conversation: the rendered template, with special-token text turned
     * into control tokens and BOS added only if the template did not already write it.
     */
    chatTokens(messages: ChatMessage[], options?: ChatTemplateOptions): Int32Array;
    /** Generates the assistant's reply to a conversation, formatted with the file's chat template. */
    chat(messages: ChatMessage[], options?: ChatOptions): AsyncIterable<GenerationChunk>;
    /** A KV cache that lives across calls; each call reuses the prefix it shares with the last. */
    /**
     * Generates JSON valid against `schema` and resolves to the parsed value. The output is held to
     * the schema by a grammar (jsonSchemaToGrammar); it ends where the JSON is complete. Throws
     * GRAMMAR_INCOMPLETE if it stopped before (maxTokens, a stop string, a full context),
     * UNSUPPORTED_SCHEMA for keywords a grammar cannot enforce.
     */
    generateJson(prompt: string | ArrayLike<number>, schema: JsonSchema, options?: Omit<GenerateOptions, 'grammar' | 'jsonSchema'>): Promise<unknown>;
    /**
     * Parses a GBNF grammar once, for reuse as the `grammar` option of generations, chats and
     * sessions (each keeps its own position in it). Throws GRAMMAR_SYNTAX naming the line and
     * column of the first error.
     */
    createGrammar(gbnf: string): Grammar;
    /**
     * A conversation that keeps its history as messages and its KV cache across turns (see
     * ChatSession): prompt(text) streams the reply, with tools, reasoning and context shifts.
     */
    createChatSession(options?: ChatSessionOptions): ChatSession;
    createSession(options?: SessionOptions): Session;
    /**
     * log p(continuation | prompt) for each continuation (multiple-choice scoring). The prompt is
     * evaluated once for all of them.
     */
    score(prompt: string, continuations: string[], options?: ScoreOptions): Promise<ScoreResult[]>;
    /** An embedding of a text (or one per text) from the final hidden states. */
    embed(text: string, options?: EmbedOptions): Promise<Float32Array>;
    embed(texts: string[], options?: EmbedOptions): Promise<Float32Array[]>;
    /** Perplexity of a text by llama.cpp's method (see README: Perplexity). */
    perplexity(text: string, options?: PerplexityOptions): Promise<PerplexityResult>;
    /**
     * Logits of a token sequence evaluated from position 0 in one batch: the last row, or one row
     * per token (`logits: 'all'`). Stateless: nothing is kept between calls.
     */
    evaluate(tokens: ArrayLike<number>, options?: EvaluateOptions): Promise<EvaluateResult>;
    /** Frees the native model now (weights are unmapped once no generation still uses them). */
    dispose(): void;
    get disposed(): boolean;
    [Symbol.asyncDispose](): Promise<void>;
    [Symbol.dispose](): void;
}
