// Sessions: a KV cache that lives across calls. Each call reuses the longest common token prefix
// with what is cached and evaluates only the rest.
import type { NativeContext } from './addon.js';
import { addon } from './addon.js';
import { CHAT_TEMPLATE_KEYS, type ChatMessage, type ChatTemplateOptions } from './chat.js';
import { HalfbyteError, native } from './errors.js';
import {
  checkGenerateOptions,
  GENERATE_KEYS,
  generateTokens,
  keysWithout,
  nativeCall,
  newSampler,
  type GenerateOptions,
  type GenerationChunk,
} from './generation.js';
import type { Model } from './model.js';
import * as v from './validate.js';

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

const SESSION_KEYS = v.optionKeys<SessionOptions>({ contextSize: true, contextOverflow: true, keep: true });
const SESSION_GENERATE_KEYS = keysWithout(GENERATE_KEYS, 'contextSize');
const SESSION_CHAT_KEYS = [...keysWithout(SESSION_GENERATE_KEYS, 'addSpecial'), ...CHAT_TEMPLATE_KEYS];

export interface SessionStats {
  /** Tokens the last call found in the cache and did not evaluate again. */
  reusedTokens: number;
  /** Tokens the last call evaluated (prompt remainder and generated tokens fed back). */
  evaluatedTokens: number;
  /** Context shifts in the last call. */
  shifts: number;
}

const STATE_MAGIC = 'halfbyte-session';

export class Session {
  private ctx: NativeContext | undefined;
  private cached: number[] = [];
  private busy = false;
  readonly contextSize: number;
  private readonly overflow: 'error' | 'shift';
  private readonly keep: number;
  /** Figures of the most recent call. */
  stats: SessionStats = { reusedTokens: 0, evaluatedTokens: 0, shifts: 0 };

  /** @internal Use model.createSession(). */
  constructor(
    private readonly model: Model,
    options: SessionOptions | undefined,
  ) {
    const o = v.optionsObject(options, 'session options', SESSION_KEYS);
    this.contextSize = v.integer(o.contextSize, 'contextSize', 2, 1 << 24, model.contextSize);
    if (o.contextOverflow !== undefined && o.contextOverflow !== 'error' && o.contextOverflow !== 'shift')
      throw v.invalid("'error' or 'shift'", 'contextOverflow', o.contextOverflow);
    this.overflow = o.contextOverflow ?? 'error';
    this.keep = v.integer(o.keep, 'keep', 0, this.contextSize - 2, 1);
    const a = addon();
    const h = model.native();
    this.ctx = native(() => new a.ContextHandle(h, this.contextSize));
  }

  /** The tokens whose keys and values are in the cache, in order. */
  get tokens(): readonly number[] {
    return this.cached;
  }

  private live(): NativeContext {
    if (!this.ctx) throw new HalfbyteError('DISPOSED', 'This session has been disposed');
    return this.ctx;
  }

  private claim(): void {
    this.live();
    if (this.busy) throw new HalfbyteError('CONTEXT_BUSY', 'A generation is already running on this session');
    this.busy = true;
  }

  /**
   * Keeps the longest prefix of `tokens` that is cached and returns the rest to evaluate. At least
   * one token is always left to evaluate, since the next logits come from evaluating something.
   */
  private reuse(tokens: Int32Array): Int32Array {
    const ctx = this.live();
    let k = 0;
    while (k < tokens.length && k < this.cached.length && this.cached[k] === tokens[k]) k++;
    if (k === tokens.length) k--;
    // A sliding-window model whose ring has moved past position k keeps less (0): evaluate from there.
    k = native(() => ctx.truncate(k));
    this.cached.length = k;
    this.stats = { reusedTokens: k, evaluatedTokens: 0, shifts: 0 };
    return tokens.subarray(k);
  }

  /**
   * Makes room for `feed`: returns what to evaluate, or null if the context is full and the
   * session does not shift. A shift drops the oldest half of the tokens after `keep` and
   * re-evaluates the kept ones (exact: they get the positions they would have had).
   */
  private async makeRoom(feed: Int32Array): Promise<Int32Array | null> {
    const ctx = this.live();
    if (this.cached.length + feed.length <= this.contextSize) return feed;
    if (this.overflow === 'error')
      throw new HalfbyteError(
        'CONTEXT_FULL',
        `The session's context of ${this.contextSize} tokens is full (${this.cached.length} cached, ${feed.length} more needed)`,
      );
    const all = [...this.cached, ...feed];
    const room = this.contextSize - this.keep;
    if (room < 2 || feed.length > this.contextSize - this.keep - 1)
      throw new HalfbyteError('CONTEXT_FULL', `Expected at most ${room - 1} new tokens after the kept ${this.keep} but received ${feed.length}`);
    const tail = all.slice(this.keep);
    const dropped = Math.max(Math.ceil(tail.length / 2), tail.length - room + 1);
    const kept = [...all.slice(0, this.keep), ...tail.slice(dropped)];
    this.cached.length = native(() => ctx.truncate(Math.min(this.keep, this.cached.length)));
    this.stats.shifts++;
    // Everything after the cached prefix is fed again in one batch with the new tokens.
    return Int32Array.from(kept.slice(this.cached.length));
  }

  /**
   * Generates after `prompt`, which is the whole text (or token ids) of the conversation so far:
   * the cached prefix it shares is not evaluated again.
   */
  generate(prompt: string | ArrayLike<number>, options?: SessionGenerateOptions): AsyncIterable<GenerationChunk> {
    const o = v.optionsObject(options, 'generate options', SESSION_GENERATE_KEYS);
    const addSpecial = v.boolean(o.addSpecial, 'addSpecial', true);
    this.live();
    const tokens = typeof prompt === 'string' ? this.model.tokenize(prompt, { addSpecial }) : v.tokens(prompt, 'prompt');
    if (tokens.length === 0)
      throw new HalfbyteError('INVALID_ARGUMENT', 'Expected a prompt of at least one token but received an empty prompt');
    if (this.overflow === 'error' && tokens.length >= this.contextSize)
      throw new HalfbyteError(
        'CONTEXT_FULL',
        `Expected a prompt shorter than the session's context size ${this.contextSize} but received ${tokens.length} tokens`,
      );
    const checked = checkGenerateOptions(o);
    return { [Symbol.asyncIterator]: () => this.run(tokens, checked) };
  }

  private async *run(tokens: Int32Array, checked: ReturnType<typeof checkGenerateOptions>): AsyncGenerator<GenerationChunk> {
    this.claim();
    try {
      const ctx = this.live();
      const feed = this.reuse(tokens);
      const sampler = newSampler(checked.sampling, this.model.native());
      native(() => sampler.accept(tokens));
      yield* generateTokens({
        model: this.model.native(),
        ctx,
        sampler,
        feed,
        maxTokens: checked.maxTokens ?? Number.MAX_SAFE_INTEGER,
        options: checked,
        makeRoom: (f) => this.makeRoom(f),
        evaluated: (t) => {
          for (const x of t) this.cached.push(x);
          this.stats.evaluatedTokens += t.length;
        },
      });
    } catch (err) {
      // An aborted or failed step leaves the cache as the engine rolled it back.
      this.resync();
      throw err;
    } finally {
      this.busy = false;
    }
  }

  /** After an error, trusts the engine's count of cached tokens. */
  private resync(): void {
    if (this.ctx) this.cached.length = Math.min(this.cached.length, this.ctx.nPast());
  }

  /** Like generate, for chat messages formatted with the model's chat template. */
  chat(messages: ChatMessage[], options?: SessionChatOptions): AsyncIterable<GenerationChunk> {
    const o = v.optionsObject(options, 'chat options', SESSION_CHAT_KEYS);
    const { template, addGenerationPrompt, variables, ...rest } = o;
    return this.generate(this.model.chatTokens(messages, { template, addGenerationPrompt, variables }), rest);
  }

  /** Writes the cached tokens and their KV cache to a file. */
  async save(path: string): Promise<void> {
    v.string(path, 'path');
    this.claim();
    try {
      await nativeCall(this.live().saveState(path, STATE_MAGIC, Int32Array.from(this.cached)), undefined);
    } finally {
      this.busy = false;
    }
  }

  /** Restores a state written by save() (for the same model file). */
  async load(path: string): Promise<void> {
    v.string(path, 'path');
    this.claim();
    try {
      const tokens = await nativeCall(this.live().loadState(path, STATE_MAGIC), undefined);
      this.cached = Array.from(tokens);
    } catch (err) {
      this.cached = [];
      throw err;
    } finally {
      this.busy = false;
    }
  }

  dispose(): void {
    this.ctx?.dispose();
    this.ctx = undefined;
    this.cached = [];
  }

  get disposed(): boolean {
    return this.ctx === undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
