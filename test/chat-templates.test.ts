// The chat templates that ship in real GGUF files (llama.cpp's models/templates, ~70) render as
// transformers' apply_chat_template renders them (Python jinja2 references); where jinja2 raises,
// halfbyte raises a HalfbyteError. Known differences are listed here and in the README.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HalfbyteError } from '../lib/index.js';
import { renderChatTemplate, strftime } from '../lib/chat.js';
import { fixtures } from './helpers.js';

interface Case {
  template: string;
  case: string;
  messages: { role: string; content: string }[];
  expected?: string;
  error?: string;
}
const refs: { special: { bos_token: string; eos_token: string }; cases: Case[] } = JSON.parse(
  readFileSync(join(fixtures, 'chat', 'refs-templates.json'), 'utf8'),
);
const fixedNow = new Date(2026, 0, 15, 12, 0, 0);

// Templates whose rendering still differs from jinja2's, and why (@huggingface/jinja 0.5).
const knownTemplates: Record<string, string> = {
  'ByteDance-Seed-OSS.jinja': 'a dict literal with integer keys ("Object keys must be strings")',
  'meetkai-functionary-medium-v3.1.jinja': '`tools | selectattr(...)` with tools none: jinja2 iterates none lazily, @huggingface/jinja refuses',
  'tencent-Hy3.jinja': "Python's str.format(), which @huggingface/jinja does not have",
};
const known: Record<string, string> = Object.fromEntries(
  refs.cases.filter((c) => knownTemplates[c.template]).map((c) => [`${c.template}: ${c.case}`, knownTemplates[c.template]]),
);

it('covers the shipped templates, with the known differences still there (remove them when fixed)', () => {
  expect(new Set(refs.cases.map((c) => c.template)).size).toBeGreaterThanOrEqual(60);
  for (const name of Object.keys(knownTemplates)) {
    const c = refs.cases.find((x) => x.template === name)!;
    const source = readFileSync(join(fixtures, 'chat', 'templates', name), 'utf8');
    let out: string | Error;
    try {
      out = renderChatTemplate(source, c.messages, { bos: refs.special.bos_token, eos: refs.special.eos_token });
    } catch (e) {
      out = e as Error;
    }
    expect(out, name).not.toBe(c.expected); // still different: this list is accurate
  }
});

describe('real chat templates render as transformers renders them', () => {
  const checked = refs.cases.filter((c) => !known[`${c.template}: ${c.case}`]);
  it.each(checked.map((c) => [`${c.template}: ${c.case}`, c] as const))('%s', (label, c) => {
    const source = readFileSync(join(fixtures, 'chat', 'templates', c.template), 'utf8');
    const render = () =>
      renderChatTemplate(source, c.messages, { bos: refs.special.bos_token, eos: refs.special.eos_token }, {
        variables: { strftime_now: (fmt: string) => strftime(fmt, fixedNow) },
      });
    if (c.error !== undefined) {
      expect(render).toThrow(HalfbyteError);
    } else {
      expect(render(), label).toBe(c.expected);
    }
  });
});
