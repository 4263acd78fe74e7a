export interface ChatMessage {
    role: 'system' | 'user' | 'assistant' | 'tool' | (string & {});
    content: string;
    /** An assistant message's reasoning (templates such as Qwen3's render or drop it). */
    reasoning_content?: string;
    /** An assistant message's tool calls. */
    tool_calls?: {
        id?: string;
        type: 'function';
        function: {
            name: string;
            arguments: Record<string, unknown>;
        };
    }[];
    /** A tool message's tool name. */
    name?: string;
    tool_call_id?: string;
}
export interface ChatTemplateOptions {
    /** A Jinja chat template to use instead of the file's. */
    template?: string;
    /** End with the opening of an assistant turn. Default true. */
    addGenerationPrompt?: boolean;
    /** More variables for the template (e.g. tools, date_string). */
    variables?: Record<string, unknown>;
}
export declare const CHAT_TEMPLATE_KEYS: readonly string[];
/** Python's strftime for the directives chat templates use (%d %m %Y %y %B %b %A %a %H %M %S %I %p %j %%). */
export declare function strftime(format: string, d: Date): string;
export declare function validateMessages(messages: unknown): ChatMessage[];
/**
 * Renders messages with a chat template. `special` gives the vocabulary's BOS/EOS texts, which
 * templates use as bos_token / eos_token.
 */
export declare function renderChatTemplate(fileTemplate: string | null, messages: ChatMessage[], special: {
    bos: string;
    eos: string;
}, options?: ChatTemplateOptions): string;
