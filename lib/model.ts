// The public Model API: load(), tokenize/detokenize, generate (async iterator), evaluate.
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { outsideAsar } from './asar.js';
import type { NativeLoadOptions, NativeModel, NativeModelInfo } from './addon.js';
import { addon } from './addon.js';
import { CHAT_TEMPLATE_KEYS, renderChatTemplate, validateMessages, type ChatMessage, type ChatTemplateOptions } from './chat.js';
import { ChatSession, type ChatSessionOptions } from './chat-session.js';
import { Grammar } from './grammar.js';
import type { JsonSchema } from './json-schema.js';
import { HalfbyteError, fromNative, native, nativeAsync } from './errors.js';
import {
  embed,
  perplexity,
  score,
  type EmbedOptions,
  type PerplexityOptions,
  type PerplexityResult,
  type ScoreOptions,
  type ScoreResult,
} from './evaluation.js';
import {
  abortedError,
  checkGenerateOptions,
  generateTokens,
  GENERATE_KEYS,
  keysWithout,
  linkAbort,
  newSampler,
  type CheckedGenerateOptions,
  type GenerateOptions,
  type GenerationChunk,
} from './generation.js';
import { Session, type SessionOptions } from './session.js';
import { tokenizeStream, type TokenizeStreamOptions } from './stream.js';
import * as v from './validate.js';

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
  tokenizer: { model: string; pre: string; bos: number; eos: number; addBos: boolean; addEos: boolean; eogTokens: number[] };
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
export class LoadTask implements PromiseLike<Model>, AsyncIterable<LoadProgress> {
  private readonly events: LoadProgress[] = [];
  private wake: (() => void) | undefined;
  private done = false;
  private readonly promise: Promise<Model>;

  /** @internal Use load(). */
  constructor(path: string, options: LoadOptions, private readonly gpuInfo: GpuInfo) {
    this.promise = this.start(path, options);
    // Iterating is optional: an unobserved rejection must still surface through then().
    this.promise.catch(() => {});
  }

  private async start(path: string, options: LoadOptions): Promise<Model> {
    const { flag, unlink } = linkAbort(options.signal);
    const threads = options.threads ?? 0;
    const onProgress = (loadedBytes: number, totalBytes: number) => {
      const p = { loadedBytes, totalBytes };
      this.events.push(p);
      this.wake?.();
      if (options.onProgress) options.onProgress(p);
    };
    try {
      if (options.signal?.aborted) throw abortedError(options.signal);
      const cacheDir = typeof options.packCache === 'string' ? options.packCache : undefined;
      // A folder that cannot be made is reported by the load (info.packCache), not thrown.
      if (cacheDir !== undefined) await mkdir(cacheDir, { recursive: true }).catch(() => {});
      const native: NativeLoadOptions = { threads, vocabOnly: options.vocabOnly ?? false, packWeights: options.packWeights ?? true };
      if (cacheDir !== undefined) native.packCacheDir = cacheDir;
      const handle = await nativeAsync(addon().loadModel(path, native, onProgress, flag));
      return new Model(handle, options.contextSize, resolve(path), this.gpuInfo);
    } catch (err) {
      const e = fromNative(err);
      if (e.code === 'ABORTED') throw abortedError(options.signal);
      throw e;
    } finally {
      unlink();
      this.done = true;
      this.wake?.();
    }
  }

  then<T1 = Model, T2 = never>(
    onfulfilled?: ((value: Model) => T1 | PromiseLike<T1>) | null,
    onrejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    return this.promise.then(onfulfilled, onrejected);
  }

  catch<T = never>(onrejected?: ((reason: unknown) => T | PromiseLike<T>) | null): Promise<Model | T> {
    return this.promise.catch(onrejected);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LoadProgress> {
    let next = 0;
    for (;;) {
      while (next < this.events.length) yield this.events[next++];
      if (this.done) break;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    // Surface a load failure to `for await` users too.
    await this.promise;
  }
}

const LOAD_KEYS = v.optionKeys<LoadOptions>({
  threads: true, contextSize: true, vocabOnly: true, packWeights: true, packCache: true, gpu: true, gpuLayers: true, signal: true,
  onProgress: true,
});

// The CUDA backend (native/cuda/) builds as a native library and its tests, but no Node binary
// loads it yet (docs/cuda.md): every binary this package loads is CPU-only.
const CPU_ONLY: GpuInfo = Object.freeze({ backend: 'cpu', offloadedLayers: 0 });
const NO_GPU_BACKEND = 'this halfbyte binary was built without the CUDA backend (the default install is CPU-only; see docs/cuda.md)';

/** The default folder of LoadOptions.packCache: true. */
export function defaultPackCacheDir(): string {
  const home = homedir();
  if (process.platform === 'win32') return join(process.env.LOCALAPPDATA || join(home, 'AppData', 'Local'), 'halfbyte', 'packed');
  if (process.platform === 'darwin') return join(home, 'Library', 'Caches', 'halfbyte', 'packed');
  return join(process.env.XDG_CACHE_HOME || join(home, '.cache'), 'halfbyte', 'packed');
}
const TOKENIZE_KEYS = v.optionKeys<TokenizeOptions>({ addSpecial: true, parseSpecial: true });
const DETOKENIZE_KEYS = v.optionKeys<DetokenizeOptions>({ renderSpecial: true });
const EVALUATE_KEYS = v.optionKeys<EvaluateOptions>({ logits: true, signal: true });
const CHAT_KEYS = [...keysWithout(GENERATE_KEYS, 'addSpecial'), ...CHAT_TEMPLATE_KEYS];
const GENERATE_JSON_KEYS = keysWithout(GENERATE_KEYS, 'grammar', 'jsonSchema');

function packCacheDir(value: unknown): string | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return defaultPackCacheDir();
  if (typeof value === 'string' && value.length > 0 && !value.includes('\0')) return resolve(outsideAsar(value));
  throw v.invalid('true, false or a folder path', 'packCache', value);
}

/** Loads a GGUF model. Await the result for the Model; iterate it for progress events. */
export function load(path: string, options?: LoadOptions): LoadTask {
  v.string(path, 'path');
  const o = v.optionsObject(options, 'load options', LOAD_KEYS);
  const checked: LoadOptions = {
    threads: o.threads === undefined ? undefined : v.threads(o.threads),
    contextSize: o.contextSize === undefined ? undefined : v.integer(o.contextSize, 'contextSize', 1, 1 << 24),
    vocabOnly: v.boolean(o.vocabOnly, 'vocabOnly', false),
    packWeights: v.boolean(o.packWeights, 'packWeights', true),
    packCache: packCacheDir(o.packCache),
    signal: v.signal(o.signal, 'signal'),
    onProgress: o.onProgress,
  };
  if (o.gpu !== undefined && o.gpu !== false && o.gpu !== 'cuda' && o.gpu !== 'auto') throw v.invalid("'cuda', 'auto' or false", 'gpu', o.gpu);
  const gpu = o.gpu ?? false;
  if (o.gpuLayers !== undefined && gpu === false)
    throw new HalfbyteError('INVALID_ARGUMENT', "Expected gpu: 'cuda' or 'auto' for gpuLayers but received gpu: false");
  if (o.gpuLayers !== undefined) v.integer(o.gpuLayers, 'gpuLayers', 0, 1 << 20);
  if (gpu === 'cuda') throw new HalfbyteError('GPU_UNAVAILABLE', `Expected a CUDA backend for gpu: 'cuda' but ${NO_GPU_BACKEND}`);
  // gpuLayers is checked above; with no GPU backend there is nothing to hand it to.
  const gpuInfo: GpuInfo = gpu === 'auto' ? { ...CPU_ONLY, reason: NO_GPU_BACKEND } : CPU_ONLY;
  if (checked.packCache !== undefined && (checked.vocabOnly || !checked.packWeights))
    throw new HalfbyteError(
      'INVALID_ARGUMENT',
      `Expected packWeights: true and vocabOnly: false for packCache but received ${checked.vocabOnly ? 'vocabOnly: true' : 'packWeights: false'}`,
    );
  if (checked.onProgress !== undefined && typeof checked.onProgress !== 'function')
    throw v.invalid('a function', 'onProgress', checked.onProgress);
  return new LoadTask(outsideAsar(path), checked, gpuInfo);
}

export class Model {
  /** Architecture, sizes, tokenizer and tensor types of the loaded file. */
  readonly info: ModelInfo;
  /** The file it was loaded from, as an absolute path. */
  readonly path: string;
  private handle: NativeModel | undefined;
  private readonly defaultContextSize: number;

  /** @internal Use load(). */
  constructor(handle: NativeModel, contextSize: number | undefined, path: string, gpu: GpuInfo) {
    this.handle = handle;
    this.path = path;
    const n: NativeModelInfo = native(() => handle.info());
    this.info = Object.freeze({
      architecture: n.architecture,
      name: n.name,
      contextLength: n.contextLength,
      embeddingLength: n.embeddingLength,
      layers: n.layers,
      heads: n.heads,
      kvHeads: n.kvHeads,
      feedForwardLength: n.feedForwardLength,
      vocabSize: n.vocabSize,
      fileType: n.fileType,
      fileSize: n.fileSize,
      vocabOnly: n.vocabOnly,
      threads: n.threads,
      tokenizer: Object.freeze({
        model: n.tokenizerModel,
        pre: n.tokenizerPre,
        bos: n.bos,
        eos: n.eos,
        addBos: n.addBos,
        addEos: n.addEos,
        eogTokens: n.eogTokens,
      }),
      tensorTypes: Object.freeze({ ...n.tensorTypes }),
      packedBytes: n.packedBytes,
      ...(n.packSkipped ? { packSkipped: n.packSkipped } : {}),
      ...(n.packCache ? { packCache: n.packCache } : {}),
      chatTemplate: n.chatTemplate,
      gpu: Object.freeze(gpu),
    });
    this.defaultContextSize = contextSize ?? Math.max(1, Math.min(n.contextLength || 4096, 4096));
  }

  /** @internal The live native handle; throws DISPOSED after dispose(). */
  native(): NativeModel {
    if (!this.handle) throw new HalfbyteError('DISPOSED', 'This model has been disposed');
    return this.handle;
  }

  /** @internal */
  get contextSize(): number {
    return this.defaultContextSize;
  }

  tokenize(text: string, options?: TokenizeOptions): Int32Array {
    v.string(text, 'text');
    const o = v.optionsObject(options, 'tokenize options', TOKENIZE_KEYS);
    const addSpecial = v.boolean(o.addSpecial, 'addSpecial', true);
    const parseSpecial = v.boolean(o.parseSpecial, 'parseSpecial', false);
    const h = this.native();
    return native(() => h.tokenize(text, addSpecial, parseSpecial));
  }

  /**
   * Tokenizes text that arrives in chunks (an async iterable or a ReadableStream of strings),
   * yielding ids as soon as they are certain: all of them together are exactly
   * tokenize(whole text), wherever the chunks split.
   */
  tokenizeStream(source: AsyncIterable<string> | ReadableStream<string>, options?: TokenizeStreamOptions): AsyncIterable<Int32Array> {
    this.native();
    return tokenizeStream(this, source, options);
  }

  /** Text of a token sequence; bytes that do not form valid UTF-8 become U+FFFD. */
  detokenize(tokens: ArrayLike<number>, options?: DetokenizeOptions): string {
    const ids = v.tokens(tokens, 'tokens');
    const o = v.optionsObject(options, 'detokenize options', DETOKENIZE_KEYS);
    const renderSpecial = v.boolean(o.renderSpecial, 'renderSpecial', false);
    const h = this.native();
    return new TextDecoder().decode(native(() => h.detokenize(ids, renderSpecial)));
  }

  /** The raw bytes of one token's text (may be part of a multi-byte character). */
  tokenBytes(token: number, options?: DetokenizeOptions): Uint8Array {
    v.integer(token, 'token', -(2 ** 31), 2 ** 31 - 1);
    const o = v.optionsObject(options, 'detokenize options', DETOKENIZE_KEYS);
    const h = this.native();
    return native(() => h.tokenPiece(token, v.boolean(o.renderSpecial, 'renderSpecial', false)));
  }

  /** Whether a token ends generation (EOS, EOT, ...). */
  isEndOfGeneration(token: number): boolean {
    v.integer(token, 'token', -(2 ** 31), 2 ** 31 - 1);
    const h = this.native();
    return native(() => h.isEog(token));
  }

  /**
   * Generates text after a prompt, one token per iteration. Ends at an end-of-generation token
   * (not yielded), at maxTokens, at a stop string (not yielded) or when the context is full.
   * Breaking out of the loop frees the native state at once.
   */
  generate(prompt: string | ArrayLike<number>, options?: GenerateOptions): AsyncIterable<GenerationChunk> {
    const o = v.optionsObject(options, 'generate options', GENERATE_KEYS);
    const addSpecial = v.boolean(o.addSpecial, 'addSpecial', true);
    const promptTokens = typeof prompt === 'string' ? this.tokenize(prompt, { addSpecial }) : v.tokens(prompt, 'prompt');
    if (promptTokens.length === 0)
      throw new HalfbyteError('INVALID_ARGUMENT', 'Expected a prompt of at least one token but received an empty prompt');
    const contextSize = v.integer(o.contextSize, 'contextSize', 1, 1 << 24, this.defaultContextSize);
    if (promptTokens.length >= contextSize)
      throw new HalfbyteError(
        'CONTEXT_FULL',
        `Expected a prompt shorter than the context size ${contextSize} but received ${promptTokens.length} tokens`,
      );
    const checked = checkGenerateOptions(o);
    const maxTokens = checked.maxTokens ?? contextSize - promptTokens.length;
    const h = this.native();
    return {
      [Symbol.asyncIterator]: () => {
        // Only as much KV cache as this generation can use.
        const nCtx = Math.min(contextSize, promptTokens.length + Math.max(maxTokens, 1));
        return this.runGeneration(h, promptTokens, nCtx, maxTokens, checked, contextSize);
      },
    };
  }

  private async *runGeneration(
    h: NativeModel,
    promptTokens: Int32Array,
    nCtx: number,
    maxTokens: number,
    options: CheckedGenerateOptions,
    contextSize: number,
  ): AsyncGenerator<GenerationChunk> {
    const a = addon();
    // Only nCtx tokens of KV cache, for a generation presented as contextSize long.
    const ctx = native(() => new a.ContextHandle(h, nCtx, contextSize));
    try {
      const sampler = newSampler(options.sampling, h);
      native(() => sampler.accept(promptTokens));
      yield* generateTokens({
        model: h,
        ctx,
        sampler,
        feed: promptTokens,
        maxTokens,
        options,
        // A one-off context ends the generation when it is full.
        makeRoom: async (feed) => (ctx.nPast() + feed.length <= nCtx ? feed : null),
        evaluated: () => {},
      });
    } finally {
      ctx.dispose();
    }
  }

  /** The text of a special token as templates write it ('' for -1, i.e. no such token). */
  private specialText(id: number): string {
    return id >= 0 ? new TextDecoder().decode(this.tokenBytes(id, { renderSpecial: true })) : '';
  }

  /** The prompt text a chat template makes of these messages. */
  applyChatTemplate(messages: ChatMessage[], options?: ChatTemplateOptions): string {
    const msgs = validateMessages(messages);
    const t = this.info.tokenizer;
    return renderChatTemplate(this.info.chatTemplate, msgs, { bos: this.specialText(t.bos), eos: this.specialText(t.eos) }, options);
  }

  /**
   * The prompt tokens of a conversation: the rendered template, with special-token text turned
   * into control tokens and BOS added only if the template did not already write it.
   */
  chatTokens(messages: ChatMessage[], options?: ChatTemplateOptions): Int32Array {
    const prompt = this.applyChatTemplate(messages, options);
    const t = this.info.tokenizer;
    const bosText = this.specialText(t.bos);
    const startsWithBos = bosText.length > 0 && prompt.startsWith(bosText);
    return this.tokenize(prompt, { addSpecial: !startsWithBos, parseSpecial: true });
  }

  /** Generates the assistant's reply to a conversation, formatted with the file's chat template. */
  chat(messages: ChatMessage[], options?: ChatOptions): AsyncIterable<GenerationChunk> {
    const o = v.optionsObject(options, 'chat options', CHAT_KEYS);
    const { template, addGenerationPrompt, variables, ...generateOptions } = o;
    return this.generate(this.chatTokens(messages, { template, addGenerationPrompt, variables }), generateOptions);
  }

  /** A KV cache that lives across calls; each call reuses the prefix it shares with the last. */
  /**
   * Generates JSON valid against `schema` and resolves to the parsed value. The output is held to
   * the schema by a grammar (jsonSchemaToGrammar); it ends where the JSON is complete. Throws
   * GRAMMAR_INCOMPLETE if it stopped before (maxTokens, a stop string, a full context),
   * UNSUPPORTED_SCHEMA for keywords a grammar cannot enforce.
   */
  async generateJson(prompt: string | ArrayLike<number>, schema: JsonSchema, options?: Omit<GenerateOptions, 'grammar' | 'jsonSchema'>): Promise<unknown> {
    const o = v.optionsObject(options, 'generateJson options', GENERATE_JSON_KEYS);
    let text = '';
    for await (const c of this.generate(prompt, { ...o, jsonSchema: schema })) text += c.text;
    try {
      return JSON.parse(text);
    } catch {
      throw new HalfbyteError('GRAMMAR_INCOMPLETE', `The output stopped before the JSON was complete: ${JSON.stringify(text.slice(0, 200))}`);
    }
  }

  /**
   * Parses a GBNF grammar once, for reuse as the `grammar` option of generations, chats and
   * sessions (each keeps its own position in it). Throws GRAMMAR_SYNTAX naming the line and
   * column of the first error.
   */
  createGrammar(gbnf: string): Grammar {
    this.native();
    return new Grammar(gbnf);
  }

  /**
   * A conversation that keeps its history as messages and its KV cache across turns (see
   * ChatSession): prompt(text) streams the reply, with tools, reasoning and context shifts.
   */
  createChatSession(options?: ChatSessionOptions): ChatSession {
    this.native();
    return new ChatSession(this, options);
  }

  createSession(options?: SessionOptions): Session {
    return new Session(this, options);
  }

  /**
   * log p(continuation | prompt) for each continuation (multiple-choice scoring). The prompt is
   * evaluated once for all of them.
   */
  score(prompt: string, continuations: string[], options?: ScoreOptions): Promise<ScoreResult[]> {
    return score(this.native(), this, this.defaultContextSize, prompt, continuations, options);
  }

  /** An embedding of a text (or one per text) from the final hidden states. */
  embed(text: string, options?: EmbedOptions): Promise<Float32Array>;
  embed(texts: string[], options?: EmbedOptions): Promise<Float32Array[]>;
  async embed(input: string | string[], options?: EmbedOptions): Promise<Float32Array | Float32Array[]> {
    const texts = typeof input === 'string' ? [input] : input;
    if (!Array.isArray(texts) || texts.length === 0) throw v.invalid('a string or a non-empty array of strings', 'text', input);
    texts.forEach((t, i) => v.string(t, Array.isArray(input) ? `texts[${i}]` : 'text'));
    const out = await embed(this.native(), this, this.defaultContextSize, texts, options);
    return typeof input === 'string' ? out[0] : out;
  }

  /** Perplexity of a text by llama.cpp's method (see README: Perplexity). */
  perplexity(text: string, options?: PerplexityOptions): Promise<PerplexityResult> {
    const t = this.info.tokenizer;
    return perplexity(this.native(), this, t.bos, t.addBos, text, options);
  }

  /**
   * Logits of a token sequence evaluated from position 0 in one batch: the last row, or one row
   * per token (`logits: 'all'`). Stateless: nothing is kept between calls.
   */
  async evaluate(tokens: ArrayLike<number>, options?: EvaluateOptions): Promise<EvaluateResult> {
    const ids = v.tokens(tokens, 'tokens');
    const o = v.optionsObject(options, 'evaluate options', EVALUATE_KEYS);
    if (o.logits !== undefined && o.logits !== 'last' && o.logits !== 'all')
      throw v.invalid("'last' or 'all'", 'logits', o.logits);
    if (ids.length === 0)
      throw new HalfbyteError('INVALID_ARGUMENT', 'Expected at least one token for tokens but received an empty list');
    const signal = v.signal(o.signal, 'signal');
    const a = addon();
    const h = this.native();
    const ctx = native(() => new a.ContextHandle(h, ids.length, this.defaultContextSize));
    const { flag, unlink } = linkAbort(signal);
    try {
      const logits = await ctx.decode(ids, o.logits === 'all', flag);
      return { logits, nVocab: this.info.vocabSize };
    } catch (err) {
      const e = fromNative(err);
      throw e.code === 'ABORTED' ? abortedError(signal) : e;
    } finally {
      unlink();
      ctx.dispose();
    }
  }

  /** Frees the native model now (weights are unmapped once no generation still uses them). */
  dispose(): void {
    if (this.handle) {
      this.handle.dispose();
      this.handle = undefined;
    }
  }

  get disposed(): boolean {
    return this.handle === undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
