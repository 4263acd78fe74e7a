// Tokenization agrees with llama.cpp on every vocabulary in test/fixtures/tokenizer (the .inp
// cases and llama.cpp's ids in .out, add_special=false, parse_special=false).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HalfbyteError, load } from '../lib/index.js';
import { fixtures } from './helpers.js';

const dir = join(fixtures, 'tokenizer');
const vocabs = readdirSync(dir)
  .filter((f) => f.endsWith('.gguf.inp'))
  .map((f) => f.replace(/\.inp$/, ''));

function cases(vocab: string): Array<{ text: string; ids: number[] }> {
  const inp = readFileSync(join(dir, `${vocab}.inp`), 'utf8').split('\n__ggml_vocab_test__\n');
  inp.pop(); // after the last separator
  const out = readFileSync(join(dir, `${vocab}.out`), 'utf8').split('\n');
  return inp.map((text, i) => ({ text, ids: out[i].trim() === '' ? [] : out[i].trim().split(/\s+/).map(Number) }));
}

it('has the nine reference vocabularies', () => {
  expect(vocabs.length).toBe(9);
});

describe.each(vocabs)('%s', (vocab) => {
  it('tokenizes every case exactly like llama.cpp and round-trips the text', async () => {
    await using model = await load(join(dir, vocab), { vocabOnly: true });
    const all = cases(vocab);
    expect(all.length).toBeGreaterThan(10);
    let roundTrips = 0;
    for (const { text, ids } of all) {
      const got = Array.from(model.tokenize(text, { addSpecial: false }));
      expect(got, JSON.stringify(text)).toEqual(ids);
      // Where llama.cpp's ids spell the text back (SentencePiece adds a leading space), so must ours.
      const back = model.detokenize(ids);
      if (back === text) roundTrips++;
    }
    expect(roundTrips).toBeGreaterThan(all.length / 2);
  });
});

describe('other vocabularies', () => {
  const extra = ['command-r', 'deepseek-llm', 'qwen35', 'refact'];
  it.each(extra)('%s loads and round-trips text', async (name) => {
    await using model = await load(join(dir, `ggml-vocab-${name}.gguf`), { vocabOnly: true });
    expect(model.info.tokenizer.model).toBe('gpt2');
    for (const text of ['Hello world', ' 12345 apples, 3.14!\n\tTabs  and  spaces', 'naïve café 東京 🙂']) {
      const ids = model.tokenize(text, { addSpecial: false });
      expect(ids.length).toBeGreaterThan(0);
      expect(model.detokenize(ids)).toBe(text);
    }
  });
});

describe('bad input', () => {
  it('out-of-range ids are refused; lone surrogates become U+FFFD', async () => {
    await using model = await load(join(dir, 'ggml-vocab-llama-bpe.gguf'), { vocabOnly: true });
    expect(() => model.detokenize([model.info.vocabSize])).toThrow(HalfbyteError);
    expect(() => model.detokenize([-1])).toThrow(HalfbyteError);
    // JS strings reach the engine as UTF-8; an unpaired surrogate is encoded as U+FFFD.
    expect(model.detokenize(model.tokenize('a\ud800b', { addSpecial: false }))).toBe('a\ufffdb');
  });
});

describe('tokenizeStream', () => {
  const text =
    readFileSync(join(fixtures, 'models', 'long-prompt.txt'), 'utf8') +
    '\n\nHello world! 12345 naïve café 東京 🙂\n\tTabs  and   spaces. ' +
    'Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. '.repeat(6);
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
  function* split(s: string): Generator<string> {
    for (let i = 0; i < s.length; ) {
      const n = 1 + rand(40);
      yield s.slice(i, i + n);
      i += n;
    }
  }
  async function* asAsync(parts: Iterable<string>) {
    for (const p of parts) yield p;
  }
  async function concatStream(it: AsyncIterable<Int32Array>): Promise<number[]> {
    const out: number[] = [];
    let pieces = 0;
    for await (const ids of it) {
      out.push(...ids);
      pieces++;
    }
    expect(pieces).toBeGreaterThan(2); // ids really came out as the text streamed in
    return out;
  }

  it.each(['ggml-vocab-llama-spm.gguf', 'ggml-vocab-llama-bpe.gguf', 'ggml-vocab-qwen2.gguf', 'ggml-vocab-gpt-2.gguf', 'ggml-vocab-phi-3.gguf'])(
    '%s: equals tokenizing the whole text, at random split points',
    async (vocab) => {
      await using model = await load(join(dir, vocab), { vocabOnly: true });
      const whole = Array.from(model.tokenize(text));
      for (let round = 0; round < 4; round++) expect(await concatStream(model.tokenizeStream(asAsync(split(text))))).toEqual(whole);
      const noSpecial = Array.from(model.tokenize(text, { addSpecial: false }));
      expect(await concatStream(model.tokenizeStream(asAsync(split(text)), { addSpecial: false }))).toEqual(noSpecial);
      const stream = new ReadableStream<string>({
        start(c) {
          for (const p of split(text)) c.enqueue(p);
          c.close();
        },
      });
      expect(await concatStream(model.tokenizeStream(stream))).toEqual(whole);
    },
  );

  it('rejects a source that is not a stream of strings', async () => {
    await using model = await load(join(dir, 'ggml-vocab-llama-spm.gguf'), { vocabOnly: true });
    await expect(concatStream(model.tokenizeStream(42 as never))).rejects.toThrow(/AsyncIterable<string>/);
    await expect(concatStream(model.tokenizeStream(asAsync([1 as never])))).rejects.toThrow(/string chunks/);
  });
});

describe('special tokens', () => {
  it('parseSpecial, BOS/EOS rules, end of generation and renderSpecial (Llama 3 vocabulary)', async () => {
    await using model = await load(join(dir, 'ggml-vocab-llama-bpe.gguf'), { vocabOnly: true });
    const t = model.info.tokenizer;
    const text = '<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>';
    const parsed = model.tokenize(text, { addSpecial: false, parseSpecial: true });
    const eot = parsed[parsed.length - 1];
    expect(model.detokenize([eot], { renderSpecial: true })).toBe('<|eot_id|>');
    expect(model.detokenize([eot])).toBe(''); // control tokens are not rendered by default
    expect(model.isEndOfGeneration(eot)).toBe(true);
    expect(model.isEndOfGeneration(t.eos)).toBe(true);
    expect(model.isEndOfGeneration(parsed[0])).toBe(false);
    expect(model.detokenize(parsed, { renderSpecial: true })).toBe(text);
    // Without parseSpecial the same text is ordinary text: many tokens, none of them EOT.
    const plain = model.tokenize(text, { addSpecial: false });
    expect(plain.length).toBeGreaterThan(parsed.length);
    expect(Array.from(plain)).not.toContain(eot);
    // addSpecial adds BOS (Llama 3 adds BOS, not EOS).
    expect(t.addBos).toBe(true);
    expect(model.tokenize('Hi')[0]).toBe(t.bos);
    expect(model.tokenize('Hi', { addSpecial: false })[0]).not.toBe(t.bos);
  });
});
