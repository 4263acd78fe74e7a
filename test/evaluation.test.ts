// Log-probabilities, scoring, perplexity, sessions and concurrent generations.
import { describe, expect, it } from 'vitest';
import { load } from '../lib/index.js';
import { codeOf, logSoftmax, modelPath, tokensOf } from './helpers.js';

const stories = modelPath('stories260K.gguf');
const model = await load(stories, { threads: 2 });


const greedy = tokensOf;

// Text of our own making for perplexity.
export const storyText =
  'Once upon a time, there was a little dog named Max. Max liked to run in the park with his friend Sam. ' +
  'One day, Max saw a big red ball under a tree. He wanted to play with it, but the ball was stuck. ' +
  'Sam came to help. They pulled and pulled until the ball came out. Max was very happy. ' +
  'They played all day in the sun. When the sun went down, Max and Sam went home. Mom gave them some milk and a hug. ' +
  'Max said thank you and went to sleep in his warm bed. The next day, Max and Sam went to the park again.';

describe('logprobs', () => {
  it('each chunk carries log p(token) and the top alternatives, matching evaluate()', async () => {
    const prompt = model.tokenize('Once upon a time');
    const chunks = [];
    for await (const c of model.generate(prompt, { temperature: 0, maxTokens: 6, topLogprobs: 3 })) chunks.push(c);
    expect(chunks.length).toBe(6);
    const seq = [...prompt, ...chunks.map((c) => c.token)];
    const { logits, nVocab } = await model.evaluate(seq, { logits: 'all' });
    chunks.forEach((c, i) => {
      const row = logSoftmax(logits.subarray((prompt.length - 1 + i) * nVocab, (prompt.length + i) * nVocab));
      expect(c.logprob!).toBeCloseTo(row[c.token], 3);
      expect(c.topLogprobs!.length).toBe(3);
      expect(c.topLogprobs![0].token).toBe(c.token); // greedy picks the most likely
      expect(c.topLogprobs![1].logprob).toBeLessThanOrEqual(c.topLogprobs![0].logprob);
      const alt = c.topLogprobs![1];
      expect(alt.text).toBe(new TextDecoder().decode(model.tokenBytes(alt.token)));
      expect(alt.logprob).toBeCloseTo(row[alt.token], 3);
    });
    const plain = [];
    for await (const c of model.generate(prompt, { temperature: 0, maxTokens: 2, logprobs: true })) plain.push(c);
    expect(plain[0].logprob).toBeCloseTo(chunks[0].logprob!, 5);
    expect(plain[0].topLogprobs).toBeUndefined();
  });
});

describe('score', () => {
  it('equals the log-softmax of evaluate() logits summed over each continuation', async () => {
    const prompt = 'Once upon a time, there was a little';
    const choices = [' girl named Lily.', ' dog.', ' red ball that could talk', ' boy'];
    const results = await model.score(prompt, choices);
    expect(results.length).toBe(4);
    for (let c = 0; c < choices.length; c++) {
      const whole = model.tokenize(prompt + choices[c]);
      const { tokens, tokenLogprobs, logprob } = results[c];
      expect(Array.from(whole.subarray(whole.length - tokens.length))).toEqual(Array.from(tokens));
      const { logits, nVocab } = await model.evaluate(whole, { logits: 'all' });
      let expected = 0;
      for (let j = whole.length - tokens.length; j < whole.length; j++) {
        const lp = logSoftmax(logits.subarray((j - 1) * nVocab, j * nVocab))[whole[j]];
        expect(tokenLogprobs[j - (whole.length - tokens.length)]).toBeCloseTo(lp, 3);
        expected += lp;
      }
      expect(Math.abs(logprob - expected)).toBeLessThan(1e-3);
    }
    // The trained model prefers the story-like ending.
    expect(results[0].logprob / results[0].tokens.length).toBeGreaterThan(results[2].logprob / results[2].tokens.length);
  });

  it('rejects an empty continuation and a prompt longer than the context', async () => {
    expect(await codeOf(model.score('Once upon a time', ['']))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(model.score('Once upon a time', []))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(model.score('Once upon a time', [42 as unknown as string]))).toBe('INVALID_ARGUMENT');
    const long = await load(stories, { contextSize: 8 });
    expect(await codeOf(long.score('Once upon a time there was a dog', [' and a cat']))).toBe('CONTEXT_FULL');
    long.dispose();
  });
});

describe('perplexity', () => {
  it("follows llama-perplexity's method: chunks with BOS, second half scored", async () => {
    const n = 32;
    const r = await model.perplexity(storyText, { contextSize: n });
    const tokens = model.tokenize(storyText);
    const chunks = Math.floor(tokens.length / n);
    expect(r.chunks).toBe(chunks);
    expect(r.tokens).toBe(chunks * (n - 1 - n / 2));
    // The same method written out over evaluate() logits.
    let nll = 0;
    for (let c = 0; c < chunks; c++) {
      const chunk = Array.from(tokens.subarray(c * n, (c + 1) * n));
      chunk[0] = model.info.tokenizer.bos;
      const { logits, nVocab } = await model.evaluate(chunk, { logits: 'all' });
      for (let i = n / 2; i < n - 1; i++) nll -= logSoftmax(logits.subarray(i * nVocab, (i + 1) * nVocab))[chunk[i + 1]];
    }
    expect(r.perplexity).toBeCloseTo(Math.exp(nll / r.tokens), 3);
    // llama.cpp's own figure for this file, text and context size, from its llama-perplexity
    // (ggml 0.23.0, as bundled in node-llama-cpp 3.21.1), with storyText written to story.txt:
    //   llama-perplexity -m stories260K.gguf -f story.txt -c 32 -b 32 -t 2
    //   -> "calculating perplexity over 6 chunks, n_ctx=32" … "Final estimate: PPL = 3.9222 +/- 0.71136"
    expect(r.chunks).toBe(6);
    expect(r.perplexity).toBeCloseTo(3.9222, 3);
    // Batching is a memory setting only.
    const batched = await model.perplexity(storyText, { contextSize: n, batchSize: 7 });
    expect(batched.perplexity).toBeCloseTo(r.perplexity, 4);
  });

  it('needs at least two chunks of text', async () => {
    expect(await codeOf(model.perplexity('Once upon a time', { contextSize: 64 }))).toBe('INVALID_ARGUMENT');
  });
});

describe('sessions', () => {
  it('reuses the cached prefix and evaluates only the new tokens', async () => {
    const session = model.createSession({ contextSize: 256 });
    const first = 'Once upon a time, there was a little girl.';
    const out1 = await greedy(session.generate(first, { temperature: 0, maxTokens: 10 }));
    const promptLen = model.tokenize(first).length;
    expect(session.stats).toMatchObject({ reusedTokens: 0, evaluatedTokens: promptLen + 9 });
    const second = first + ' She liked to play.';
    const out2 = await greedy(session.generate(second, { temperature: 0, maxTokens: 10 }));
    const secondTokens = model.tokenize(second);
    expect(session.stats.reusedTokens).toBeGreaterThanOrEqual(promptLen - 1);
    expect(session.stats.evaluatedTokens).toBe(secondTokens.length - session.stats.reusedTokens + 9);
    // Reuse changes nothing in the results.
    expect(out1).toEqual(await greedy(model.generate(first, { temperature: 0, maxTokens: 10 })));
    expect(out2).toEqual(await greedy(model.generate(second, { temperature: 0, maxTokens: 10 })));
    // Asking again for the same prompt evaluates just one token.
    await greedy(session.generate(second, { temperature: 0, maxTokens: 1 }));
    expect(session.stats.evaluatedTokens).toBe(1);
    session.dispose();
  });

  it("'error' overflow throws CONTEXT_FULL; 'shift' keeps going past the context size", async () => {
    const small = model.createSession({ contextSize: 24 });
    expect(await codeOf(greedy(small.generate('Once upon a time', { temperature: 0, maxTokens: 40 })))).toBe('CONTEXT_FULL');
    expect(small.tokens.length).toBeLessThanOrEqual(24);
    small.dispose();
    const shifting = model.createSession({ contextSize: 24, contextOverflow: 'shift', keep: 1 });
    const out = await greedy(shifting.generate('Once upon a time', { temperature: 0, maxTokens: 60 }));
    expect(out.length).toBe(60);
    expect(shifting.stats.shifts).toBeGreaterThan(0);
    expect(shifting.tokens.length).toBeLessThanOrEqual(24);
    expect(shifting.tokens[0]).toBe(model.info.tokenizer.bos);
    shifting.dispose();
  });

  it('refuses concurrent calls, prompts over the context, and use after dispose', async () => {
    const s = model.createSession({ contextSize: 64 });
    const a = s.generate('Once upon a time', { maxTokens: 20 })[Symbol.asyncIterator]();
    await a.next();
    expect(await codeOf(greedy(s.generate('Once', { maxTokens: 2 })))).toBe('CONTEXT_BUSY');
    await a.return?.();
    expect((await greedy(s.generate('Once', { maxTokens: 2 }))).length).toBe(2);
    expect(() => s.generate('word '.repeat(100))).toThrow(/shorter than the session's context size/);
    s.dispose();
    expect(() => s.generate('Once')).toThrow(/disposed/);
    expect(() => model.createSession({ contextOverflow: 'wrap' as 'shift' })).toThrow(/'error' or 'shift'/);
  });
});

describe('concurrency', () => {
  it('8 concurrent greedy generations equal the sequential results', async () => {
    const prompts = ['Once upon a time', 'The dog', 'Lily was', 'One day', 'Tom and Sue', 'The sun', 'A bird', 'Mom said'];
    const sequential = [];
    for (const p of prompts) sequential.push(await greedy(model.generate(p, { temperature: 0, maxTokens: 24 })));
    const before = model.native().stepBatchStats();
    const concurrent = await Promise.all(prompts.map((p) => greedy(model.generate(p, { temperature: 0, maxTokens: 24 }))));
    const after = model.native().stepBatchStats();
    expect(concurrent).toEqual(sequential);
    // The steps of the 8 generations share batches (one weight read per batch), not one worker each.
    const steps = after.steps - before.steps;
    const batches = after.batches - before.batches;
    expect(steps).toBeGreaterThan(8 * 10);
    expect(steps / batches).toBeGreaterThanOrEqual(6);
    const sessions = prompts.map(() => model.createSession({ contextSize: 64 }));
    const viaSessions = await Promise.all(prompts.map((p, i) => greedy(sessions[i].generate(p, { temperature: 0, maxTokens: 24 }))));
    expect(viaSessions).toEqual(sequential);
    sessions.forEach((s) => s.dispose());
  });
});

describe('session save/load', () => {
  it('round-trips the cache: the same continuation after load, nothing re-evaluated', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'halfbyte-session-'));
    const file = join(dir, 'chat.session');
    const prompt = 'Once upon a time, there was a little girl named Lily.';
    const a = model.createSession({ contextSize: 128 });
    await greedy(a.generate(prompt, { temperature: 0, maxTokens: 5 }));
    await a.save(file);
    const b = model.createSession({ contextSize: 128 });
    await b.load(file);
    expect(b.tokens).toEqual(a.tokens);
    const next = prompt + ' She';
    const fromA = await greedy(a.generate(next, { temperature: 0, maxTokens: 12 }));
    const fromB = await greedy(b.generate(next, { temperature: 0, maxTokens: 12 }));
    expect(fromB).toEqual(fromA);
    expect(b.stats.reusedTokens).toBe(a.stats.reusedTokens);
    // Errors: another model, a corrupt file, a context too small, a missing file.
    const other = await load(modelPath('tiny-llama-Q4_0.gguf'));
    const o = other.createSession({ contextSize: 128 });
    expect(await codeOf(o.load(file))).toBe('STATE_MODEL_MISMATCH');
    writeFileSync(join(dir, 'junk.session'), 'junk');
    expect(await codeOf(b.load(join(dir, 'junk.session')))).toBe('STATE_BAD_FILE');
    expect(b.tokens.length).toBe(0);
    const tiny = model.createSession({ contextSize: 8 });
    expect(await codeOf(tiny.load(file))).toBe('CONTEXT_FULL');
    expect(await codeOf(b.load(join(dir, 'missing.session')))).toBe('FILE_NOT_FOUND');
    [a, b, o, tiny].forEach((s) => s.dispose());
    other.dispose();
    expect(await codeOf(a.save(file))).toBe('DISPOSED');
  });
});

describe('embed', () => {
  it('mean-pools the final hidden states and normalizes them', async () => {
    const e = await model.embed('Once upon a time');
    expect(e.length).toBe(model.info.embeddingLength);
    let norm = 0;
    for (const x of e) norm += x * x;
    expect(norm).toBeCloseTo(1, 5);
    const [same, other] = await model.embed(['Once upon a time', 'The dog ran to the park']);
    expect(Array.from(same)).toEqual(Array.from(e));
    const cos = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + v * y[i], 0);
    expect(cos(e, other)).toBeLessThan(0.9999);
    const last = await model.embed('Once upon a time', { pooling: 'last', normalize: false });
    expect(last.length).toBe(model.info.embeddingLength);
    expect(last.some((x) => Math.abs(x) > 1e-3)).toBe(true);
    expect(await codeOf(model.embed('x', { pooling: 'max' as 'mean' }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(model.embed([]))).toBe('INVALID_ARGUMENT');
  });
});
