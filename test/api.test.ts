// The public API's contract: generation options, stop strings, abort, dispose, guards, errors.
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { HalfbyteError, getCpuInfo, load, measureReadBandwidth, type Model } from '../lib/index.js';
import { modelPath, readRef } from './helpers.js';

const stories = modelPath('stories260K.gguf');

async function collect(it: AsyncIterable<{ token: number; text: string }>) {
  const tokens: number[] = [];
  let text = '';
  for await (const c of it) {
    tokens.push(c.token);
    text += c.text;
  }
  return { tokens, text };
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string) {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(HalfbyteError);
    expect((err as HalfbyteError).code).toBe(code);
    return err as HalfbyteError;
  }
  throw new Error(`expected a HalfbyteError with code ${code}`);
}

describe('load', () => {
  it('reports model info', async () => {
    await using model = await load(stories);
    expect(model.info).toMatchObject({
      architecture: 'llama',
      embeddingLength: 64,
      layers: 5,
      heads: 8,
      kvHeads: 4,
      vocabSize: 512,
      vocabOnly: false,
    });
    expect(model.info.tensorTypes.F32).toBeGreaterThan(0);
    expect(model.info.tokenizer.model).toBe('llama');
  });

  it('is an async iterable of progress events and an awaitable', async () => {
    const task = load(modelPath('tiny-llama-F32.gguf'));
    const events = [];
    for await (const p of task) events.push(p);
    const model = await task;
    expect(events.length).toBeGreaterThan(0);
    const last = events[events.length - 1];
    expect(last.loadedBytes).toBe(last.totalBytes);
    expect(last.totalBytes).toBeGreaterThan(1_000_000);
    model.dispose();
  });

  it('calls onProgress and honours an already-aborted signal', async () => {
    const seen: number[] = [];
    const model = await load(stories, { onProgress: (p) => seen.push(p.loadedBytes) });
    expect(seen.length).toBeGreaterThan(0);
    model.dispose();
    await expectCode(load(stories, { signal: AbortSignal.abort() }), 'ABORTED');
  });

  it('rejects bad options with INVALID_ARGUMENT', async () => {
    await expectCode(() => load(stories, { threads: 0 }), 'INVALID_ARGUMENT');
    await expectCode(() => load(stories, { threads: 1.5 }), 'INVALID_ARGUMENT');
    await expectCode(() => load(42 as unknown as string), 'INVALID_ARGUMENT');
    const err = await expectCode(() => load(stories, { contextSize: -1 }), 'INVALID_ARGUMENT');
    expect(err.message).toMatch(/^Expected an integer from 1 to \d+ for contextSize but received -1$/);
  });

  it("runs on the CPU by default; gpu: 'auto' falls back and says why, gpu: 'cuda' is GPU_UNAVAILABLE in a CPU-only binary", async () => {
    await using cpu = await load(stories);
    expect(cpu.info.gpu).toEqual({ backend: 'cpu', offloadedLayers: 0 });
    await using auto = await load(stories, { gpu: 'auto', gpuLayers: 2 });
    expect(auto.info.gpu).toMatchObject({ backend: 'cpu', offloadedLayers: 0 });
    expect(auto.info.gpu.reason).toMatch(/built without the CUDA backend/);
    const [a, b] = [await cpu.evaluate([1, 403, 407]), await auto.evaluate([1, 403, 407])];
    expect(Array.from(b)).toEqual(Array.from(a));
    const err = await expectCode(() => load(stories, { gpu: 'cuda' }), 'GPU_UNAVAILABLE');
    expect(err.message).toMatch(/^Expected a CUDA backend for gpu: 'cuda' but this halfbyte binary was built without/);
    await expectCode(() => load(stories, { gpu: 'rocm' as 'cuda' }), 'INVALID_ARGUMENT');
    await expectCode(() => load(stories, { gpuLayers: 4 }), 'INVALID_ARGUMENT');
    await expectCode(() => load(stories, { gpu: 'auto', gpuLayers: -1 }), 'INVALID_ARGUMENT');
  });

  it('gives FILE_NOT_FOUND for a missing file', async () => {
    await expectCode(load('/nonexistent/model.gguf'), 'FILE_NOT_FOUND');
  });

  it('vocabOnly loads the tokenizer but refuses to evaluate', async () => {
    await using model = await load(stories, { vocabOnly: true });
    expect(Array.from(model.tokenize('Once upon a time'))).toEqual(readRef('stories260K.ref.json')[0].tokens.slice(0, 5));
    await expectCode(model.evaluate([1, 2, 3]), 'VOCAB_ONLY');
  });
});

describe('generate', () => {
  let model: Model;
  const prompt = 'Once upon a time';

  it('is reproducible with a seed and differs across seeds', async () => {
    model = await load(stories);
    const a = await collect(model.generate(prompt, { seed: 7, maxTokens: 40 }));
    const b = await collect(model.generate(prompt, { seed: 7, maxTokens: 40 }));
    const c = await collect(model.generate(prompt, { seed: 8, maxTokens: 40 }));
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens.length).toBe(40);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it('honours maxTokens and accepts token-id prompts', async () => {
    const ids = model.tokenize(prompt);
    const out = await collect(model.generate(Array.from(ids), { temperature: 0, maxTokens: 5 }));
    const fromText = await collect(model.generate(prompt, { temperature: 0, maxTokens: 5 }));
    expect(out.tokens).toEqual(fromText.tokens);
    expect(out.tokens.length).toBe(5);
    expect(await collect(model.generate(prompt, { maxTokens: 0 }))).toEqual({ tokens: [], text: '' });
  });

  it('ends before a stop string and never yields it', async () => {
    const full = await collect(model.generate(prompt, { temperature: 0, maxTokens: 60 }));
    const stop = full.text.slice(20, 26);
    const idx = full.text.indexOf(stop);
    const cut = await collect(model.generate(prompt, { temperature: 0, maxTokens: 60, stop }));
    expect(cut.text).toBe(full.text.slice(0, idx));
    expect(cut.tokens).toEqual(full.tokens.slice(0, cut.tokens.length));
    const multi = await collect(model.generate(prompt, { temperature: 0, maxTokens: 60, stop: ['zzzz', stop] }));
    expect(multi.text).toBe(cut.text);
  });

  it('stops when aborted, with code ABORTED', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const err = await expectCode(
      (async () => {
        for await (const c of model.generate(prompt, { maxTokens: 200, signal: controller.signal })) {
          seen.push(c.token);
          if (seen.length === 3) controller.abort();
        }
      })(),
      'ABORTED',
    );
    expect(seen.length).toBe(3);
    expect(err.message).toMatch(/aborted/);
  });

  it('breaking out of the loop ends the generation and frees the context', async () => {
    for (let round = 0; round < 3; round++) {
      let n = 0;
      for await (const _ of model.generate(prompt, { maxTokens: 100 })) if (++n === 2) break;
      expect(n).toBe(2);
    }
  });

  it('keeps the event loop responsive while generating', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const big = await load(modelPath('tiny-llama-F32.gguf'), { threads: 1 });
    await collect(big.generate('Once upon a time', { maxTokens: 64, temperature: 0 }));
    clearInterval(timer);
    big.dispose();
    expect(ticks).toBeGreaterThan(3);
  });

  it('rejects bad sampling options', async () => {
    expect(() => model.generate(prompt, { temperature: -1 })).toThrow(/Expected a number from 0/);
    expect(() => model.generate(prompt, { topP: 2 })).toThrow(HalfbyteError);
    expect(() => model.generate(prompt, { topK: 1.5 })).toThrow(HalfbyteError);
    expect(() => model.generate(prompt, { stop: [''] })).toThrow(HalfbyteError);
    expect(() => model.generate(prompt, { signal: {} as AbortSignal })).toThrow(HalfbyteError);
    expect(() => model.generate('', { addSpecial: false })).toThrow(/empty prompt/);
    expect(() => model.generate([1, 99999])).not.toThrow();
    await expectCode(collect(model.generate([1, 99999])), 'TOKEN_OUT_OF_RANGE');
  });

  it('refuses a prompt longer than the context', async () => {
    expect(() => model.generate(prompt, { contextSize: 3 })).toThrow(/shorter than the context size 3/);
  });

  it('throws DISPOSED after dispose', async () => {
    model.dispose();
    expect(model.disposed).toBe(true);
    expect(() => model.tokenize('x')).toThrow(/disposed/);
    await expectCode(model.evaluate([1]), 'DISPOSED');
    expect(() => model.generate('x')).toThrow(HalfbyteError);
    model.dispose(); // twice is fine
  });
});

describe('evaluate', () => {
  it('validates tokens and rejects out-of-range ids', async () => {
    await using model = await load(stories);
    await expectCode(model.evaluate([]), 'INVALID_ARGUMENT');
    await expectCode(model.evaluate([1, -5]), 'TOKEN_OUT_OF_RANGE');
    await expectCode(model.evaluate([1, 512]), 'TOKEN_OUT_OF_RANGE');
    await expectCode(model.evaluate([1, 2.5]), 'INVALID_ARGUMENT');
    await expectCode(model.evaluate([1, 2], { logits: 'some' as 'all' }), 'INVALID_ARGUMENT');
  });

  it('runs evaluations of one model concurrently', async () => {
    await using model = await load(stories);
    const ref = readRef('stories260K.ref.json');
    const results = await Promise.all(ref.map((r) => model.evaluate(r.tokens)));
    const one = await model.evaluate(ref[1].tokens);
    expect(Array.from(results[1].logits)).toEqual(Array.from(one.logits));
  });
});

describe('tokenize/detokenize', () => {
  it('round-trips text and streams multi-byte characters', async () => {
    await using model = await load(stories, { vocabOnly: true });
    const text = 'Once upon a time, a cat saw 日本 and 🙂.';
    const ids = model.tokenize(text);
    expect(ids[0]).toBe(model.info.tokenizer.bos);
    expect(model.detokenize(ids)).toBe(text);
    expect(model.detokenize(model.tokenize(text, { addSpecial: false }))).toBe(text);
    expect(() => model.detokenize([100000])).toThrow(HalfbyteError);
    expect(() => model.tokenize(5 as unknown as string)).toThrow(/Expected a string for text/);
  });
});

describe('getCpuInfo', () => {
  it('reports the kernels in use', () => {
    const info = getCpuInfo();
    expect(info.availableIsas[0]).toBe('scalar');
    expect(info.availableIsas).toContain(info.activeIsa);
  });
});

describe('measureReadBandwidth', () => {
  it('measures a real rate with the threads and size asked for', async () => {
    const r = await measureReadBandwidth({ threads: 2, megabytes: 16, passes: 3 });
    expect(r).toMatchObject({ threads: 2, bytes: 16 * 2 ** 20, passes: 3 });
    // 16 MiB read in well under a second, and not an impossible figure.
    expect(r.medianGBps).toBeGreaterThan(0.02);
    expect(r.medianGBps).toBeLessThan(10000);
    expect(r.bestGBps).toBeGreaterThanOrEqual(r.medianGBps);
  });
  it('rejects bad options with typed errors', async () => {
    for (const [options, message] of [
      [{ threads: 0 }, `Expected an integer from 1 to ${Math.max(4, 4 * availableParallelism())} (4x the ${availableParallelism()} logical CPUs) for threads but received 0`],
      [{ megabytes: 1.5 }, 'Expected an integer from 1 to 1048576 for megabytes but received 1.5'],
      [{ passes: '3' }, 'Expected an integer from 1 to 1000 for passes but received "3"'],
      ['fast', 'Expected an options object for read bandwidth options but received "fast"'],
    ] as const) {
      const err = await measureReadBandwidth(options as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HalfbyteError);
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', message });
    }
  });
});
