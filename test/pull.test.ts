// halfbyte pull against a local HTTP server on 127.0.0.1 with a hub-like file listing: a
// download cut off mid-way resumes with a Range request, a wrong checksum leaves nothing in the
// cache, an unknown quantization lists the ones there are, and resolveModel finds cached files.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { load, pull, resolveModel } from '../lib/index.js';
import { codeOf, fixtures, modelPath } from './helpers.js';

const model = readFileSync(modelPath('stories260K.gguf'));
const sha = createHash('sha256').update(model).digest('hex');
let server: Server;
let base = '';
let cutNext = false; // the next full download is cut off half-way
const requests: { url: string; range?: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push({ url: req.url!, range: req.headers.range });
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/api/models/tiny/stories/tree/main') {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify([
          { type: 'file', path: 'README.md', size: 10 },
          { type: 'file', path: 'stories-Q8_0.gguf', size: model.length, lfs: { oid: sha, size: model.length } },
          { type: 'file', path: 'stories-Q4_K_M.gguf', size: model.length, lfs: { oid: sha, size: model.length } },
          { type: 'file', path: 'stories-F16.gguf', size: model.length, lfs: { oid: '0'.repeat(64), size: model.length } },
        ]),
      );
      return;
    }
    const m = /^\/tiny\/stories\/resolve\/main\/(.+)$/.exec(url.pathname);
    if (!m && url.pathname !== '/plain/model.gguf') {
      res.statusCode = 404;
      res.end();
      return;
    }
    const range = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    const from = range ? Number(range[1]) : 0;
    res.statusCode = range ? 206 : 200;
    res.setHeader('content-length', String(model.length - from));
    if (cutNext && !range) {
      cutNext = false;
      res.write(model.subarray(0, model.length >> 1), () => res.destroy()); // connection cut
      return;
    }
    res.end(model.subarray(from));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.HALFBYTE_HF_ENDPOINT = base;
});
afterAll(() => {
  server.close();
  delete process.env.HALFBYTE_HF_ENDPOINT;
});


describe('pull', () => {
  it('resumes a download that was cut off, and verifies the sha256', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'halfbyte-cache-'));
    cutNext = true;
    expect(await codeOf(pull('hf:tiny/stories:Q8_0', { cacheDir }))).toBe('NETWORK_ERROR');
    const dir = join(cacheDir, 'hf', 'tiny', 'stories');
    expect(readdirSync(dir)).toEqual(['stories-Q8_0.gguf.part']); // nothing complete in the cache
    const r = await pull('hf:tiny/stories:q8_0', { cacheDir });
    expect(r.resumedBytes).toBeGreaterThan(0);
    expect(requests[requests.length - 1].range).toBe(`bytes=${r.resumedBytes}-`);
    expect(r.sha256).toBe(sha);
    expect(readFileSync(r.path).equals(model)).toBe(true);
    expect(readdirSync(dir)).toEqual(['stories-Q8_0.gguf']);
    // resolveModel finds it without the network; load() takes the path
    expect(resolveModel('hf:tiny/stories:Q8_0', { cacheDir })).toBe(r.path);
    await using m = await load(resolveModel('hf:tiny/stories/stories-Q8_0.gguf', { cacheDir }));
    expect(m.info.vocabSize).toBe(512);
    expect(() => resolveModel('hf:tiny/stories:Q4_K_M', { cacheDir })).toThrow(/halfbyte pull hf:tiny\/stories:Q4_K_M/);
  });

  it('rejects a wrong checksum and leaves no file; lists the quantizations there are', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'halfbyte-cache-'));
    expect(await codeOf(pull('hf:tiny/stories:F16', { cacheDir }))).toBe('CHECKSUM_MISMATCH');
    expect(readdirSync(join(cacheDir, 'hf', 'tiny', 'stories'))).toEqual([]);
    await expect(pull('hf:tiny/stories:Q2_K', { cacheDir })).rejects.toThrow(/available: F16, Q4_K_M, Q8_0/);
    expect(await codeOf(pull('hf:tiny/stories', { cacheDir }))).toBe('INVALID_ARGUMENT'); // several GGUFs: name one
    expect(await codeOf(pull('hf:tiny/missing:Q8_0', { cacheDir }))).toBe('FILE_NOT_FOUND');
    expect(await codeOf(pull('hf:tiny/stories/../../etc/passwd.gguf', { cacheDir }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(pull('http://example.com/model.gguf', { cacheDir }))).toBe('INVALID_ARGUMENT'); // http only on loopback
    const plain = await pull(`${base}/plain/model.gguf`, { cacheDir });
    expect(existsSync(plain.path)).toBe(true);
    expect(resolveModel(`${base}/plain/model.gguf`, { cacheDir })).toBe(plain.path);
  });

  it('is a CLI command, and generate --model takes a cached hf: reference', async () => {
    // (async: the server runs in this process, so a synchronous child would deadlock it)
    const run = promisify(execFile);
    const cacheDir = mkdtempSync(join(tmpdir(), 'halfbyte-cache-'));
    const bin = join(fixtures, '..', '..', 'bin', 'halfbyte.js');
    const env = { ...process.env, HALFBYTE_CACHE: cacheDir, HALFBYTE_HF_ENDPOINT: base };
    const { stdout: path } = await run(process.execPath, [bin, 'pull', 'hf:tiny/stories:Q4_K_M'], { env, encoding: 'utf8' });
    expect(path.trim()).toBe(join(cacheDir, 'hf', 'tiny', 'stories', 'stories-Q4_K_M.gguf'));
    const { stdout } = await run(process.execPath, [bin, 'generate', 'Once upon a time', '--model', 'hf:tiny/stories:Q4_K_M', '-n', '4'], { env, encoding: 'utf8' });
    expect(stdout.startsWith('Once upon a time')).toBe(true);
  });
});
