// One registry of error codes (native/core/error_codes.h): every code thrown anywhere in the
// sources is in it, `errorCodes` is exported from it, and errors that reach callers carry one.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HalfbyteError, errorCodeMeanings, errorCodes, load } from '../lib/index.js';
import { fromNative } from '../lib/errors.js';
import { fixtures, modelPath } from './helpers.js';

const root = join(fixtures, '..', '..');

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p, ext) : ext.test(name) ? [p] : [];
  });
}

describe('error codes', () => {
  it('every code thrown in native/ and lib/ is in the registry', () => {
    const thrown = new Map<string, string>();
    const patterns = [
      /\bfail\("([A-Z_]+)"/g, // core: hb::fail
      /\b(?:Throw|MakeError)\([^,()]+(?:\(\))?, "([A-Z_]+)"/g, // addon
      /\bcode = "([A-Z_]+)"/g, // addon: codes set before throwing
    ];
    for (const f of files(join(root, 'native'), /\.(cpp|h)$/)) {
      if (f.endsWith('_test.cpp')) continue;
      const text = readFileSync(f, 'utf8');
      for (const re of patterns) for (const m of text.matchAll(re)) thrown.set(m[1]!, f);
    }
    for (const f of files(join(root, 'lib'), /\.ts$/)) {
      for (const m of readFileSync(f, 'utf8').matchAll(/new HalfbyteError\(\s*'([A-Z_]+)'/g)) thrown.set(m[1]!, f);
    }
    expect(thrown.size).toBeGreaterThan(35); // the scan sees the sources
    const missing = [...thrown].filter(([code]) => !(errorCodes as readonly string[]).includes(code));
    expect(missing).toEqual([]);
  });

  it('errorCodes is a frozen-shaped list with a meaning for each', () => {
    expect(new Set(errorCodes).size).toBe(errorCodes.length);
    for (const c of ['FILE_READ_ERROR', 'FILE_WRITE_ERROR', 'TOKENIZER_MISSING', 'STATE_BAD_FILE', 'STATE_MODEL_MISMATCH',
      'NO_CHAT_TEMPLATE', 'INVALID_CHAT_TEMPLATE', 'UNSUPPORTED_SOURCE', 'BAD_TENSOR_DATA', 'TOKENIZER_LIMIT'] as const) {
      expect(errorCodes).toContain(c);
      expect(errorCodeMeanings[c].length).toBeGreaterThan(5);
    }
  });

  it('an unknown code or a plain error becomes INTERNAL, never passes through', () => {
    const e = fromNative(Object.assign(new Error('x'), { code: 'SOMETHING_NEW' }));
    expect([e.code, e.message]).toEqual(['INTERNAL', 'SOMETHING_NEW: x']);
    expect(fromNative(new TypeError('bad')).code).toBe('INTERNAL');
    expect(fromNative(Object.assign(new Error('gone'), { code: 'DISPOSED' })).code).toBe('DISPOSED');
  });

  it('dispose() during model.generate ends the loop with a HalfbyteError DISPOSED', async () => {
    const m = await load(modelPath('stories260K.gguf'));
    let n = 0;
    const err = await (async () => {
      for await (const _ of m.generate('Once', { maxTokens: 200, temperature: 0 })) if (++n === 3) m.dispose();
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HalfbyteError);
    expect((err as HalfbyteError).code).toBe('DISPOSED');
    expect(n).toBe(3);
  });
});
