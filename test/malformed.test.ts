// Malformed and unsupported files: each gives a HalfbyteError with a code naming the fault,
// never a crash or a hang.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HalfbyteError, load } from '../lib/index.js';
import { encodeGguf, readGguf, stringValue, writeGguf, type GgufImage } from './gguf-edit.js';
import { modelPath } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'halfbyte-malformed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const source = modelPath('stories260K.gguf');

async function loadError(bytes: Buffer | GgufImage, opts = {}): Promise<HalfbyteError> {
  const file = join(dir, `case-${n++}.gguf`);
  writeFileSync(file, Buffer.isBuffer(bytes) ? bytes : encodeGguf(bytes));
  try {
    const model = await load(file, opts);
    model.dispose();
  } catch (err) {
    expect(err).toBeInstanceOf(HalfbyteError);
    return err as HalfbyteError;
  }
  throw new Error('expected loading to fail');
}

const fresh = () => readGguf(source);

describe('malformed GGUF files', () => {
  it('bad magic', async () => {
    const b = readFileSync(source);
    b.write('GGML', 0);
    expect((await loadError(b)).code).toBe('GGUF_BAD_MAGIC');
  });

  it('an empty file and a file truncated at many offsets', async () => {
    const b = readFileSync(source);
    expect((await loadError(Buffer.alloc(0))).code).toBe('GGUF_TRUNCATED');
    const offsets = [3, 8, 20, 24, 100, 1000, 5000, 20000, 50000, 100000, 300000, 600000, b.length - 1];
    for (const off of offsets) {
      const err = await loadError(b.subarray(0, off));
      expect(err.code, `truncated at ${off}: ${err.message}`).toMatch(/^GGUF_(TRUNCATED|BAD_METADATA|BAD_TENSOR)$/);
    }
  });

  it('tensor data past the end of the file names the tensor', async () => {
    const img = fresh();
    img.data = img.data.subarray(0, img.data.length - 100);
    const err = await loadError(img);
    expect(err.code).toBe('GGUF_TRUNCATED');
    expect(err.message).toMatch(/Tensor \S+/);
  });

  it('absurd counts and string lengths', async () => {
    const b = readFileSync(source);
    const huge = Buffer.from(b);
    huge.writeBigUInt64LE(1n << 62n, 16); // metadata count
    expect((await loadError(huge)).code).toBe('GGUF_BAD_METADATA');
    const tensors = Buffer.from(b);
    tensors.writeBigUInt64LE(1n << 62n, 8); // tensor count
    expect((await loadError(tensors)).code).toBe('GGUF_BAD_TENSOR');
    const strlen = Buffer.from(b);
    strlen.writeBigUInt64LE(1n << 50n, 24); // length of the first key
    expect((await loadError(strlen)).code).toBe('GGUF_TRUNCATED');
  });

  it('a missing architecture key, an unsupported architecture', async () => {
    const img = fresh();
    img.kvs = img.kvs.filter((kv) => kv.key !== 'general.architecture');
    const err = await loadError(img);
    expect(err.code).toBe('GGUF_MISSING_KEY');
    expect(err.message).toContain('general.architecture');
    const other = fresh();
    other.kvs.find((kv) => kv.key === 'general.architecture')!.raw = stringValue('mamba');
    const e2 = await loadError(other);
    expect(e2.code).toBe('UNSUPPORTED_ARCHITECTURE');
    expect(e2.message).toContain('mamba');
  });

  it('a missing hyperparameter names the key', async () => {
    const img = fresh();
    img.kvs = img.kvs.filter((kv) => kv.key !== 'llama.embedding_length');
    const err = await loadError(img);
    expect(err.code).toBe('GGUF_MISSING_KEY');
    expect(err.message).toContain('llama.embedding_length');
  });

  it('a missing tensor names it', async () => {
    const img = fresh();
    img.tensors = img.tensors.filter((t) => t.name !== 'blk.3.ffn_up.weight');
    const err = await loadError(img);
    expect(err.code).toBe('MISSING_TENSOR');
    expect(err.message).toContain('blk.3.ffn_up.weight');
  });

  it('a shape mismatch names the tensor and both shapes', async () => {
    const img = fresh();
    const t = img.tensors.find((x) => x.name === 'blk.0.attn_q.weight')!;
    t.ne = [t.ne[0], t.ne[1] / 2n];
    const err = await loadError(img);
    expect(err.code).toBe('TENSOR_SHAPE_MISMATCH');
    expect(err.message).toContain('blk.0.attn_q.weight');
  });

  it('an unknown tensor type id and a type without kernels', async () => {
    const img = fresh();
    img.tensors.find((x) => x.name === 'blk.0.attn_k.weight')!.type = 1234;
    const err = await loadError(img);
    expect(err.code).toBe('UNSUPPORTED_TENSOR_TYPE');
    expect(err.message).toContain('blk.0.attn_k.weight');
    const i64 = fresh();
    // I64 (27) is a real GGUF type with no matrix kernels; 8 bytes per element fits the data.
    const t = i64.tensors.find((x) => x.name === 'blk.0.attn_norm.weight')!;
    t.type = 27;
    t.ne = [t.ne[0] / 2n];
    const e2 = await loadError(i64);
    expect(e2.code).toMatch(/UNSUPPORTED_TENSOR_TYPE|TENSOR_SHAPE_MISMATCH/);
  });

  it('a vocabulary-only load of a file with broken tensors still works', async () => {
    const img = fresh();
    img.data = img.data.subarray(0, 1000);
    const file = join(dir, 'vocab-only.gguf');
    writeGguf(file, img);
    const model = await load(file, { vocabOnly: true });
    expect(model.tokenize('Once').length).toBeGreaterThan(1);
    model.dispose();
  });

  it('random corruption of the header never crashes the process', async () => {
    const b = readFileSync(source);
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed);
    for (let i = 0; i < 60; i++) {
      const c = Buffer.from(b.subarray(0, 40000));
      for (let k = 0; k < 4; k++) c[rand() % c.length] = rand() & 0xff;
      const file = join(dir, `fuzz-${i}.gguf`);
      writeFileSync(file, Buffer.concat([c, b.subarray(40000)]));
      try {
        const m = await load(file);
        m.dispose();
      } catch (err) {
        expect(err).toBeInstanceOf(HalfbyteError);
      }
    }
  });
});
