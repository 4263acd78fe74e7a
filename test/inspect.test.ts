// readGgufInfo: metadata and tensor table without loading weights.
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HalfbyteError, readGgufInfo } from '../lib/index.js';
import { modelPath } from './helpers.js';

describe('readGgufInfo', () => {
  it('lists metadata with types and every tensor with type, shape, offset and size', async () => {
    const info = await readGgufInfo(modelPath('tiny-llama-Q4_K_M.gguf'));
    expect(info.version).toBe(3);
    expect(info.metadata['general.architecture']).toBe('llama');
    expect(info.metadataTypes['llama.block_count']).toBe('uint32');
    expect(info.metadataTypes['tokenizer.ggml.tokens']).toBe('array[string]');
    expect((info.metadata['tokenizer.ggml.tokens'] as string[]).length).toBe(512);
    const q = info.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
    expect(q).toMatchObject({ shape: [256, 256], inFile: true });
    expect(['Q4_K', 'Q5_K', 'Q6_K']).toContain(q.type);
    // Q4_K: 256 elements in 144 bytes.
    if (q.type === 'Q4_K') expect(q.bytes).toBe((256 * 256 * 144) / 256);
    expect(info.tensors.every((t) => t.offset >= info.dataOffset && t.offset % info.alignment === 0)).toBe(true);
    const last = info.tensors.reduce((a, b) => (a.offset > b.offset ? a : b));
    expect(last.offset + last.bytes).toBeLessThanOrEqual(info.fileSize);
  });

  it('marks tensors past the end of a truncated file and rejects non-GGUF files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'halfbyte-inspect-'));
    const bytes = readFileSync(modelPath('stories260K.gguf'));
    const cut = join(dir, 'cut.gguf');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 5000));
    const info = await readGgufInfo(cut);
    expect(info.tensors.some((t) => !t.inFile)).toBe(true);
    writeFileSync(join(dir, 'bad.gguf'), 'not a gguf file at all');
    await expect(readGgufInfo(join(dir, 'bad.gguf'))).rejects.toMatchObject({ code: 'GGUF_BAD_MAGIC' });
    await expect(readGgufInfo(join(dir, 'missing.gguf'))).rejects.toBeInstanceOf(HalfbyteError);
  });
});
