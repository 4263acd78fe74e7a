// Chat templates: the GGUF file's tokenizer.chat_template (a Hugging Face Jinja template),
// rendered with @huggingface/jinja the way transformers' apply_chat_template does.
import { Template } from '@huggingface/jinja';
import { HalfbyteError } from './errors.js';
import * as v from './validate.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | (string & {});
  content: string;
  /** An assistant message's reasoning (templates such as Qwen3's render or drop it). */
  reasoning_content?: string;
  /** An assistant message's tool calls. */
  tool_calls?: { type: 'function'; function: { name: string; arguments: Record<string, unknown> } }[];
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

const compiled = new Map<string, Template>();

function compile(source: string): Template {
  let t = compiled.get(source);
  if (!t) {
    try {
      t = new Template(source);
    } catch (err) {
      throw new HalfbyteError('INVALID_CHAT_TEMPLATE', `The chat template does not parse: ${(err as Error).message}`, { cause: err });
    }
    if (compiled.size > 32) compiled.clear();
    compiled.set(source, t);
  }
  return t;
}

export function validateMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw v.invalid('a non-empty array of messages', 'messages', messages);
  messages.forEach((m, i) => {
    if (typeof m !== 'object' || m === null) throw v.invalid('a message object { role, content }', `messages[${i}]`, m);
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string' || role.length === 0) throw v.invalid('a non-empty string', `messages[${i}].role`, role);
    if (typeof content !== 'string') throw v.invalid('a string', `messages[${i}].content`, content);
  });
  return messages as ChatMessage[];
}

/**
 * Renders messages with a chat template. `special` gives the vocabulary's BOS/EOS texts, which
 * templates use as bos_token / eos_token.
 */
export function renderChatTemplate(
  fileTemplate: string | null,
  messages: ChatMessage[],
  special: { bos: string; eos: string },
  options: ChatTemplateOptions = {},
): string {
  const o = v.optionsObject(options, 'chat template options');
  const source = o.template ?? fileTemplate;
  if (o.template !== undefined && typeof o.template !== 'string') throw v.invalid('a string', 'template', o.template);
  if (!source)
    throw new HalfbyteError(
      'NO_CHAT_TEMPLATE',
      'This model file has no tokenizer.chat_template; pass { template } with a Jinja chat template',
    );
  const addGenerationPrompt = v.boolean(o.addGenerationPrompt, 'addGenerationPrompt', true);
  if (o.variables !== undefined && (typeof o.variables !== 'object' || o.variables === null))
    throw v.invalid('an object', 'variables', o.variables);
  try {
    return compile(source).render({
      ...(o.variables ?? {}),
      messages,
      bos_token: special.bos,
      eos_token: special.eos,
      add_generation_prompt: addGenerationPrompt,
    });
  } catch (err) {
    if (err instanceof HalfbyteError) throw err;
    throw new HalfbyteError('INVALID_CHAT_TEMPLATE', `The chat template failed to render: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
