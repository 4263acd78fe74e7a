// LoadOptions.packCache: the packed layout written once to a cache file, then mapped by later
// loads; the logits never change; bad files are rewritten, unwritable folders only reported.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultPackCacheDir, load } from '../lib/index.js';
import { activeKernelsPack, modelPath, readRef } from './helpers.js';

const packs = activeKernelsPack();
const dir = mkdtempSync(join(tmpdir(), 'halfbyte-pack-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const name = 'tiny-llama-Q4_K_M';
async function logitsWith(options: Parameters<typeof load>[1]) {
  await using model = await load(modelPath(`${name}.gguf`), { threads: 2, ...options });
  const ref = readRef(`${name}.ref.json`)[0];
  const { logits } = await model.evaluate(ref.tokens, { logits: 'all' });
  return { logits: Array.from(logits), info: model.info };
}

describe.runIf(packs)('packCache', () => {
  it('writes the packed layout once, then loads it, with the same logits as packing', async () => {
    const plain = await logitsWith({});
    expect(plain.info.packCache).toBeUndefined();
    const first = await logitsWith({ packCache: dir });
    expect(first.info.packCache).toMatch(/^written .*\.hbx8$/);
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(first.info.packCache).toBe(`written ${join(dir, files[0])}`);
    const second = await logitsWith({ packCache: dir });
    expect(second.info.packCache).toBe(`loaded ${join(dir, files[0])}`);
    expect(second.info.packedBytes).toBe(first.info.packedBytes);
    expect(first.logits).toEqual(plain.logits);
    expect(second.logits).toEqual(plain.logits);
  });

  it('rewrites a file whose contents or header do not match', async () => {
    const file = join(dir, readdirSync(dir).filter((f) => f.endsWith('.hbx8'))[0]);
    const bytes = readFileSync(file);
    const plain = await logitsWith({});
    bytes[bytes.length - 100] ^= 0x55; // a weight byte: the checksum catches it
    writeFileSync(file, bytes);
    const corrupt = await logitsWith({ packCache: dir });
    expect(corrupt.info.packCache).toMatch(/^stale \(its contents do not match their checksum\), rewritten /);
    expect(corrupt.logits).toEqual(plain.logits);
    writeFileSync(file, bytes.subarray(0, 5000)); // truncated
    expect((await logitsWith({ packCache: dir })).info.packCache).toMatch(/^stale \(its header does not match this model\), rewritten /);
    expect((await logitsWith({ packCache: dir })).info.packCache).toMatch(/^loaded /);
  });

  it('reports a folder it cannot write, and loads as without the option', async () => {
    // A folder under a regular file can be made by nobody, root included (a read-only folder
    // would not stop root, and the test could not fail there).
    const file = join(dir, 'not-a-folder');
    writeFileSync(file, 'x');
    const r = await logitsWith({ packCache: join(file, 'cache') });
    expect(r.info.packCache).toMatch(/^not written: cannot create /);
    expect(r.info.packedBytes).toBeGreaterThan(0);
    const nested = join(dir, 'made', 'for', 'it');
    expect((await logitsWith({ packCache: nested })).info.packCache).toMatch(/^written /); // the folder is made
  });
});

describe.runIf(!packs)('packCache without packed kernels', () => {
  it('says it was not used', async () => {
    await using model = await load(modelPath(`${name}.gguf`), { threads: 2, packCache: dir });
    expect(model.info.packCache).toBe('not used: no matrix has a packed layout for the active kernels');
  });
});

describe('packCache option', () => {
  it('accepts true (the default folder), false and a path; rejects anything else by name', async () => {
    expect(defaultPackCacheDir()).toMatch(/halfbyte[\\/]packed$/);
    for (const bad of ['', 3, {}, null])
      expect(() => load(modelPath(`${name}.gguf`), { packCache: bad as never })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('packCache') }),
      );
    await using model = await load(modelPath(`${name}.gguf`), { packCache: false });
    expect(model.info.packCache).toBeUndefined();
    for (const other of [{ packWeights: false }, { vocabOnly: true }])
      expect(() => load(modelPath(`${name}.gguf`), { packCache: dir, ...other })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('for packCache') }),
      );
  });
});
