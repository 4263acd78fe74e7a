// Chat templates: the GGUF file's tokenizer.chat_template (a Hugging Face Jinja template),
// rendered with @huggingface/jinja the way transformers' apply_chat_template does.
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { HalfbyteError } from './errors.js';
import * as v from './validate.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | (string & {});
  content: string;
  /** An assistant message's reasoning (templates such as Qwen3's render or drop it). */
  reasoning_content?: string;
  /** An assistant message's tool calls. */
  tool_calls?: { id?: string; type: 'function'; function: { name: string; arguments: Record<string, unknown> } }[];
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

export const CHAT_TEMPLATE_KEYS = v.optionKeys<ChatTemplateOptions>({ template: true, addGenerationPrompt: true, variables: true });

const compiled = new Map<string, Template>();

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/**
 * Renders with the globals transformers' apply_chat_template gives a template (raise_exception,
 * strftime_now, range, the Python constants, tools and documents as None when absent); a
 * caller's variable of the same name replaces a global (Template.render would refuse it).
 */
// Chat templates come inside model files, from strangers. @huggingface/jinja interprets them
// with no access to JavaScript (no process, require or globalThis: test/chat.test.ts checks), and
// these limits keep one from hanging or exhausting the process: a template gets this many
// evaluation steps (real ones use a few thousand per conversation), strings up to this length,
// and range() up to this many numbers.
const TEMPLATE_MAX_STEPS = 500_000;
const TEMPLATE_MAX_STRING = 16 << 20;
const TEMPLATE_MAX_RANGE = 1_000_000;

// The package's declarations do not resolve under NodeNext (Interpreter types as any), so the
// two methods used here are typed by hand.
const InterpreterBase = Interpreter as unknown as new (env: Environment) => {
  evaluate(statement: unknown, environment: unknown): unknown;
  run(program: unknown): { value: unknown };
};

class BudgetedInterpreter extends InterpreterBase {
  private steps = 0;
  evaluate(statement: unknown, environment: unknown): unknown {
    if (++this.steps > TEMPLATE_MAX_STEPS)
      throw new HalfbyteError('INVALID_CHAT_TEMPLATE', `The chat template did not finish within ${TEMPLATE_MAX_STEPS} evaluation steps`);
    const r = super.evaluate(statement, environment);
    const value = (r as { value?: unknown } | undefined)?.value;
    if (typeof value === 'string' && value.length > TEMPLATE_MAX_STRING)
      throw new HalfbyteError('INVALID_CHAT_TEMPLATE', `The chat template built a string longer than ${TEMPLATE_MAX_STRING} characters`);
    return r;
  }
}

function renderWithGlobals(t: Template, variables: Record<string, unknown>): string {
  const globals: Record<string, unknown> = {
    false: false,
    true: true,
    none: null,
    False: false,
    True: true,
    None: null,
    raise_exception: (message: unknown) => {
      throw new HalfbyteError('INVALID_CHAT_TEMPLATE', `The chat template raised: ${String(message)}`);
    },
    range: (start: number, stop?: number, step = 1) => {
      if (stop === undefined) [start, stop] = [0, start];
      if (step === 0) throw new HalfbyteError('INVALID_CHAT_TEMPLATE', 'range() step must not be zero');
      if (![start, stop, step].every(Number.isFinite) || Math.abs((stop - start) / step) > TEMPLATE_MAX_RANGE)
        throw new HalfbyteError('INVALID_CHAT_TEMPLATE', `Expected a finite range() of at most ${TEMPLATE_MAX_RANGE} numbers but received range(${start}, ${stop}, ${step})`);
      const out: number[] = [];
      for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
      return out;
    },
    strftime_now: (format: unknown) => strftime(String(format), new Date()),
    tools: null,
    documents: null,
  };
  const env = new Environment();
  for (const [k, value] of Object.entries({ ...globals, ...variables })) env.set(k, value);
  const parsed = (t as unknown as { parsed: Parameters<Interpreter['run']>[0] }).parsed;
  return new BudgetedInterpreter(env).run(parsed).value as string;
}

/** Python's strftime for the directives chat templates use (%d %m %Y %y %B %b %A %a %H %M %S %I %p %j %%). */
export function strftime(format: string, d: Date): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const start = new Date(d.getFullYear(), 0, 1);
  const day = Math.floor((d.getTime() - start.getTime()) / 86400000) + 1;
  const map: Record<string, string> = {
    d: pad(d.getDate()),
    m: pad(d.getMonth() + 1),
    Y: String(d.getFullYear()),
    y: pad(d.getFullYear() % 100),
    B: MONTHS[d.getMonth()],
    b: MONTHS[d.getMonth()].slice(0, 3),
    A: DAYS[d.getDay()],
    a: DAYS[d.getDay()].slice(0, 3),
    H: pad(d.getHours()),
    M: pad(d.getMinutes()),
    S: pad(d.getSeconds()),
    I: pad(((d.getHours() + 11) % 12) + 1),
    p: d.getHours() < 12 ? 'AM' : 'PM',
    j: pad(day, 3),
    '%': '%',
  };
  return format.replace(/%([a-zA-Z%])/g, (m, c) => map[c] ?? m);
}

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
  const o = v.optionsObject(options, 'chat template options', CHAT_TEMPLATE_KEYS);
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
    return renderWithGlobals(compile(source), {
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
