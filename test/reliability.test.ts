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
