// quantize(): every preset of the fixtures against llama.cpp's quality (mean KL of the logits
// against the F32 model's) and bytes (the llama-quantize outputs in test/fixtures/models), plus
// the API's contract: refused sources, bad options, progress, abort without partial output.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HalfbyteError, load, quantize, quantizationTypes, readGgufInfo, type QuantizeProgress } from '../lib/index.js';
import { kl, modelPath, readRef } from './helpers.js';

const source = modelPath('tiny-llama-F32.gguf');

// llama.cpp's mean KL(F32 || quantized) over the two reference prompts (test/fixtures/PROVENANCE.md):
// the mean of each prompt's mean over its positions.
const llamaKl: Record<string, number> = {
  Q8_0: 0.00034,
  Q4_0: 0.04111,
  Q4_1: 0.03398,
  Q5_0: 0.01067,
  Q5_1: 0.00869,
  Q2_K: 0.32787,
  Q3_K_M: 0.09846,
  Q4_K_M: 0.02758,
  Q5_K_M: 0.0083,
  Q6_K: 0.00247,
  IQ4_NL: 0.03254,
  IQ4_XS: 0.033,
};

let dir: string;
const measured: Record<string, number> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hb-quantize-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  const rows = Object.entries(measured).map(([t, k]) => `  ${t.padEnd(7)} halfbyte ${k.toFixed(5)}  llama.cpp ${llamaKl[t].toFixed(5)}`);
  if (rows.length) console.log(`mean KL vs the F32 model:\n${rows.join('\n')}`);
});

async function expectCode(p: Promise<unknown>, code: string): Promise<HalfbyteError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(HalfbyteError);
    expect((err as HalfbyteError).code).toBe(code);
    return err as HalfbyteError;
  }
  throw new Error(`expected a HalfbyteError with code ${code}`);
}

async function meanKl(path: string): Promise<number> {
  await using model = await load(path, { threads: 2 });
  const refs = readRef('tiny-llama-F32.ref.json');
  let sum = 0;
  for (const ref of refs) {
    const { logits, nVocab } = await model.evaluate(ref.tokens, { logits: 'all' });
    let promptSum = 0;
    ref.positions.forEach((pos, k) => (promptSum += kl(ref.logits[k], logits.subarray(pos * nVocab, (pos + 1) * nVocab))));
    sum += promptSum / ref.positions.length;
  }
  return sum / refs.length;
}

describe.each(Object.keys(llamaKl))('quantize to %s', (type) => {
  it("is as good as llama.cpp's (mean KL within 10%) and byte-identical to llama-quantize's file", async () => {
    const out = join(dir, `${type}.gguf`);
    const result = await quantize(source, out, { type: type as (typeof quantizationTypes)[number], threads: 2 });
    expect(result.tensors).toBe(21);
    expect(result.inputBytes).toBe(readFileSync(source).length);
    expect(result.outputBytes).toBe(readFileSync(out).length);
    expect(result.seconds).toBeGreaterThan(0);

    const k = await meanKl(out);
    measured[type] = k;
    expect(k).toBeLessThanOrEqual(llamaKl[type] * 1.1);
    expect(readFileSync(out).equals(readFileSync(modelPath(`tiny-llama-${type}.gguf`)))).toBe(true);
  });
});

describe('quantize', () => {
  it('keeps norms in F32, sets the file type and copies the metadata', async () => {
    const out = join(dir, 'meta.gguf');
    await quantize(source, out, { type: 'Q4_K_M' });
    const [src, info] = await Promise.all([readGgufInfo(source), readGgufInfo(out)]);
    expect(info.metadata['general.file_type']).toBe(15);
    expect(info.metadata['general.quantization_version']).toBe(2);
    for (const [key, value] of Object.entries(src.metadata)) if (key !== 'general.file_type') expect(info.metadata[key]).toEqual(value);
    const types = Object.fromEntries(info.tensors.map((t) => [t.name, t.type]));
    expect(types['output_norm.weight']).toBe('F32');
    expect(types['blk.0.attn_norm.weight']).toBe('F32');
    expect(types['output.weight']).toBe('Q6_K');
    expect(types['blk.1.attn_v.weight']).toBe('Q6_K'); // use_more_bits layer
    expect(types['blk.1.ffn_down.weight']).toBe('Q6_K');
    expect(types['blk.0.attn_v.weight']).toBe('Q4_K');
  });

  it('pure gives every matrix the one type', async () => {
    const out = join(dir, 'pure.gguf');
    await quantize(source, out, { type: 'Q4_0', pure: true });
    expect(readFileSync(out).equals(readFileSync(modelPath('tiny-llama-Q4_0-pure.gguf')))).toBe(true);
  });

  it('reports progress for every tensor, ending at bytesTotal', async () => {
    const events: QuantizeProgress[] = [];
    await quantize(source, join(dir, 'progress.gguf'), { type: 'Q8_0', onProgress: (p) => events.push(p) });
    expect(events.length).toBeGreaterThanOrEqual(21);
    expect(new Set(events.map((e) => e.index)).size).toBe(21);
    expect(events[0]).toMatchObject({ index: 0, count: 21, bytesDone: 0, tensor: 'output.weight' });
    const last = events[events.length - 1];
    expect(last.bytesDone).toBe(last.bytesTotal);
    expect(last.bytesTotal).toBeGreaterThan(7_000_000);
    for (let i = 1; i < events.length; i++) expect(events[i].bytesDone).toBeGreaterThanOrEqual(events[i - 1].bytesDone);
  });

  it('converts F16 sources, and quantized ones only with allowRequantize', async () => {
    const out = join(dir, 'from-f16.gguf');
    await quantize(modelPath('tiny-llama-F16.gguf'), out, { type: 'Q6_K' });
    expect((await readGgufInfo(out)).tensors.find((t) => t.name === 'blk.0.attn_q.weight')?.type).toBe('Q6_K');

    const refused = join(dir, 'refused.gguf');
    const err = await expectCode(quantize(modelPath('tiny-llama-Q8_0.gguf'), refused, { type: 'Q4_K_M' }), 'UNSUPPORTED_SOURCE');
    expect(err.message).toMatch(/Tensor \S+\.weight is Q8_0/);
    expect(existsSync(refused)).toBe(false);

    await quantize(modelPath('tiny-llama-Q8_0.gguf'), refused, { type: 'Q4_K_M', allowRequantize: true });
    expect((await readGgufInfo(refused)).tensors.find((t) => t.name === 'blk.0.attn_q.weight')?.type).toBe('Q4_K');
  });

  it('rejects bad options with INVALID_ARGUMENT', async () => {
    const out = join(dir, 'bad.gguf');
    const bad: unknown[] = [
      undefined,
      {},
      { type: 'Q4_K_X' },
      { type: 'q4_k_m' },
      { type: 'Q4_K_M', threads: 0 },
      { type: 'Q4_K_M', threads: 1.5 },
      { type: 'Q4_K_M', pure: 'yes' },
      { type: 'Q4_K_M', allowRequantize: 1 },
      { type: 'Q4_K_M', signal: {} },
      { type: 'Q4_K_M', onProgress: 'log' },
      'Q4_K_M',
    ];
    for (const options of bad) {
      const err = await expectCode(quantize(source, out, options as never), 'INVALID_ARGUMENT');
      expect(err.message).toMatch(/^Expected .+ for .+ but received /);
    }
    await expectCode(quantize('', out, { type: 'Q4_K_M' }), 'INVALID_ARGUMENT');
    await expectCode(quantize(source, 42 as never, { type: 'Q4_K_M' }), 'INVALID_ARGUMENT');
    await expectCode(quantize(join(dir, 'missing.gguf'), out, { type: 'Q4_K_M' }), 'FILE_NOT_FOUND');
    await expectCode(quantize(source, join(dir, 'no', 'such', 'dir.gguf'), { type: 'Q4_K_M' }), 'FILE_WRITE_ERROR');
    expect(existsSync(out)).toBe(false);
  });

  it('aborts mid-way with ABORTED and leaves no partial output', async () => {
    const out = join(dir, 'aborted.gguf');
    writeFileSync(out, 'an older file');
    const controller = new AbortController();
    const seen: number[] = [];
    const err = await expectCode(
      quantize(source, out, {
        type: 'IQ4_XS',
        signal: controller.signal,
        onProgress: (p) => {
          seen.push(p.index);
          if (p.index >= 1) controller.abort(new Error('enough'));
        },
      }),
      'ABORTED',
    );
    expect((err.cause as Error).message).toBe('enough');
    expect(Math.max(...seen)).toBeLessThan(20);
    expect(readFileSync(out, 'utf8')).toBe('an older file'); // untouched
    expect(readdirSync(dir).filter((f) => f.startsWith('aborted.gguf.'))).toEqual([]); // no temporary file

    const out2 = join(dir, 'aborted2.gguf');
    await expectCode(quantize(source, out2, { type: 'Q4_0', signal: AbortSignal.abort() }), 'ABORTED');
    expect(existsSync(out2)).toBe(false);
  });
});
