// Chat sessions: history kept as messages, KV reuse across turns, whole-message context shifts,
// the abort rule, save/load, reasoning blocks, and tool calls (parsers on recorded outputs, and
// a tool loop whose calls a grammar forces on a random-weight model).
import Ajv2020 from 'ajv/dist/2020.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HalfbyteError, load, parseToolCalls, toolCallGrammar } from '../lib/index.js';
import { ThinkSplitter } from '../lib/chat-session.js';
import { GbnfRecognizer } from './gbnf-recognizer.js';
import { fixtures, modelPath } from './helpers.js';

const qwen3 = readFileSync(join(fixtures, 'chat', 'qwen3.jinja'), 'utf8');
const model = await load(modelPath('stories260K.gguf'), { threads: 2 });
const dir = mkdtempSync(join(tmpdir(), 'halfbyte-chat-'));

describe('chat sessions', () => {
  it('keep the history and evaluate only the new message on the next turn', async () => {
    const chat = model.createChatSession({ systemPrompt: 'You tell stories.', template: qwen3, contextSize: 512 });
    let first = '';
    let generated = 0;
    for await (const e of chat.prompt('Once upon a time', { temperature: 0, maxTokens: 12 }))
      if (e.kind === 'answer') (first += e.text), generated++;
    expect(chat.history.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(chat.history[1].content).toBe(first);
    const prompt1 = model.chatTokens([{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Once upon a time' }], { template: qwen3 });
    await chat.promptText('Tell me more.', { temperature: 0, maxTokens: 8 });
    // Everything the first turn left in the cache (its prompt and answer) is reused: the second
    // evaluates only the end of the answer's turn, the new message and what it generates.
    const second = model.chatTokens([{ role: 'system', content: 'You tell stories.' }, ...chat.history.slice(0, 3)], { template: qwen3 });
    expect(chat.stats.reusedTokens).toBe(prompt1.length + generated - 1); // the last sampled token was never fed
    expect(chat.stats.evaluatedTokens).toBeLessThanOrEqual(second.length - chat.stats.reusedTokens + 8);
    expect(chat.history.length).toBe(4);
    chat.dispose();
  });

  it('shift whole messages out when the context fills, never the system prompt', async () => {
    const chat = model.createChatSession({ systemPrompt: 'SYSTEM RULES', template: qwen3, contextSize: 160 });
    for (let i = 0; i < 8; i++) await chat.promptText(`Turn ${i}: tell me about the little dog and the ball.`, { temperature: 0, maxTokens: 20 });
    const h = chat.history;
    expect(h.length).toBeLessThan(16); // older turns were dropped
    expect(h.length % 2).toBe(0); // whole turns
    expect(h[0].role).toBe('user');
    expect(h[h.length - 2].content).toBe('Turn 7: tell me about the little dog and the ball.');
    // the system prompt is rendered first every time; a generation ran after the shift
    expect(h[h.length - 1].role).toBe('assistant');
    const off = model.createChatSession({ template: qwen3, contextSize: 96, contextShift: false });
    await expect(
      (async () => {
        for (let i = 0; i < 8; i++) await off.promptText(`Turn ${i}: tell me about the little dog and the ball.`, { temperature: 0, maxTokens: 20 });
      })(),
    ).rejects.toMatchObject({ code: 'CONTEXT_FULL' });
  });

  it('add nothing for a reply that was broken off or aborted, and round-trip through a file', async () => {
    const chat = model.createChatSession({ template: qwen3, contextSize: 256 });
    await chat.promptText('Hello', { temperature: 0, maxTokens: 6 });
    const kept = chat.history;
    for await (const _ of chat.prompt('Another', { temperature: 0, maxTokens: 20 })) break;
    expect(chat.history).toEqual(kept);
    const ac = new AbortController();
    const run = (async () => {
      for await (const _ of chat.prompt('Again', { temperature: 0, maxTokens: 50, signal: ac.signal })) ac.abort();
    })();
    await expect(run).rejects.toMatchObject({ code: 'ABORTED' });
    expect(chat.history).toEqual(kept);
    const file = join(dir, 'chat.session');
    await chat.save(file);
    const restored = model.createChatSession({ template: qwen3, contextSize: 256 });
    await restored.load(file);
    expect(restored.history).toEqual(kept);
    const a = await chat.promptText('Go on', { temperature: 0, maxTokens: 6 });
    const b = await restored.promptText('Go on', { temperature: 0, maxTokens: 6 });
    expect(b).toBe(a);
    expect(restored.stats.reusedTokens).toBe(chat.stats.reusedTokens);
  });

  it('tell reasoning from answer, across chunk boundaries', () => {
    const s = new ThinkSplitter(false);
    const parts = ['Ok <th', 'ink>let me', ' see</thi', 'nk>\n\nYes.'].flatMap((t) => s.push(t)).concat(s.flush());
    expect(s.reasoning).toBe('let me see');
    expect(s.answer).toBe('Ok \n\nYes.');
    expect(parts.filter((p) => p.kind === 'reasoning').map((p) => p.text).join('')).toBe('let me see');
    const started = new ThinkSplitter(true); // the prompt ended with <think>
    started.push('hmm</think>answer');
    expect(started.reasoning).toBe('hmm');
    expect(started.answer).toBe('answer');
  });
});

describe('tool calls', () => {
  it('are recognized in each family\'s syntax (recorded outputs)', () => {
    expect(parseToolCalls('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>', 'hermes')).toEqual([
      { name: 'get_weather', arguments: { city: 'Paris' } },
    ]);
    expect(
      parseToolCalls('<tool_call>{"name":"a","arguments":{}}</tool_call>\n<tool_call>{"name":"b","arguments":{"x":1}}</tool_call>', 'hermes'),
    ).toEqual([
      { name: 'a', arguments: {} },
      { name: 'b', arguments: { x: 1 } },
    ]);
    expect(parseToolCalls('The weather is nice.', 'hermes')).toEqual([]);
    expect(parseToolCalls('<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}', 'llama3')).toEqual([
      { name: 'get_weather', arguments: { city: 'Paris' } },
    ]);
    expect(parseToolCalls('{"name": "f", "parameters": {"n": 2}}; {"name": "g", "parameters": {}}', 'llama3')).toEqual([
      { name: 'f', arguments: { n: 2 } },
      { name: 'g', arguments: {} },
    ]);
    expect(parseToolCalls('Sure, here you go.', 'llama3')).toEqual([]);
    expect(parseToolCalls('[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}}]', 'mistral')).toEqual([
      { name: 'get_weather', arguments: { city: 'Paris' } },
    ]);
    expect(() => parseToolCalls('<tool_call>{"name": "x", "arguments": ', 'hermes')).toThrow(HalfbyteError);
    expect(() => parseToolCalls('[TOOL_CALLS] {"name": "x"}', 'mistral')).toThrow(/array/);
  });

  it('have a grammar that accepts exactly calls with schema-valid arguments', () => {
    const tools = { get_weather: { parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 10 } }, required: ['city'] } } };
    const g = new GbnfRecognizer(toolCallGrammar(tools, 'hermes'));
    expect(g.check(' {"name": "get_weather", "arguments": {"city": "Paris"}} </tool_call>')).toBe('complete');
    expect(g.check('{"name": "get_weather", "arguments": {}}</tool_call>')).toBe('no');
    expect(g.check('{"name": "other", "arguments": {"city": "x"}}</tool_call>')).toBe('no');
    const m = new GbnfRecognizer(toolCallGrammar(tools, 'mistral'));
    expect(m.check(' [{"name": "get_weather", "arguments": {"city": "P"}}]')).toBe('complete');
  });

  it('run end to end: a forced call with schema-valid arguments, the result back to the model, then an answer', async () => {
    const schema = {
      type: 'object',
      properties: { city: { type: 'string', maxLength: 8 }, days: { type: 'integer', minimum: 1, maximum: 7 } },
      required: ['city', 'days'],
    };
    const validate = new (Ajv2020 as unknown as typeof Ajv2020.default)({ strict: false }).compile(schema);
    const seen: Record<string, unknown>[] = [];
    const chat = model.createChatSession({
      template: qwen3,
      contextSize: 2048,
      tools: {
        get_weather: {
          description: 'The forecast for a city',
          parameters: schema,
          handler: (args) => {
            seen.push(args);
            return { forecast: 'sunny' };
          },
        },
        broken: { parameters: { type: 'object', additionalProperties: false }, handler: () => { throw new Error('out of order'); } },
      },
    });
    const events = [];
    for await (const e of chat.prompt('What is the weather?', { toolChoice: 'required', temperature: 1, seed: 3, maxTokens: 200 })) events.push(e);
    const calls = events.filter((e) => e.kind === 'tool_call');
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) if (c.kind === 'tool_call' && c.call.name === 'get_weather') expect(validate(c.call.arguments)).toBe(true);
    for (const a of seen) expect(validate(a)).toBe(true);
    const results = events.filter((e) => e.kind === 'tool_result');
    expect(results.length).toBe(calls.length);
    for (const r of results) if (r.kind === 'tool_result' && r.call.name === 'broken') expect(r.error).toBe('out of order');
    const roles = chat.history.map((m) => m.role);
    expect(roles[0]).toBe('user');
    expect(roles).toContain('tool');
    expect(roles[roles.length - 1]).toBe('assistant');
    const withCalls = chat.history.find((m) => m.role === 'assistant' && m.tool_calls)!;
    expect(withCalls.tool_calls![0].id).toMatch(/^[0-9a-z]{9}$/);
    expect(chat.history.find((m) => m.role === 'tool')!.tool_call_id).toBe(withCalls.tool_calls![0].id);
  });
});
