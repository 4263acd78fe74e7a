// Everything beyond logits works on every architecture of the table: sessions (prefix reuse,
// save/load), score, perplexity, embed, concurrent generations (batched decode equal to
// sequential), and the errors for a known architecture missing what it needs. Logit parity per
// architecture is in parity.test.ts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HalfbyteError, load } from '../lib/index.js';
import { encodeGguf, readGguf } from './gguf-edit.js';
import { codeOf, logSoftmax, modelPath, tokensOf } from './helpers.js';

const longText = readFileSync(modelPath('long-prompt.txt'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'halfbyte-arch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));



const files = ['tiny-qwen3-Q8_0', 'tiny-qwen3moe-Q4_K_M', 'tiny-olmoe-Q8_0', 'tiny-gemma2-Q8_0', 'tiny-gemma3-Q4_K_M', 'tiny-phi3-Q8_0'];

describe.each(files)('%s', (name) => {
  it('sessions reuse the cached prefix and round-trip through a file', async () => {
    // The session's context size, so LongRoPE (phi3) picks the same factors either way.
    await using model = await load(modelPath(`${name}.gguf`), { threads: 2, contextSize: 256 });
    const first = 'Once upon a time, there was a little robot who';
    const second = first + ' liked to sing.';
    const session = model.createSession({ contextSize: 256 });
    const out1 = await tokensOf(session.generate(first, { temperature: 0, maxTokens: 8 }));
    const out2 = await tokensOf(session.generate(second, { temperature: 0, maxTokens: 8 }));
    expect(session.stats.reusedTokens).toBeGreaterThanOrEqual(model.tokenize(first).length - 1);
    expect(out1).toEqual(await tokensOf(model.generate(first, { temperature: 0, maxTokens: 8 })));
    expect(out2).toEqual(await tokensOf(model.generate(second, { temperature: 0, maxTokens: 8 })));
    const file = join(dir, `${name}.session`);
    await session.save(file);
    const restored = model.createSession({ contextSize: 256 });
    await restored.load(file);
    const next = second + ' One';
    expect(await tokensOf(restored.generate(next, { temperature: 0, maxTokens: 6 }))).toEqual(
      await tokensOf(session.generate(next, { temperature: 0, maxTokens: 6 })),
    );
    session.dispose();
    restored.dispose();
  });

  it('score and perplexity agree with evaluate()', async () => {
    await using model = await load(modelPath(`${name}.gguf`), { threads: 2 });
    const prompt = 'Once upon a time';
    const [r] = await model.score(prompt, [' there was']);
    const whole = model.tokenize(prompt + ' there was');
    const { logits, nVocab } = await model.evaluate(whole, { logits: 'all' });
    const n = r.tokens.length;
    let lp = 0;
    for (let i = whole.length - n; i < whole.length; i++)
      lp += logSoftmax(logits.subarray((i - 1) * nVocab, i * nVocab))[whole[i]];
    expect(r.logprob).toBeCloseTo(lp, 3);
    const p = await model.perplexity(longText, { contextSize: 64 });
    expect(p.chunks).toBe(Math.floor(model.tokenize(longText).length / 64));
    expect(Number.isFinite(p.perplexity) && p.perplexity > 1).toBe(true);
  });

  it('embeds, and concurrent generations equal sequential ones', async () => {
    await using model = await load(modelPath(`${name}.gguf`), { threads: 2 });
    const e = await model.embed('Once upon a time');
    expect(e.length).toBe(model.info.embeddingLength);
    expect(e.reduce((s, x) => s + x * x, 0)).toBeCloseTo(1, 5);
    const prompts = ['Once upon a time', 'The dog', 'Lily was', 'One day'];
    const sequential = [];
    for (const q of prompts) sequential.push(await tokensOf(model.generate(q, { temperature: 0, maxTokens: 16 })));
    const concurrent = await Promise.all(prompts.map((q) => tokensOf(model.generate(q, { temperature: 0, maxTokens: 16 }))));
    expect(concurrent).toEqual(sequential);
  });
});

describe('sliding-window sessions', () => {
  it('a cut behind the ring evaluates again from the start, with the same results', async () => {
    // gemma2's window is 24 tokens; a 2048-token session keeps rings of 768 slots in its local
    // layers. A second prompt that shares only the first ~190 tokens of a 1400-token first one
    // cannot reuse them (the ring moved on): the session evaluates it whole.
    await using model = await load(modelPath('tiny-gemma2-Q8_0.gguf'), { threads: 2 });
    const a = [longText, longText, longText, longText, longText].join(' ').slice(0, 5000);
    const b = a.slice(0, 400) + ' and then the sea was quiet.';
    const session = model.createSession({ contextSize: 2048 });
    await tokensOf(session.generate(a, { temperature: 0, maxTokens: 2 }));
    // Past the shared prefix plus the ring's 768 slots, so its window is overwritten.
    expect(model.tokenize(a).length).toBeGreaterThan(model.tokenize(b).length + 800);
    const out = await tokensOf(session.generate(b, { temperature: 0, maxTokens: 6 }));
    expect(session.stats.reusedTokens).toBe(0);
    expect(session.stats.evaluatedTokens).toBe(model.tokenize(b).length + 5);
    const fresh = model.createSession({ contextSize: 2048 });
    expect(out).toEqual(await tokensOf(fresh.generate(b, { temperature: 0, maxTokens: 6 })));
    // Within the window the prefix is reused.
    await tokensOf(session.generate(b + ' Then', { temperature: 0, maxTokens: 2 }));
    expect(session.stats.reusedTokens).toBeGreaterThan(model.tokenize(b).length - 2);
    session.dispose();
    fresh.dispose();
  });
});

describe('a known architecture missing what it needs', () => {
  const edited = (name: string, edit: (img: ReturnType<typeof readGguf>) => void) => {
    const img = readGguf(modelPath(`${name}.gguf`));
    edit(img);
    const file = join(dir, `edited-${name}-${Math.random().toString(36).slice(2)}.gguf`);
    writeFileSync(file, encodeGguf(img));
    return file;
  };
  it('names the missing tensor or key', async () => {
    const noPostNorm = edited('tiny-gemma2-F32', (img) => {
      img.tensors = img.tensors.filter((t) => t.name !== 'blk.1.post_ffw_norm.weight');
    });
    const e1 = await load(noPostNorm).then(() => null, (e) => e);
    expect(e1).toBeInstanceOf(HalfbyteError);
    expect(e1.code).toBe('MISSING_TENSOR');
    expect(e1.message).toContain('blk.1.post_ffw_norm.weight');
    const noUsed = edited('tiny-qwen3moe-F32', (img) => {
      img.kvs = img.kvs.filter((kv) => kv.key !== 'qwen3moe.expert_used_count');
    });
    const e2 = await load(noUsed).then(() => null, (e) => e);
    expect(e2.code).toBe('GGUF_BAD_METADATA');
    expect(e2.message).toContain('qwen3moe.expert_used_count');
    const noExperts = edited('tiny-olmoe-F32', (img) => {
      img.tensors = img.tensors.filter((t) => t.name !== 'blk.0.ffn_down_exps.weight');
    });
    expect(await codeOf(load(noExperts))).toBe('MISSING_TENSOR');
    const noQkNorm = edited('tiny-qwen3-F32', (img) => {
      img.tensors = img.tensors.filter((t) => t.name !== 'blk.0.attn_k_norm.weight');
    });
    expect(await codeOf(load(noQkNorm))).toBe('MISSING_TENSOR');
  });
});
