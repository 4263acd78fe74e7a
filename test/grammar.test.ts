// Constrained output: GBNF grammars through generate/chat/sessions, checked by an independent
// recognizer (gbnf-recognizer.ts), and logit bias; typed errors for bad grammars.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Grammar, HalfbyteError, load } from '../lib/index.js';
import { GbnfRecognizer } from './gbnf-recognizer.js';
import { fixtures, modelPath } from './helpers.js';

const grammarsDir = join(fixtures, 'grammars');
const examples = readdirSync(grammarsDir)
  .filter((f) => f.endsWith('.gbnf'))
  .map((f) => f.replace(/\.gbnf$/, ''));
const model = await load(modelPath('tiny-llama-Q8_0.gguf'), { threads: 2 });
const stories = await load(modelPath('stories260K.gguf'), { threads: 2 });

async function run(m: typeof model, prompt: string, options: Parameters<typeof model.generate>[1]) {
  const tokens: number[] = [];
  let text = '';
  for await (const c of m.generate(prompt, options)) {
    tokens.push(c.token);
    text += c.text;
  }
  return { tokens, text };
}

describe('the independent recognizer', () => {
  it('accepts sentences and prefixes, rejects the rest', () => {
    const json = new GbnfRecognizer(readFileSync(join(grammarsDir, 'json.gbnf'), 'utf8'));
    expect(json.check('{"a": [1, 2.5, true]}')).toBe('complete');
    expect(json.check('{"a": [1, 2')).toBe('prefix');
    expect(json.check('{"a" 1}')).toBe('no');
    const r = new GbnfRecognizer('root ::= "a"{2,3} [0-9]+\n');
    expect(r.check('aa7')).toBe('complete');
    expect(r.check('aaa')).toBe('prefix');
    expect(r.check('aaaa')).toBe('no');
  });
});

describe.each(examples)('generation under %s.gbnf', (name) => {
  it('yields text the independent recognizer accepts, from the first character', async () => {
    const source = readFileSync(join(grammarsDir, `${name}.gbnf`), 'utf8');
    const grammar = model.createGrammar(source);
    const recognizer = new GbnfRecognizer(source);
    for (const seed of [1, 2, 3]) {
      const maxTokens = 40;
      const { tokens, text } = await run(model, 'Once upon a time', { grammar, maxTokens, seed, temperature: 1 });
      const verdict = recognizer.check(text);
      // Ended before maxTokens: at an end-of-generation token, allowed only where complete.
      if (tokens.length < maxTokens) expect(verdict, JSON.stringify(text)).toBe('complete');
      else expect(verdict, JSON.stringify(text)).not.toBe('no');
    }
  });
});

describe('grammars', () => {
  it('end of generation only where the grammar is complete, and then nothing else', async () => {
    const { text, tokens } = await run(stories, 'Once upon a time', { grammar: 'root ::= "ab"{3}', maxTokens: 30, temperature: 1, seed: 4 });
    expect(text).toBe('ababab');
    expect(tokens.length).toBeLessThan(30);
    const yes = await run(stories, 'Once upon a time', { grammar: 'root ::= "Yes" | "No"', maxTokens: 10, temperature: 0 });
    expect(['Yes', 'No']).toContain(yes.text);
  });

  it('4 concurrent constrained generations equal the sequential ones, and breaking out leaves nothing behind', async () => {
    const grammar = model.createGrammar(readFileSync(join(grammarsDir, 'json.gbnf'), 'utf8'));
    const prompts = ['Once upon a time', 'The dog', 'Lily was', 'One day'];
    const opts = (seed: number) => ({ grammar, maxTokens: 24, seed, temperature: 0.9 });
    const sequential = [];
    for (const [i, p] of prompts.entries()) sequential.push((await run(model, p, opts(i))).tokens);
    const concurrent = await Promise.all(prompts.map((p, i) => run(model, p, opts(i)).then((r) => r.tokens)));
    expect(concurrent).toEqual(sequential);
    for await (const _ of model.generate(prompts[0], opts(0))) break; // mid-grammar
    expect((await run(model, prompts[0], opts(0))).tokens).toEqual(sequential[0]);
    // Sessions and chat take grammars too.
    const session = model.createSession({ contextSize: 128 });
    const viaSession = [];
    for await (const c of session.generate(prompts[0], opts(0))) viaSession.push(c.token);
    expect(viaSession).toEqual(sequential[0]);
    session.dispose();
    // chat() as well
    const chat = [];
    for await (const c of model.chat([{ role: 'user', content: 'Hi' }], { template: '{% for m in messages %}{{ m.content }}{% endfor %}', grammar: 'root ::= "Yes" | "No"', temperature: 0 }))
      chat.push(c.text);
    expect(['Yes', 'No']).toContain(chat.join(''));
  });

  it('a bad grammar is a GRAMMAR_SYNTAX error naming the place, never unconstrained output', async () => {
    const codeOf = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(HalfbyteError);
        return [(e as HalfbyteError).code, (e as Error).message];
      }
      return ['no error', ''];
    };
    expect(codeOf(() => model.createGrammar('root ::= [a-z'))).toEqual([
      'GRAMMAR_SYNTAX',
      'Invalid grammar: an unterminated character class at line 1, column 10',
    ]);
    expect(codeOf(() => model.generate('x', { grammar: 'root ::= item\n' }))[0]).toBe('GRAMMAR_SYNTAX');
    expect(codeOf(() => model.generate('x', { grammar: 42 as unknown as string }))[0]).toBe('INVALID_ARGUMENT');
    expect(model.createGrammar('root ::= a b\na ::= "x"\nb ::= "y"\n')).toBeInstanceOf(Grammar);
    expect(model.createGrammar('root ::= a b\na ::= "x"\nb ::= "y"\n').ruleCount).toBe(3);
  });
});

describe('logit bias', () => {
  it('bans and favours tokens and texts', async () => {
    const plain = await run(stories, 'Once upon a time', { temperature: 0, maxTokens: 8 });
    const first = plain.tokens[0];
    const banned = await run(stories, 'Once upon a time', { temperature: 0, maxTokens: 8, logitBias: [{ token: first, bias: -Infinity }] });
    expect(banned.tokens[0]).not.toBe(first);
    expect(banned.tokens).not.toContain(first);
    const target = stories.tokenize(' dragon', { addSpecial: false });
    const favoured = await run(stories, 'Once upon a time', { temperature: 0, maxTokens: 3, logitBias: [{ text: ' dragon', bias: 100 }] });
    expect(target).toContain(favoured.tokens[0]);
    const viaMap = await run(stories, 'Once upon a time', { temperature: 0, maxTokens: 8, logitBias: new Map([[first, -Infinity]]) });
    expect(viaMap.tokens).toEqual(banned.tokens);
    expect(() => stories.generate('x', { logitBias: [{ token: 1, bias: Infinity }] })).toThrow(/finite number or -Infinity/);
    expect(() => stories.generate('x', { logitBias: [{ word: 'x', bias: 1 }] as never })).toThrow(/token, bias/);
    expect(() => stories.generate('x', { mirostat: 1 as 2 })).toThrow(/v1 is not supported/);
  });

  it('the other new sampler stages run end to end with their options validated', async () => {
    for (const o of [
      { presencePenalty: 1.5, frequencyPenalty: 0.5 },
      { dryMultiplier: 0.8 },
      { xtcProbability: 0.5, xtcThreshold: 0.1 },
      { typicalP: 0.7 },
      { mirostat: 2 as const, mirostatTau: 3 },
    ]) {
      const a = await run(stories, 'Once upon a time', { ...o, maxTokens: 12, seed: 7 });
      const b = await run(stories, 'Once upon a time', { ...o, maxTokens: 12, seed: 7 });
      expect(a.tokens.length).toBe(12);
      expect(b.tokens).toEqual(a.tokens); // seeded: reproducible
    }
    expect(() => stories.generate('x', { typicalP: 2 })).toThrow(/typicalP/);
    expect(() => stories.generate('x', { drySequenceBreakers: [''] })).toThrow(/drySequenceBreakers/);
  });
});

describe('halfbyte generate --grammar', () => {
  it('constrains the CLI output to the grammar file', async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'halfbyte-cli-'));
    const file = join(dir, 'animal.gbnf');
    writeFileSync(file, 'root ::= "The " animal " ran."\nanimal ::= "dog" | "cat" | "bird"\n');
    const bin = join(fixtures, '..', '..', 'bin', 'halfbyte.js');
    const out = execFileSync(process.execPath, [bin, 'generate', 'Once upon a time', '--grammar', file, '--seed', '5'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out).toMatch(/^Once upon a timeThe (dog|cat|bird) ran\.\n$/);
    writeFileSync(file, 'root ::= "unterminated\n');
    let err = '';
    try {
      execFileSync(process.execPath, [bin, 'generate', 'x', '--grammar', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      err = String((e as { stderr: string }).stderr);
    }
    expect(err).toContain('GRAMMAR_SYNTAX');
    expect(err).toContain('line 1, column 10');
    const schemaFile = join(dir, 'schema.json');
    writeFileSync(schemaFile, JSON.stringify({ type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] }));
    const json = execFileSync(process.execPath, [bin, 'generate', '', '--json-schema', schemaFile, '--seed', '5'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(typeof JSON.parse(json).ok).toBe('boolean');
  });
});
