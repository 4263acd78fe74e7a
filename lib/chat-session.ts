// Chat sessions: a conversation kept as messages, rendered through the chat template each turn,
// with the KV cache reused across turns (only what changed is evaluated), whole-message context
// shifts, reasoning blocks told apart from answers, and tool calls whose arguments a grammar
// holds to each tool's parameter schema.
import type { ChatMessage } from './chat.js';
import { HalfbyteError } from './errors.js';
import { GENERATE_KEYS, keysWithout, type GenerateOptions, type GenerationChunk } from './generation.js';
import { jsonSchemaToGrammar } from './json-schema.js';
import type { JsonSchema } from './json-schema.js';
import type { Model } from './model.js';
import type { Session } from './session.js';
import { CALL_OPENERS, parseToolCalls, toolCallFormatOf, toolCallGrammar, type ToolCall, type ToolCallFormat } from './tool-calls.js';
import * as v from './validate.js';

export interface ChatTool {
  description?: string;
  /** JSON Schema of the arguments (an object schema). */
  parameters: JsonSchema;
  /** Runs the call; its result (JSON-serializable) goes back to the model as a tool message. */
  handler: (args: Record<string, unknown>) => unknown | Promise<unknown>;
}

export interface ChatSessionOptions {
  /** The first message of every rendering; never dropped by a context shift. */
  systemPrompt?: string;
  /** KV cache size in tokens. Default: the model's contextSize. */
  contextSize?: number;
  /** A Jinja chat template instead of the file's. */
  template?: string;
  /** Drop the oldest whole messages (after the system prompt) when the context fills. Default true. */
  contextShift?: boolean;
  /** Tools the model may call. */
  tools?: Record<string, ChatTool>;
  /** The call syntax; default: judged from the template (hermes if it names none). */
  toolCallFormat?: ToolCallFormat;
  /** Most tool-call rounds per prompt before the loop stops with TOOL_LOOP_LIMIT. Default 4. */
  maxToolRounds?: number;
}

export interface ChatPromptOptions extends Omit<GenerateOptions, 'contextSize' | 'addSpecial' | 'grammar' | 'jsonSchema'> {
  /** 'required': the first turn must call a tool (the grammar forces one); 'none': never. Default 'auto'. */
  toolChoice?: 'auto' | 'required' | 'none';
}

const CHAT_SESSION_KEYS = v.optionKeys<ChatSessionOptions>({
  systemPrompt: true, contextSize: true, template: true, contextShift: true, tools: true, toolCallFormat: true, maxToolRounds: true,
});
const PROMPT_KEYS = [...keysWithout(GENERATE_KEYS, 'contextSize', 'addSpecial', 'grammar', 'jsonSchema'), 'toolChoice'];

export interface ChatChunk extends GenerationChunk {
  /** 'reasoning' inside <think>…</think>, else 'answer'. */
  kind: 'answer' | 'reasoning';
}

/** Events of prompt(): text chunks, tool calls and their results (errors included). */
export type ChatEvent =
  | ChatChunk
  | { kind: 'tool_call'; call: ToolCall }
  | { kind: 'tool_result'; call: ToolCall; result?: unknown; error?: string };

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';

export class ChatSession {
  private messages: ChatMessage[] = [];
  private readonly session: Session;
  private readonly systemPrompt: string | undefined;
  private readonly template: string | undefined;
  private readonly shift: boolean;
  private readonly tools: Record<string, ChatTool>;
  private readonly format: ToolCallFormat;
  private readonly maxToolRounds: number;
  private busy = false;
  private callCounter = 0;
  /** Figures of the last turn's last generation (tokens reused from the cache and evaluated). */
  get stats() {
    return this.session.stats;
  }

  /** @internal Use model.createChatSession(). */
  constructor(
    private readonly model: Model,
    options: ChatSessionOptions | undefined,
  ) {
    const o = v.optionsObject(options, 'chat session options', CHAT_SESSION_KEYS);
    this.systemPrompt = o.systemPrompt === undefined ? undefined : v.string(o.systemPrompt, 'systemPrompt');
    this.template = o.template === undefined ? undefined : v.string(o.template, 'template');
    this.shift = v.boolean(o.contextShift, 'contextShift', true);
    this.maxToolRounds = v.integer(o.maxToolRounds, 'maxToolRounds', 1, 100, 4);
    this.tools = {};
    if (o.tools !== undefined) {
      if (typeof o.tools !== 'object' || o.tools === null) throw v.invalid('an object of tools', 'tools', o.tools);
      for (const [name, t] of Object.entries(o.tools)) {
        if (typeof t !== 'object' || t === null || typeof t.handler !== 'function')
          throw v.invalid('{ description?, parameters, handler }', `tools.${name}`, t);
        jsonSchemaToGrammar(t.parameters); // refuses what it cannot enforce, now rather than mid-call
        this.tools[name] = t;
      }
    }
    const format = o.toolCallFormat ?? toolCallFormatOf(this.template ?? model.info.chatTemplate);
    if (!['hermes', 'llama3', 'mistral'].includes(format)) throw v.invalid("'hermes', 'llama3' or 'mistral'", 'toolCallFormat', format);
    this.format = format;
    this.session = model.createSession({ contextSize: o.contextSize });
  }

  /** The conversation so far (without the system prompt); settable, e.g. to restore one. */
  get history(): ChatMessage[] {
    return this.messages.map((m) => ({ ...m }));
  }
  set history(messages: ChatMessage[]) {
    if (!Array.isArray(messages)) throw v.invalid('an array of messages', 'history', messages);
    messages.forEach((m, i) => {
      if (typeof m !== 'object' || m === null || typeof m.role !== 'string' || typeof m.content !== 'string')
        throw v.invalid('a message { role, content }', `history[${i}]`, m);
    });
    this.messages = messages.map((m) => ({ ...m }));
  }

  private rendered(messages: ChatMessage[]): ChatMessage[] {
    return this.systemPrompt !== undefined ? [{ role: 'system', content: this.systemPrompt }, ...messages] : messages;
  }

  private toolsVariable() {
    const entries = Object.entries(this.tools);
    if (entries.length === 0) return undefined;
    return entries.map(([name, t]) => ({ type: 'function', function: { name, description: t.description ?? '', parameters: t.parameters } }));
  }

  /** Prompt tokens for messages, dropping the oldest whole messages to leave `room` tokens. */
  private fit(messages: ChatMessage[], room: number): { tokens: Int32Array; messages: ChatMessage[] } {
    const tools = this.toolsVariable();
    const render = (ms: ChatMessage[]) =>
      this.model.chatTokens(this.rendered(ms), { template: this.template, variables: tools ? { tools } : undefined });
    let kept = messages;
    let tokens = render(kept);
    while (tokens.length + room > this.session.contextSize) {
      if (!this.shift || kept.length <= 1)
        throw new HalfbyteError(
          'CONTEXT_FULL',
          `The conversation needs ${tokens.length} tokens and ${room} more for the answer, over the session's ${this.session.contextSize}`,
        );
      // drop the oldest message, and with it what answered it, so turns stay whole
      let cut = 1;
      while (cut < kept.length - 1 && kept[cut].role !== 'user') cut++;
      kept = kept.slice(cut);
      tokens = render(kept);
    }
    return { tokens, messages: kept };
  }

  /**
   * Sends a user message and streams the reply: chunks of text (`kind` 'reasoning' or 'answer'),
   * and with tools, the calls and their results, until a final answer. The history gets the
   * message, the calls, their results and the answer once the reply is complete. If the loop is
   * broken off or aborted, nothing of this turn is added (the history stays as it was).
   */
  prompt(text: string, options?: ChatPromptOptions): AsyncIterable<ChatEvent> {
    v.string(text, 'text');
    const o = v.optionsObject(options, 'prompt options', PROMPT_KEYS);
    const toolChoice = o.toolChoice ?? 'auto';
    if (!['auto', 'required', 'none'].includes(toolChoice)) throw v.invalid("'auto', 'required' or 'none'", 'toolChoice', toolChoice);
    if (toolChoice === 'required' && Object.keys(this.tools).length === 0)
      throw new HalfbyteError('INVALID_ARGUMENT', "Expected tools for toolChoice 'required' but the session has none");
    if (this.busy) throw new HalfbyteError('CONTEXT_BUSY', 'A reply is already being generated in this chat session');
    const { toolChoice: _tc, ...generate } = o;
    return { [Symbol.asyncIterator]: () => this.turn(text, generate, toolChoice) };
  }

  /** prompt() to the end; resolves to the final answer's text. */
  async promptText(text: string, options?: ChatPromptOptions): Promise<string> {
    let answer = '';
    for await (const e of this.prompt(text, options)) {
      if (e.kind === 'tool_call') answer = '';
      else if (e.kind === 'answer') answer += e.text;
    }
    return answer.trim();
  }

  private async *turn(text: string, generate: GenerateOptions, toolChoice: 'auto' | 'required' | 'none'): AsyncGenerator<ChatEvent> {
    this.busy = true;
    try {
      let working: ChatMessage[] = [...this.messages, { role: 'user', content: text }];
      for (let round = 0; ; round++) {
        if (round > this.maxToolRounds)
          throw new HalfbyteError('TOOL_LOOP_LIMIT', `The model kept calling tools for ${this.maxToolRounds} rounds without an answer`);
        const room = Math.min(generate.maxTokens ?? 256, this.session.contextSize >> 1);
        const fitted = this.fit(working, room);
        working = fitted.messages;
        const maxTokens = Math.min(generate.maxTokens ?? Number.MAX_SAFE_INTEGER, this.session.contextSize - fitted.tokens.length);
        const useTools = toolChoice !== 'none' && Object.keys(this.tools).length > 0;
        const forced = useTools && toolChoice === 'required' && round === 0;
        const promptText = this.model.detokenize(fitted.tokens, { renderSpecial: true });
        const splitter = new ThinkSplitter(promptText.trimEnd().endsWith(THINK_OPEN));
        let raw = '';
        const opener = CALL_OPENERS[this.format];
        let calling = false;
        const options: GenerateOptions = { ...generate, maxTokens };
        if (forced) options.grammar = this.model.createGrammar(`root ::= ${JSON.stringify(opener)} rest\n${renameRoot(toolCallGrammar(this.tools, this.format))}`);
        let tokensSoFar = fitted.tokens;
        const produced: number[] = [];
        for await (const c of this.session.generate(tokensSoFar, options)) {
          produced.push(c.token);
          raw += c.text;
          if (useTools && !forced && raw.trimStart().startsWith(opener)) {
            calling = true;
            break; // the rest of the call is generated under the tool grammar, below
          }
          if (forced) continue;
          for (const part of splitter.push(c.text)) yield { ...c, ...part };
        }
        if (calling) {
          // Continue the call under a grammar that holds its arguments to the tool's schema
          // (after what the opening tokens already wrote).
          tokensSoFar = Int32Array.from([...tokensSoFar, ...produced]);
          const written = raw.trimStart().slice(opener.length);
          const rest = renameRoot(toolCallGrammar(this.tools, this.format));
          const grammar = this.model.createGrammar(`root ::= ${written ? JSON.stringify(written) + ' ' : ''}rest\n${rest}`);
          for await (const c of this.session.generate(tokensSoFar, { ...generate, grammar, maxTokens })) raw += c.text;
        }
        if (!calling && !forced) {
          for (const part of splitter.flush()) yield { token: -1, ...part };
          // as generated (not trimmed), so the next turn's rendering matches the cached tokens
          const message: ChatMessage = { role: 'assistant', content: splitter.answer };
          if (splitter.reasoning.trim()) message.reasoning_content = splitter.reasoning.trim();
          working.push(message);
          this.messages = working;
          return;
        }
        const calls = parseToolCalls(raw, this.format);
        if (calls.length === 0) throw new HalfbyteError('INVALID_TOOL_CALL', `Expected a tool call in ${JSON.stringify(raw.slice(0, 200))}`);
        // ids of 9 alphanumerics, as Mistral's template demands (the others ignore them)
        const ids = calls.map(() => (this.callCounter++).toString(36).padStart(9, '0'));
        working.push({
          role: 'assistant',
          content: raw.trim(),
          tool_calls: calls.map((call, i) => ({ id: ids[i], type: 'function', function: { name: call.name, arguments: call.arguments } })),
        });
        for (const [i, call] of calls.entries()) {
          yield { kind: 'tool_call', call };
          const tool = this.tools[call.name];
          let result: unknown;
          let error: string | undefined;
          try {
            if (!tool) throw new Error(`There is no tool named ${call.name}`);
            result = await tool.handler(call.arguments);
          } catch (err) {
            error = err instanceof Error ? err.message : String(err);
          }
          yield error === undefined ? { kind: 'tool_result', call, result } : { kind: 'tool_result', call, error };
          working.push({ role: 'tool', name: call.name, tool_call_id: ids[i], content: error === undefined ? JSON.stringify(result ?? null) : JSON.stringify({ error }) });
        }
      }
    } finally {
      this.busy = false;
    }
  }

  /** Writes the history (beside) and the KV cache to a file. */
  async save(path: string): Promise<void> {
    v.string(path, 'path');
    const { writeFileSync } = await import('node:fs');
    await this.session.save(path);
    writeFileSync(`${path}.history.json`, JSON.stringify({ format: 'halfbyte-chat-history', version: 1, messages: this.messages }));
  }

  /** Restores what save() wrote. */
  async load(path: string): Promise<void> {
    v.string(path, 'path');
    const { readFileSync } = await import('node:fs');
    let data: { format?: string; messages?: ChatMessage[] };
    try {
      data = JSON.parse(readFileSync(`${path}.history.json`, 'utf8'));
    } catch (err) {
      throw new HalfbyteError('STATE_BAD_FILE', `Expected the chat history ${path}.history.json beside the session file`, { cause: err });
    }
    if (data.format !== 'halfbyte-chat-history' || !Array.isArray(data.messages))
      throw new HalfbyteError('STATE_BAD_FILE', `Expected a halfbyte chat history in ${path}.history.json`);
    await this.session.load(path);
    this.history = data.messages;
  }

  dispose(): void {
    this.session.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}

/** A tool-call grammar whose root is renamed `rest`, to follow a forced opener. */
function renameRoot(gbnf: string): string {
  return gbnf.replace(/^root ::=/m, 'rest ::=');
}

/**
 * Splits streamed text into reasoning (between <think> and </think>) and answer, holding back
 * text that may be the start of a tag until the next chunk tells.
 */
export class ThinkSplitter {
  reasoning = '';
  answer = '';
  private pending = '';
  constructor(private inside = false) {}

  push(text: string): { text: string; kind: 'answer' | 'reasoning' }[] {
    const out: { text: string; kind: 'answer' | 'reasoning' }[] = [];
    const emit = (t: string) => {
      if (!t) return;
      if (this.inside) this.reasoning += t;
      else this.answer += t;
      out.push({ text: t, kind: this.inside ? 'reasoning' : 'answer' });
    };
    this.pending += text;
    for (;;) {
      const tag = this.inside ? THINK_CLOSE : THINK_OPEN;
      const at = this.pending.indexOf(tag);
      if (at >= 0) {
        emit(this.pending.slice(0, at));
        this.inside = !this.inside;
        this.pending = this.pending.slice(at + tag.length);
        continue;
      }
      let keep = 0;
      for (let k = Math.min(tag.length - 1, this.pending.length); k > 0; k--)
        if (tag.startsWith(this.pending.slice(this.pending.length - k))) {
          keep = k;
          break;
        }
      emit(this.pending.slice(0, this.pending.length - keep));
      this.pending = this.pending.slice(this.pending.length - keep);
      return out;
    }
  }

  flush(): { text: string; kind: 'answer' | 'reasoning' }[] {
    const rest = this.pending;
    this.pending = '';
    if (!rest) return [];
    if (this.inside) this.reasoning += rest;
    else this.answer += rest;
    return [{ text: rest, kind: this.inside ? 'reasoning' : 'answer' }];
  }
}
