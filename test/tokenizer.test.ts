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
