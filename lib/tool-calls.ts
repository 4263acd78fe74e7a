// Tool calls in the syntaxes models are trained on: recognizing them in a model's output, and
// the grammar that holds a call's arguments to the tool's JSON Schema once a call starts.
import { HalfbyteError } from './errors.js';
import { jsonSchemaToGrammar, type JsonSchema } from './json-schema.js';

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
export function toolCallFormatOf(template: string | null | undefined): ToolCallFormat {
  const t = template ?? '';
  if (t.includes('[TOOL_CALLS]')) return 'mistral';
  if (t.includes('<|python_tag|>') || t.includes('ipython')) return 'llama3';
  return 'hermes';
}

/** What opens a call in each format (for llama3 a JSON object may also start bare). */
export const CALL_OPENERS: Record<ToolCallFormat, string> = {
  hermes: '<tool_call>',
  llama3: '<|python_tag|>',
  mistral: '[TOOL_CALLS]',
};

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HalfbyteError('INVALID_TOOL_CALL', `Expected JSON in the ${what} but received ${JSON.stringify(text.slice(0, 200))}`, {
      cause: err,
    });
  }
}

function toCall(v: unknown, argsKey: 'arguments' | 'parameters'): ToolCall {
  const o = v as Record<string, unknown>;
  const args = o?.[argsKey] ?? o?.arguments ?? o?.parameters;
  if (typeof o !== 'object' || o === null || typeof o.name !== 'string' || typeof args !== 'object' || args === null || Array.isArray(args))
    throw new HalfbyteError('INVALID_TOOL_CALL', `Expected a tool call { name, ${argsKey} } but received ${JSON.stringify(v).slice(0, 200)}`);
  return { name: o.name, arguments: args as Record<string, unknown> };
}

/**
 * The calls in a model's output, or [] if it holds none (plain text). Throws INVALID_TOOL_CALL
 * when a call starts but is not well-formed.
 */
export function parseToolCalls(text: string, format: ToolCallFormat): ToolCall[] {
  const s = text.trim();
  if (format === 'hermes') {
    const calls: ToolCall[] = [];
    const re = /<tool_call>([\s\S]*?)(<\/tool_call>|$)/g;
    for (const m of s.matchAll(re)) calls.push(toCall(parseJson(m[1].trim(), 'tool call'), 'arguments'));
    return calls;
  }
  if (format === 'mistral') {
    const at = s.indexOf('[TOOL_CALLS]');
    if (at < 0) return [];
    const list = parseJson(s.slice(at + '[TOOL_CALLS]'.length).trim(), 'tool calls');
    if (!Array.isArray(list)) throw new HalfbyteError('INVALID_TOOL_CALL', 'Expected a JSON array after [TOOL_CALLS]');
    return list.map((c) => toCall(c, 'arguments'));
  }
  // llama3: after <|python_tag|>, or a whole output that is one JSON call (several separated by ;)
  let body = s;
  if (s.startsWith('<|python_tag|>')) body = s.slice('<|python_tag|>'.length).trim();
  else if (!s.startsWith('{')) return [];
  return body
    .split(/;\s*(?=\{)/)
    .filter((p) => p.trim().length > 0)
    .map((p) => toCall(parseJson(p.trim(), 'tool call'), 'parameters'));
}

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
export function toolCallGrammar(tools: Record<string, ToolDefinition>, format: ToolCallFormat): string {
  const names = Object.keys(tools);
  if (names.length === 0) throw new HalfbyteError('INVALID_ARGUMENT', 'Expected at least one tool');
  const argsKey = format === 'llama3' ? 'parameters' : 'arguments';
  const lines: string[] = [];
  const alts: string[] = [];
  names.forEach((name, i) => {
    // each tool's schema as its own grammar, its rules renamed apart
    const g = jsonSchemaToGrammar(tools[name].parameters);
    const prefix = `t${i}-`;
    lines.push(...renameRules(g, prefix).trim().split('\n'));
    alts.push(`"{" ws "\\"name\\"" ws ":" ws ${JSON.stringify(JSON.stringify(name))} ws "," ws "\\"${argsKey}\\"" ws ":" ws ${prefix}root ws "}"`);
  });
  const call = `call ::= ${alts.join(' | ')}`;
  const root =
    format === 'hermes'
      ? 'root ::= ws call ws "</tool_call>"'
      : format === 'mistral'
        ? 'root ::= ws "[" ws call ( ws "," ws call )* ws "]"'
        : 'root ::= ws call';
  return [root, call, 'ws ::= | " "', ...lines].join('\n') + '\n';
}

/** GBNF text with every rule name prefixed (string literals, classes and comments left alone). */
export function renameRules(gbnf: string, prefix: string): string {
  let out = '';
  let i = 0;
  const skipQuoted = (close: string) => {
    const start = i++;
    while (i < gbnf.length && gbnf[i] !== close) i += gbnf[i] === '\\' ? 2 : 1;
    i++;
    out += gbnf.slice(start, i);
  };
  while (i < gbnf.length) {
    const c = gbnf[i];
    if (c === '"') skipQuoted('"');
    else if (c === '[') skipQuoted(']');
    else if (c === '#') {
      const end = gbnf.indexOf('\n', i);
      const stop = end < 0 ? gbnf.length : end;
      out += gbnf.slice(i, stop);
      i = stop;
    } else if (/[A-Za-z0-9_-]/.test(c)) {
      let j = i;
      while (j < gbnf.length && /[A-Za-z0-9_-]/.test(gbnf[j])) j++;
      const word = gbnf.slice(i, j);
      out += /^[0-9]+$/.test(word) ? word : prefix + word;
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
