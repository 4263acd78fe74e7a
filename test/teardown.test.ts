// Teardown and abort while work is in flight: every operation, disposed or aborted mid-way, ends
// with its result or a HalfbyteError (DISPOSED / ABORTED), never a crash, a hang or a model left
// unusable; models and sessions disposed in random order while generating; process.exit with
// work on the addon's threads.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HalfbyteError, load, quantize, type Model } from '../lib/index.js';
import { fixtures, modelPath } from './helpers.js';

const stories = modelPath('stories260K.gguf');
const bigger = modelPath('tiny-llama-F32.gguf');
const text = readFileSync(join(fixtures, 'models', 'long-prompt.txt'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'hb-teardown-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The outcome of a call: 'ok', or the HalfbyteError's code, thrown or rejected (anything else fails the test). */
async function outcome(p: Promise<unknown> | (() => Promise<unknown>)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(HalfbyteError);
    return (e as HalfbyteError).code;
  }
}
const drain = async (it: AsyncIterable<unknown>) => {
  for await (const _ of it);
};

type Op = (m: Model, signal?: AbortSignal) => Promise<unknown>;
const ops: Record<string, Op> = {
  generate: (m, signal) => drain(m.generate('Once upon a time', { maxTokens: 64, temperature: 0, signal })),
  prefill: (m, signal) => drain(m.generate(text, { maxTokens: 1, signal })),
  score: (m, signal) => m.score('Once upon a time', [' there was', ' a dog', ' in the park'], { signal }),
  perplexity: (m, signal) => m.perplexity(text, { contextSize: 64, signal }),
  embed: (m, signal) => m.embed([text, 'Once upon a time'], { signal }),
  evaluate: (m, signal) => m.evaluate(m.tokenize(text), { logits: 'all', signal }),
  session: (m, signal) => drain(m.createSession().generate(text, { maxTokens: 8, signal })),
};

describe('dispose while work is in flight', () => {
  for (const [name, op] of Object.entries(ops)) {
    it(`${name}: ends with its result or DISPOSED, and a fresh load still works`, async () => {
      for (let round = 0; round < 3; round++) {
        const m = await load(bigger, { threads: 2 });
        const p = op(m);
        if (round > 0) await new Promise((r) => setTimeout(r, round * 2));
        m.dispose();
        expect(['ok', 'DISPOSED']).toContain(await outcome(p));
        expect(await outcome(() => op(m))).toBe('DISPOSED');
      }
      const m = await load(stories);
      expect(await outcome(op(m))).toBe('ok');
      m.dispose();
    });
  }
});

describe('abort while work is in flight', () => {
  for (const [name, op] of Object.entries(ops)) {
    it(`${name}: ABORTED (or done), and the model goes on working`, async () => {
      const m = await load(bigger, { threads: 2 });
      for (const delay of [0, 1, 5]) {
        const c = new AbortController();
        const p = op(m, c.signal);
        setTimeout(() => c.abort(), delay);
        expect(['ok', 'ABORTED']).toContain(await outcome(p));
      }
      const c = new AbortController();
      c.abort();
      expect(await outcome(op(m, c.signal))).toBe('ABORTED');
      expect(await outcome(op(m))).toBe('ok');
      m.dispose();
    });
  }

  it('load: ABORTED before or during loading', async () => {
    const c = new AbortController();
    c.abort();
    expect(await outcome(Promise.resolve(load(bigger, { signal: c.signal })))).toBe('ABORTED');
    for (const delay of [0, 1, 3]) {
      const c2 = new AbortController();
      const p = Promise.resolve(load(bigger, { signal: c2.signal })).then((m) => m.dispose());
      setTimeout(() => c2.abort(), delay);
      expect(['ok', 'ABORTED']).toContain(await outcome(p));
    }
  });

  it('quantize: ABORTED, leaving no output file', async () => {
    const out = join(dir, 'q.gguf');
    const c = new AbortController();
    const p = quantize(bigger, out, { type: 'Q4_K_M', signal: c.signal, onProgress: () => c.abort() });
    expect(await outcome(p)).toBe('ABORTED');
    expect(() => readFileSync(out)).toThrow();
  });
});

describe('several models and sessions disposed in random order while generating', () => {
  it('every stream ends with text or DISPOSED, and nothing crashes', async () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    for (let round = 0; round < 4; round++) {
      const models = [await load(stories, { threads: 1 }), await load(bigger, { threads: 1 })];
      const sessions = models.flatMap((m) => [m.createSession(), m.createSession(), m.createSession()]);
      // Each outcome is observed from the start, so a stream that ends while others are still
      // being disposed is never an unhandled rejection.
      const streams = [
        ...sessions.map((s, i) => drain(s.generate(`Once upon a time ${i}`, { maxTokens: 100, temperature: 0.7, seed: i }))),
        ...models.map((m) => drain(m.generate('Lily', { maxTokens: 100 }))),
      ].map(outcome);
      const handles: { dispose(): void }[] = [...models, ...sessions];
      for (let k = handles.length; k > 0; k--) {
        await new Promise((r) => setTimeout(r, rand(3)));
        handles.splice(rand(handles.length), 1)[0]!.dispose();
      }
      const outcomes = await Promise.all(streams);
      for (const o of outcomes) expect(['ok', 'DISPOSED']).toContain(o);
    }
  });
});

describe('process.exit', () => {
  it('exits promptly with generations running on the addon threads, in the main thread and in workers', () => {
    const script = `
      import { Worker, isMainThread } from 'node:worker_threads';
      const { load } = await import(${JSON.stringify(join(fixtures, '..', '..', 'dist', 'esm', 'index.js'))});
      const m = await load(${JSON.stringify(bigger)}, { threads: 2 });
      const run = async () => { for await (const _ of m.generate('Once', { maxTokens: 100000 })); };
      if (isMainThread) {
        for (let i = 0; i < 3; i++) new Worker(new URL(import.meta.url));
        run(); run();
        setTimeout(() => process.exit(3), 300);
      } else { run(); }`;
    const file = join(dir, 'exit.mjs');
    writeFileSync(file, script);
    const t0 = Date.now();
    let code = 0;
    try {
      execFileSync(process.execPath, [file], { timeout: 30_000, stdio: 'pipe' });
    } catch (e) {
      code = (e as { status: number }).status;
    }
    expect(code).toBe(3);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});
