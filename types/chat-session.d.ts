import type { ChatMessage } from './chat.js';
import { type GenerateOptions, type GenerationChunk } from './generation.js';
import type { JsonSchema } from './json-schema.js';
import type { Model } from './model.js';
import { type ToolCall, type ToolCallFormat } from './tool-calls.js';
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
export interface ChatChunk extends GenerationChunk {
    /** 'reasoning' inside <think>…</think>, else 'answer'. */
    kind: 'answer' | 'reasoning';
}
/** Events of prompt(): text chunks, tool calls and their results (errors included). */
export type ChatEvent = ChatChunk | {
    kind: 'tool_call';
    call: ToolCall;
} | {
    kind: 'tool_result';
    call: ToolCall;
    result?: unknown;
    error?: string;
};
export declare class ChatSession {
    private readonly model;
    private messages;
    private readonly session;
    private readonly systemPrompt;
    private readonly template;
    private readonly shift;
    private readonly tools;
    private readonly format;
    private readonly maxToolRounds;
    private busy;
    private callCounter;
    /** Figures of the last turn's last generation (tokens reused from the cache and evaluated). */
    get stats(): import("./session.js").SessionStats;
    /** @internal Use model.createChatSession(). */
    constructor(model: Model, options: ChatSessionOptions | undefined);
    /** The conversation so far (without the system prompt); settable, e.g. to restore one. */
    get history(): ChatMessage[];
    set history(messages: ChatMessage[]);
    private rendered;
    private toolsVariable;
    /** Prompt tokens for messages, dropping the oldest whole messages to leave `room` tokens. */
    private fit;
    /**
     * Sends a user message and streams the reply: chunks of text (`kind` 'reasoning' or 'answer'),
     * and with tools, the calls and their results, until a final answer. The history gets the
     * message, the calls, their results and the answer once the reply is complete. If the loop is
     * broken off or aborted, nothing of this turn is added (the history stays as it was).
     */
    prompt(text: string, options?: ChatPromptOptions): AsyncIterable<ChatEvent>;
    /** prompt() to the end; resolves to the final answer's text. */
    promptText(text: string, options?: ChatPromptOptions): Promise<string>;
    private turn;
    /** Writes the history (beside) and the KV cache to a file. */
    save(path: string): Promise<void>;
    /** Restores what save() wrote. */
    load(path: string): Promise<void>;
    dispose(): void;
    [Symbol.asyncDispose](): Promise<void>;
}
/**
 * Splits streamed text into reasoning (between <think> and </think>) and answer, holding back
 * text that may be the start of a tag until the next chunk tells.
 */
export declare class ThinkSplitter {
    private inside;
    reasoning: string;
    answer: string;
    private pending;
    constructor(inside?: boolean);
    push(text: string): {
        text: string;
        kind: 'answer' | 'reasoning';
    }[];
    flush(): {
        text: string;
        kind: 'answer' | 'reasoning';
    }[];
}
