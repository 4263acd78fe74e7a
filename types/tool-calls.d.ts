import { type JsonSchema } from './json-schema.js';
/**
 * - `hermes`: Qwen2.5, Qwen3, Hermes: `<tool_call>{"name": …, "arguments": {…}}</tool_call>`
 * - `llama3`: Llama 3.1 / 3.2: `<|python_tag|>` or a bare JSON `{"name": …, "parameters": {…}}`
 * - `mistral`: `[TOOL_CALLS] [{"name": …, "arguments": {…}}, …]`
 */
export type ToolCallFormat = 'hermes' | 'llama3' | 'mistral';
export interface ToolCall {
    name: string;
    arguments: Record<string, unknown>;
}
/** The format a chat template renders tools in, judged from its text (hermes if it names none). */
export declare function toolCallFormatOf(template: string | null | undefined): ToolCallFormat;
/** What opens a call in each format (for llama3 a JSON object may also start bare). */
export declare const CALL_OPENERS: Record<ToolCallFormat, string>;
/**
 * The calls in a model's output, or [] if it holds none (plain text). Throws INVALID_TOOL_CALL
 * when a call starts but is not well-formed.
 */
export declare function parseToolCalls(text: string, format: ToolCallFormat): ToolCall[];
/** A tool as `toolCallGrammar` needs it: what it does and the JSON Schema of its arguments. */
export interface ToolDefinition {
    /** What the tool does, for the model. */
    description?: string;
    /** JSON Schema the call's arguments must satisfy (the subset `jsonSchemaToGrammar` supports). */
    parameters: JsonSchema;
}
/**
 * GBNF for the rest of a call after its opener: one object naming one of the tools, with
 * arguments valid against that tool's parameter schema, then the closer.
 */
export declare function toolCallGrammar(tools: Record<string, ToolDefinition>, format: ToolCallFormat): string;
/** GBNF text with every rule name prefixed (string literals, classes and comments left alone). */
export declare function renameRules(gbnf: string, prefix: string): string;
