// Streaming tokenization: ids of a text that arrives in chunks, exactly those of tokenizing the
// whole text at once, wherever the chunks split.
//
// Tokens are emitted up to a cut point that no token can straddle: just before a single space
// that follows a non-space and precedes a letter. Byte-level BPE pre-tokenizers always start a
// new piece there (" word"), and SentencePiece starts a new "▁word" piece. A cut is only taken
// when tokenizing the two sides separately gives exactly the tokens of tokenizing them together,
// and it stays a margin away from the end of the text seen so far, so the next chunk cannot
// reach back across it.
import * as v from './validate.js';

export interface TokenizeStreamOptions {
  /** Add BOS/EOS as the vocabulary asks (BOS with the first ids, EOS with the last). Default true. */
  addSpecial?: boolean;
  /** Turn special-token text into control tokens. Default false. */
  parseSpecial?: boolean;
}

export interface StreamTokenizer {
  tokenize(text: string, options?: { addSpecial?: boolean; parseSpecial?: boolean }): Int32Array;
  readonly info: { tokenizer: { bos: number; eos: number; addBos: boolean; addEos: boolean } };
}

const MARGIN = 64; // characters kept back from the end of what has arrived
const CUT = /(?<=\S) (?=\p{L})/gu;

function equalConcat(a: Int32Array, b: Int32Array, whole: Int32Array): boolean {
  if (a.length + b.length !== whole.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== whole[i]) return false;
  for (let i = 0; i < b.length; i++) if (b[i] !== whole[a.length + i]) return false;
  return true;
}

async function* chunksOf(source: AsyncIterable<string> | ReadableStream<string>): AsyncGenerator<string> {
  if (typeof (source as ReadableStream<string>).getReader === 'function' && !(Symbol.asyncIterator in source)) {
    const reader = (source as ReadableStream<string>).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  } else {
    yield* source as AsyncIterable<string>;
  }
}

const TOKENIZE_STREAM_KEYS = v.optionKeys<TokenizeStreamOptions>({ addSpecial: true, parseSpecial: true });

export async function* tokenizeStream(
  model: StreamTokenizer,
  source: AsyncIterable<string> | ReadableStream<string>,
  options?: TokenizeStreamOptions,
): AsyncGenerator<Int32Array> {
  if (source === null || typeof source !== 'object' || (!(Symbol.asyncIterator in source) && typeof (source as ReadableStream).getReader !== 'function'))
    throw v.invalid('an AsyncIterable<string> or a ReadableStream<string>', 'source', source);
  const o = v.optionsObject(options, 'tokenizeStream options', TOKENIZE_STREAM_KEYS);
  const addSpecial = v.boolean(o.addSpecial, 'addSpecial', true);
  const parseSpecial = v.boolean(o.parseSpecial, 'parseSpecial', false);
  const t = model.info.tokenizer;
  // Does the tokenizer put a space before the text itself (SentencePiece's add_space_prefix)?
  // Then "a" gives "▁a", and " a" gives "▁" "▁a": the ids of "a" end those of " a".
  const probe = (x: string) => Array.from(model.tokenize(x, { addSpecial: false, parseSpecial: false })).join(',');
  const a = probe('a');
  const spaceA = probe(' a');
  const addsSpacePrefix = spaceA !== a && (',' + spaceA).endsWith(',' + a);
  let started = false; // has any text been emitted (so pending starts at a cut: " word…")
  // Tokenizes a piece of text. After the first cut, pieces start with " x": a tokenizer that adds
  // its own space prefix gets the text without that space, which yields the same ids.
  const tok = (text: string, atStart: boolean) =>
    model.tokenize(!atStart && addsSpacePrefix ? text.slice(1) : text, { addSpecial: false, parseSpecial });

  if (addSpecial && t.addBos && t.bos >= 0) yield Int32Array.of(t.bos);
  let pending = '';
  for await (const chunk of chunksOf(source)) {
    if (typeof chunk !== 'string') throw v.invalid('string chunks', 'source', chunk);
    pending += chunk;
    if (pending.length < 2 * MARGIN) continue;
    // The last cut point at least MARGIN characters before the end.
    let cut = -1;
    CUT.lastIndex = 0;
    for (let m = CUT.exec(pending); m; m = CUT.exec(pending)) {
      if (m.index > pending.length - MARGIN) break;
      if (m.index > 0) cut = m.index;
    }
    if (cut <= 0) continue;
    const head = tok(pending.slice(0, cut), !started);
    const tail = tok(pending.slice(cut), false);
    if (!equalConcat(head, tail, tok(pending, !started))) continue; // not a clean boundary; wait for more text
    if (head.length > 0) yield head;
    pending = pending.slice(cut);
    started = true;
  }
  const last = pending.length > 0 ? tok(pending, !started) : new Int32Array(0);
  if (addSpecial && t.addEos && t.eos >= 0) {
    const withEos = new Int32Array(last.length + 1);
    withEos.set(last);
    withEos[last.length] = t.eos;
    yield withEos;
  } else if (last.length > 0) yield last;
}
