// The defects a hostile probe found, each guarded: files that would block, unknown options,
// thread counts, token ranges.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HalfbyteError, load, measureReadBandwidth, quantize, readGgufInfo, type Model } from '../lib/index.js';
import { codeOf, modelPath } from './helpers.js';

const stories = modelPath('stories260K.gguf');

describe('files that are not regular files', () => {
  let dir: string;
  let fifo: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hb-fifo-'));
    fifo = join(dir, 'model.gguf');
    execFileSync('mkfifo', [fifo]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('load, readGgufInfo and a session load of a FIFO fail at once instead of blocking', async () => {
    const t0 = Date.now();
    const err = await load(fifo).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(HalfbyteError);
    expect((err as HalfbyteError).code).toBe('FILE_READ_ERROR');
    expect((err as HalfbyteError).message).toMatch(/FIFO/);
    expect(await codeOf(readGgufInfo(fifo))).toBe('FILE_READ_ERROR');
    const m = await load(stories);
    const s = m.createSession();
    expect(await codeOf(s.load(fifo))).toBe('FILE_READ_ERROR');
    s.dispose();
    m.dispose();
    expect(await codeOf(quantize(fifo, join(dir, 'out.gguf'), { type: 'Q8_0' }))).toBe('FILE_READ_ERROR');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a directory and a device are refused too', async () => {
    expect(await codeOf(load(dir))).toBe('FILE_READ_ERROR');
    expect(await codeOf(readGgufInfo('/dev/zero'))).toBe('FILE_READ_ERROR');
  });
});

describe('options', () => {
  let m: Model;
  beforeAll(async () => {
    m = await load(stories);
  });
  afterAll(() => m.dispose());

  const invalid = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(HalfbyteError);
      expect((e as HalfbyteError).code).toBe('INVALID_ARGUMENT');
      return (e as HalfbyteError).message;
    }
    throw new Error('no error');
  };

  it('an unknown option name is INVALID_ARGUMENT naming the closest valid one', async () => {
    expect(invalid(() => m.generate('x', { maxToken: 3 } as never))).toMatch(/"maxToken".*did you mean "maxTokens"/);
    expect(invalid(() => load(stories, { thread: 2 } as never))).toMatch(/did you mean "threads"/);
    expect(invalid(() => m.createSession({ contextsize: 64 } as never))).toMatch(/did you mean "contextSize"/);
    expect(invalid(() => m.tokenize('x', { addspecial: false } as never))).toMatch(/did you mean "addSpecial"/);
    expect(invalid(() => m.chat([{ role: 'user', content: 'hi' }], { temprature: 0 } as never))).toMatch(/did you mean "temperature"/);
    expect(invalid(() => m.createChatSession({ system: 'x' } as never))).toMatch(/options are .*systemPrompt/);
    expect(await codeOf(m.score('a', ['b'], { signl: undefined, batch: 2 } as never))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(m.perplexity('a b c', { batchsize: 8 } as never))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(m.embed('a', { pool: 'mean' } as never))).toBe('INVALID_ARGUMENT');
    // undefined values are not options that were given
    expect(m.tokenize('x', { addSpecial: true, parseSpecial: undefined }).length).toBeGreaterThan(0);
  });

  it('threads above 4x the logical CPUs are refused, with the limit in the message', async () => {
    const max = Math.max(4, 4 * availableParallelism());
    expect(invalid(() => load(stories, { threads: 1000 }))).toContain(`from 1 to ${max}`);
    expect(await codeOf(measureReadBandwidth({ threads: max + 1 }))).toBe('INVALID_ARGUMENT');
    const ok = await load(stories, { threads: max });
    ok.dispose();
  });

  it('isEndOfGeneration checks the token range', () => {
    for (const t of [-1, m.info.vocabSize, 2 ** 31 - 1]) {
      try {
        m.isEndOfGeneration(t);
        throw new Error('no error');
      } catch (e) {
        expect((e as HalfbyteError).code).toBe('TOKEN_OUT_OF_RANGE');
      }
    }
    expect(m.isEndOfGeneration(2)).toBe(true); // </s>
    expect(m.isEndOfGeneration(100)).toBe(false);
  });
});

describe('resource limits', () => {
  const limited = async <T>(bytes: number, fn: () => Promise<T>): Promise<T> => {
    process.env.HALFBYTE_MEMORY_LIMIT = String(bytes);
    try {
      return await fn();
    } finally {
      delete process.env.HALFBYTE_MEMORY_LIMIT;
    }
  };

  it('a KV cache that cannot fit is OUT_OF_MEMORY before allocating, with the size it needed', async () => {
    const m = await load(modelPath('tiny-llama-Q4_0.gguf'));
    const err = await limited(1 << 20, async () => {
      try {
        m.createSession({ contextSize: 4096 });
      } catch (e) {
        return e as HalfbyteError;
      }
      throw new Error('no error');
    });
    expect(err.code).toBe('OUT_OF_MEMORY');
    expect(err.message).toBe(
      'Expected a KV cache that fits in memory for a context of 4096 tokens but it needs 4.0 MiB and the system has 1.0 MiB available; use a smaller context size',
    );
    const s = m.createSession({ contextSize: 4096 }); // without the limit it fits
    s.dispose();
    m.dispose();
  });

  it('packWeights is skipped, and says why, when the packed copy would not fit; the model still generates', async () => {
    const m = await limited(256 << 10, () => load(modelPath('tiny-llama-Q4_0.gguf'), { packWeights: true }));
    expect(m.info.packedBytes).toBe(0);
    expect(m.info.packSkipped).toBe('the packed copy needs 969 KiB and the system has 256 KiB available');
    const packed = await load(modelPath('tiny-llama-Q4_0.gguf'), { packWeights: true });
    expect(packed.info.packedBytes).toBeGreaterThan(0);
    expect(packed.info.packSkipped).toBeUndefined();
    const text = async (model: Model) => {
      let t = '';
      for await (const c of model.generate('Once upon a time', { maxTokens: 12, temperature: 0 })) t += c.text;
      return t;
    };
    expect(await text(m)).toBe(await text(packed)); // the same bits either way
    m.dispose();
    packed.dispose();
  });

  it('absurd sizes are clear errors', async () => {
    const m = await load(stories);
    expect(await codeOf(Promise.resolve().then(() => m.createSession({ contextSize: 2 ** 30 })))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(Promise.resolve().then(() => load(stories, { contextSize: 0 })))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(Promise.resolve().then(() => m.generate('x', { maxTokens: 2 ** 31 })))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(m.perplexity('a b c d e f g', { contextSize: 8, batchSize: 0 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(m.perplexity('a b c d e f g', { contextSize: 2 ** 30 }))).toBe('INVALID_ARGUMENT');
    m.dispose();
  });
});

describe('chat templates are untrusted input', () => {
  let m: Model;
  beforeAll(async () => {
    m = await load(stories);
  });
  afterAll(() => m.dispose());
  const render = (template: string) => {
    try {
      return m.applyChatTemplate([{ role: 'user', content: 'hi' }], { template });
    } catch (e) {
      expect(e).toBeInstanceOf(HalfbyteError);
      return (e as HalfbyteError).code;
    }
  };

  it('cannot reach process, require, globalThis or constructors', () => {
    for (const t of ['{{ process }}', '{{ require }}', '{{ globalThis }}', '{{ messages.constructor }}', '{{ messages.__proto__ }}',
      "{{ ''.constructor.constructor('return process')() }}", "{{ messages.constructor.constructor('return globalThis')() }}",
      "{{ raise_exception.constructor('return process')() }}"]) {
      const out = render(t);
      expect(['', 'INVALID_CHAT_TEMPLATE']).toContain(out);
    }
  });

  it('a template that would hang or exhaust memory stops with INVALID_CHAT_TEMPLATE', () => {
    const t0 = Date.now();
    expect(render('{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}x{% endfor %}{% endfor %}{% endfor %}')).toBe('INVALID_CHAT_TEMPLATE');
    expect(render('{% set s = "ab" %}{% for i in range(40) %}{% set s = s ~ s %}{% endfor %}{{ s }}')).toBe('INVALID_CHAT_TEMPLATE');
    expect(render('{% for i in range(100000000) %}{% endfor %}')).toBe('INVALID_CHAT_TEMPLATE');
    expect(render('{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}')).toBe('INVALID_CHAT_TEMPLATE');
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});

describe('the native load entry point', () => {
  // lib/model.ts always hands it a checked options object; whatever else reaches it (a caller of
  // the internal addon, a future refactor) must be refused with a code, never crash or load.
  it('refuses anything but a flat options object of the right types, naming the field', async () => {
    const { addon } = await import('../lib/addon.js');
    const { nativeAsync, native } = await import('../lib/errors.js');
    const good = { threads: 1, vocabOnly: true, packWeights: true };
    const refused = async (options: unknown) => {
      try {
        await nativeAsync(native(() => addon().loadModel(stories, options as never)));
      } catch (err) {
        expect(err).toBeInstanceOf(HalfbyteError);
        return `${(err as HalfbyteError).code}: ${(err as HalfbyteError).message}`;
      }
      return 'loaded';
    };
    expect(await refused(undefined)).toBe('INVALID_ARGUMENT: Expected a load options object');
    expect(await refused(2)).toBe('INVALID_ARGUMENT: Expected a load options object');
    expect(await refused({ ...good, threads: -1 })).toMatch(/^INVALID_ARGUMENT: Expected an integer in \[0, 1024\] for threads but received -1/);
    expect(await refused({ ...good, threads: undefined })).toBe('INVALID_ARGUMENT: Expected a number for threads');
    expect(await refused({ ...good, vocabOnly: 'yes' })).toBe('INVALID_ARGUMENT: Expected a boolean for vocabOnly');
    expect(await refused({ threads: 1, vocabOnly: true })).toBe('INVALID_ARGUMENT: Expected a boolean for packWeights');
    expect(await refused({ ...good, packCacheDir: 5 })).toBe('INVALID_ARGUMENT: Expected a string for packCacheDir');
    // The same object, well formed, loads (vocabulary only).
    const handle = await nativeAsync(addon().loadModel(stories, good));
    expect(handle.info().vocabSize).toBe(512);
    handle.dispose();
  });
});
