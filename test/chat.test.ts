// Chat templates (Hugging Face Jinja) rendered as transformers' apply_chat_template does.
import { describe, expect, it } from 'vitest';
import { HalfbyteError, load } from '../lib/index.js';
import { modelPath } from './helpers.js';

const templates = {
  llama3:
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
  chatml:
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
  mistral:
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
  phi3:
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}",
  llama2:
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
};

const convo = [
  { role: 'user', content: 'Hi there' },
  { role: 'assistant', content: 'Hello!' },
  { role: 'user', content: 'Tell me a story.' },
];

describe('chat templates', async () => {
  // stories260K's vocabulary: BOS "<s>", EOS "</s>", no chat template of its own.
  const model = await load(modelPath('stories260K.gguf'), { vocabOnly: true });

  it('Llama 3', () => {
    expect(model.applyChatTemplate(convo, { template: templates.llama3 })).toBe(
      '<s><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nTell me a story.<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it('ChatML (Qwen2), with and without the generation prompt', () => {
    const body =
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' +
      '<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n' +
      '<|im_start|>user\nTell me a story.<|im_end|>\n';
    expect(model.applyChatTemplate(convo, { template: templates.chatml })).toBe(body + '<|im_start|>assistant\n');
    expect(model.applyChatTemplate(convo, { template: templates.chatml, addGenerationPrompt: false })).toBe(body);
  });

  it('Mistral, and its role-alternation error', () => {
    expect(model.applyChatTemplate(convo, { template: templates.mistral })).toBe(
      '<s>[INST] Hi there [/INST]Hello!</s>[INST] Tell me a story. [/INST]',
    );
    expect(() => model.applyChatTemplate([{ role: 'assistant', content: 'x' }], { template: templates.mistral })).toThrow(
      /Conversation roles must alternate/,
    );
  });

  it('Phi-3', () => {
    expect(model.applyChatTemplate(convo, { template: templates.phi3 })).toBe(
      '<s><|user|>\nHi there<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\nTell me a story.<|end|>\n<|assistant|>\n',
    );
  });

  it('Llama 2 with a system prompt', () => {
    const msgs = [{ role: 'system', content: 'Be brief.' }, ...convo];
    expect(model.applyChatTemplate(msgs, { template: templates.llama2 })).toBe(
      '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST] Hello! </s><s>[INST] Tell me a story. [/INST]',
    );
  });

  it('gives NO_CHAT_TEMPLATE without a template, INVALID_CHAT_TEMPLATE for a broken one', () => {
    expect(model.info.chatTemplate).toBeNull();
    try {
      model.applyChatTemplate(convo);
      expect.unreachable();
    } catch (err) {
      expect((err as HalfbyteError).code).toBe('NO_CHAT_TEMPLATE');
    }
    expect(() => model.applyChatTemplate(convo, { template: '{% for %}' })).toThrow(HalfbyteError);
    expect(() => model.applyChatTemplate([], { template: templates.chatml })).toThrow(/non-empty array of messages/);
    expect(() => model.applyChatTemplate([{ role: 'user' }] as never, { template: templates.chatml })).toThrow(
      /messages\[0\]\.content/,
    );
  });

  it('chat() generates from the rendered prompt without a second BOS', async () => {
    await using full = await load(modelPath('stories260K.gguf'));
    const tmpl = '{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}';
    const viaChat: number[] = [];
    for await (const c of full.chat([{ role: 'user', content: 'Once upon a time' }], { template: tmpl, temperature: 0, maxTokens: 8 }))
      viaChat.push(c.token);
    const direct: number[] = [];
    for await (const c of full.generate('Once upon a time', { temperature: 0, maxTokens: 8 })) direct.push(c.token);
    expect(viaChat).toEqual(direct);
  });
});

// The chat templates of the families the architecture table added (Qwen3 with its thinking
// blocks, Gemma 3, Phi-4; test/fixtures/chat/*.jinja) render exactly as transformers'
// apply_chat_template renders them: refs.json was written by Python's jinja2 set up the same
// way (scripts/chat-template-refs.py). Where jinja2 raises, halfbyte raises a HalfbyteError.
describe('chat templates of the newer families match jinja2', async () => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { fixtures } = await import('./helpers.js');
  const { renderChatTemplate } = await import('../lib/chat.js');
  interface RefCase {
    family: string;
    case: string;
    messages: { role: string; content: string }[];
    variables: Record<string, unknown>;
    special: { bos_token: string; eos_token: string };
    add_generation_prompt: boolean;
    expected?: string;
    error?: string;
  }
  const refs: RefCase[] = JSON.parse(readFileSync(join(fixtures, 'chat', 'refs.json'), 'utf8'));
  it('covers every family and case', () => {
    expect(new Set(refs.map((r) => r.family))).toEqual(new Set(['qwen3', 'gemma3', 'phi4']));
    expect(refs.length).toBe(24);
  });
  it.each(refs.map((r) => [`${r.family}: ${r.case}${r.add_generation_prompt ? ', generation prompt' : ''}`, r] as const))(
    '%s',
    (_, r) => {
      const source = readFileSync(join(fixtures, 'chat', `${r.family}.jinja`), 'utf8');
      const render = () =>
        renderChatTemplate(source, r.messages, { bos: r.special.bos_token, eos: r.special.eos_token }, {
          addGenerationPrompt: r.add_generation_prompt,
          variables: r.variables,
        });
      if (r.error !== undefined) {
        expect(render).toThrow(HalfbyteError);
        expect(render).toThrow(r.error);
      } else expect(render()).toBe(r.expected);
    },
  );
});
