// Fetching GGUF files into a local cache: `halfbyte pull REF` and pull() / resolveModel(). This is
// the only place halfbyte touches the network, and only when asked to.
//   REF: an https URL (http only for loopback addresses), hf:owner/repo:QUANT (the repository's
//   GGUF of that quantization) or hf:owner/repo/path/file.gguf.
// Downloads go to FILE.part and resume with an HTTP Range request; a file the hub lists with a
// sha256 is checked before it is moved into place, so the cache only ever holds complete files.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { HalfbyteError } from './errors.js';
import * as v from './validate.js';

export interface PullOptions {
  /** Where files go. Default: $HALFBYTE_CACHE or ~/.cache/halfbyte. */
  cacheDir?: string;
  /** Called as bytes arrive. */
  onProgress?: (p: { receivedBytes: number; totalBytes: number | undefined; file: string }) => void;
  signal?: AbortSignal;
}

export interface PullResult {
  path: string;
  bytes: number;
  /** The sha256 the hub gave and the file matched, if it gave one. */
  sha256?: string;
  /** Bytes taken from an earlier, interrupted download. */
  resumedBytes: number;
}

interface Target {
  url: string;
  path: string;
  sha256?: string;
  size?: number;
}

function cacheDirOf(o: PullOptions): string {
  return o.cacheDir ?? process.env.HALFBYTE_CACHE ?? join(homedir(), '.cache', 'halfbyte');
}

function hubEndpoint(): string {
  return (process.env.HALFBYTE_HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
}

const safeSegment = /^[A-Za-z0-9._-]+$/;

function checkUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new HalfbyteError('INVALID_ARGUMENT', `Expected an https URL or hf:owner/repo[:QUANT] for the model reference but received ${JSON.stringify(raw)}`);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) || /^127\./.test(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    throw new HalfbyteError('INVALID_ARGUMENT', `Expected an https URL (plain http only for loopback addresses) but received ${url.protocol}//${url.host}`);
  return url;
}

interface HfRef {
  owner: string;
  repo: string;
  file?: string;
  quant?: string;
}

function parseHf(ref: string): HfRef {
  const m = /^hf:([^/:]+)\/([^/:]+)(?:\/(.+\.gguf)|:([A-Za-z0-9_]+))?$/i.exec(ref);
  if (!m) throw new HalfbyteError('INVALID_ARGUMENT', `Expected hf:owner/repo[:QUANT] or hf:owner/repo/file.gguf but received ${JSON.stringify(ref)}`);
  const [, owner, repo, file, quant] = m;
  for (const s of [owner, repo, ...(file ? file.split('/') : [])])
    if (!safeSegment.test(s) || s === '.' || s === '..')
      throw new HalfbyteError('INVALID_ARGUMENT', `Expected plain names in ${JSON.stringify(ref)} but received ${JSON.stringify(s)}`);
  return { owner, repo, file, quant };
}

/** The cache path for a reference (the file may not be there yet). */
function cachedPathOf(ref: string, cacheDir: string, file?: string): string {
  if (ref.startsWith('hf:')) {
    const r = parseHf(ref);
    const name = file ?? r.file;
    if (!name) throw new Error('internal: hf file not resolved');
    return join(cacheDir, 'hf', r.owner, r.repo, ...name.split('/'));
  }
  const url = checkUrl(ref);
  const base = url.pathname.split('/').pop() || 'model.gguf';
  if (!safeSegment.test(base)) throw new HalfbyteError('INVALID_ARGUMENT', `Expected a plain file name at the end of ${ref}`);
  const key = createHash('sha256').update(url.href).digest('hex').slice(0, 16);
  return join(cacheDir, 'url', key, base);
}

async function hubFiles(r: HfRef, signal: AbortSignal | undefined): Promise<{ path: string; size?: number; sha256?: string }[]> {
  const url = `${hubEndpoint()}/api/models/${r.owner}/${r.repo}/tree/main?recursive=true`;
  const res = await fetch(url, { signal }).catch((err) => {
    throw new HalfbyteError('NETWORK_ERROR', `Cannot list the files of ${r.owner}/${r.repo}: ${(err as Error).message}`, { cause: err });
  });
  if (res.status === 404) throw new HalfbyteError('FILE_NOT_FOUND', `No repository ${r.owner}/${r.repo} on the hub`);
  if (!res.ok) throw new HalfbyteError('NETWORK_ERROR', `Listing ${r.owner}/${r.repo} failed: HTTP ${res.status}`);
  const list = (await res.json()) as { type?: string; path: string; size?: number; lfs?: { oid?: string; size?: number } }[];
  if (!Array.isArray(list)) throw new HalfbyteError('NETWORK_ERROR', `Expected a file list from the hub for ${r.owner}/${r.repo}`);
  return list
    .filter((f) => f.type !== 'directory' && typeof f.path === 'string')
    .map((f) => ({ path: f.path, size: f.lfs?.size ?? f.size, sha256: f.lfs?.oid }));
}

const QUANT_RE = /(?:^|[-_.])((?:I?Q\d+_[A-Z0-9_]+|Q\d+_\d|F16|F32|BF16))\.gguf$/i;

async function resolveTarget(ref: string, cacheDir: string, signal: AbortSignal | undefined): Promise<Target> {
  if (!ref.startsWith('hf:')) {
    const url = checkUrl(ref);
    return { url: url.href, path: cachedPathOf(ref, cacheDir) };
  }
  const r = parseHf(ref);
  const files = await hubFiles(r, signal);
  let file = r.file ? files.find((f) => f.path === r.file) : undefined;
  if (r.file && !file) throw new HalfbyteError('FILE_NOT_FOUND', `${r.owner}/${r.repo} has no file ${r.file}`);
  if (!r.file) {
    const ggufs = files.filter((f) => f.path.toLowerCase().endsWith('.gguf'));
    const quants = [...new Set(ggufs.map((f) => QUANT_RE.exec(f.path)?.[1]?.toUpperCase()).filter((q): q is string => !!q))].sort();
    if (!r.quant) {
      if (ggufs.length !== 1)
        throw new HalfbyteError('INVALID_ARGUMENT', `${r.owner}/${r.repo} has ${ggufs.length} GGUF files: name a quantization (hf:${r.owner}/${r.repo}:QUANT), one of ${quants.join(', ')}`);
      file = ggufs[0];
    } else {
      const matching = ggufs.filter((f) => QUANT_RE.exec(f.path)?.[1]?.toUpperCase() === r.quant!.toUpperCase());
      if (matching.length === 0)
        throw new HalfbyteError('UNKNOWN_QUANTIZATION', `${r.owner}/${r.repo} has no ${r.quant} file; available: ${quants.join(', ') || 'none'}`);
      if (matching.length > 1)
        throw new HalfbyteError('INVALID_ARGUMENT', `${r.owner}/${r.repo} has several ${r.quant} files (${matching.map((f) => f.path).join(', ')}): name one with hf:${r.owner}/${r.repo}/FILE`);
      file = matching[0];
    }
  }
  for (const s of file!.path.split('/'))
    if (!safeSegment.test(s) || s === '.' || s === '..') throw new HalfbyteError('INVALID_ARGUMENT', `The hub listed an unsafe file name ${JSON.stringify(file!.path)}`);
  return {
    url: `${hubEndpoint()}/${r.owner}/${r.repo}/resolve/main/${file!.path.split('/').map(encodeURIComponent).join('/')}`,
    path: cachedPathOf(ref, cacheDir, file!.path),
    sha256: file!.sha256 && /^[0-9a-f]{64}$/.test(file!.sha256) ? file!.sha256 : undefined,
    size: file!.size,
  };
}

async function sha256Of(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Downloads a model into the cache (resuming an interrupted download) and resolves to its path. */
const PULL_KEYS = v.optionKeys<PullOptions>({ cacheDir: true, onProgress: true, signal: true });

export async function pull(ref: string, options?: PullOptions): Promise<PullResult> {
  v.string(ref, 'model reference');
  const o = v.optionsObject(options, 'pull options', PULL_KEYS);
  const signal = v.signal(o.signal, 'signal');
  const cacheDir = cacheDirOf(o);
  const t = await resolveTarget(ref, cacheDir, signal);
  if (existsSync(t.path)) return { path: t.path, bytes: statSync(t.path).size, sha256: t.sha256, resumedBytes: 0 };
  mkdirSync(dirname(t.path), { recursive: true });
  const part = `${t.path}.part`;
  const have = existsSync(part) ? statSync(part).size : 0;
  const res = await fetch(t.url, { signal, headers: have > 0 ? { Range: `bytes=${have}-` } : {} }).catch((err) => {
    throw new HalfbyteError(signal?.aborted ? 'ABORTED' : 'NETWORK_ERROR', `Cannot download ${t.url}: ${(err as Error).message}`, { cause: err });
  });
  if (res.status === 404) throw new HalfbyteError('FILE_NOT_FOUND', `Not found: ${t.url}`);
  if (!(res.status === 200 || res.status === 206) || !res.body) throw new HalfbyteError('NETWORK_ERROR', `Downloading ${t.url} failed: HTTP ${res.status}`);
  const resumed = res.status === 206 ? have : 0;
  const length = Number(res.headers.get('content-length') ?? NaN);
  const total = Number.isFinite(length) ? resumed + length : t.size;
  const out = createWriteStream(part, { flags: resumed > 0 ? 'a' : 'w' });
  let received = resumed;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      received += chunk.length;
      o.onProgress?.({ receivedBytes: received, totalBytes: total, file: t.path });
    }
  } catch (err) {
    await new Promise<void>((r) => out.end(() => r()));
    throw new HalfbyteError(signal?.aborted ? 'ABORTED' : 'NETWORK_ERROR', `The download of ${t.url} broke off at ${received} bytes (run pull again to resume): ${(err as Error).message}`, {
      cause: err,
    });
  }
  await new Promise((r, j) => out.end((e?: Error | null) => (e ? j(e) : r(undefined))));
  if (total !== undefined && received !== total) throw new HalfbyteError('NETWORK_ERROR', `The download of ${t.url} ended at ${received} of ${total} bytes (run pull again to resume)`);
  if (t.sha256) {
    const got = await sha256Of(part);
    if (got !== t.sha256) {
      unlinkSync(part);
      throw new HalfbyteError('CHECKSUM_MISMATCH', `Expected sha256 ${t.sha256} for ${t.path} but received ${got}; the download was discarded`);
    }
  }
  renameSync(part, t.path);
  return { path: t.path, bytes: received, sha256: t.sha256, resumedBytes: resumed };
}

/**
 * A model reference as a local path, without the network: a path is returned as is; an hf: or
 * URL reference names its file in the cache (MODEL_NOT_CACHED, saying how to pull it, if it is
 * not there). hf:owner/repo:QUANT resolves through the cached files of that repository.
 */
export function resolveModel(ref: string, options?: Pick<PullOptions, 'cacheDir'>): string {
  v.string(ref, 'model reference');
  const o = v.optionsObject(options, 'resolveModel options', ['cacheDir']);
  if (!ref.startsWith('hf:') && !/^https?:\/\//.test(ref)) return ref;
  const cacheDir = cacheDirOf(o);
  const missing = () => new HalfbyteError('MODEL_NOT_CACHED', `${ref} is not in the cache (${cacheDir}): run \`halfbyte pull ${ref}\` first`);
  if (!ref.startsWith('hf:')) {
    const p = cachedPathOf(ref, cacheDir);
    if (!existsSync(p)) throw missing();
    return p;
  }
  const r = parseHf(ref);
  if (r.file) {
    const p = cachedPathOf(ref, cacheDir, r.file);
    if (!existsSync(p)) throw missing();
    return p;
  }
  const dir = join(cacheDir, 'hf', r.owner, r.repo);
  if (!existsSync(dir)) throw missing();
  const found = (readdirSync(dir, { recursive: true }) as string[]).filter(
    (f) => f.toLowerCase().endsWith('.gguf') && (!r.quant || QUANT_RE.exec(f)?.[1]?.toUpperCase() === r.quant.toUpperCase()),
  );
  if (found.length !== 1) throw missing();
  return join(dir, found[0]);
}
