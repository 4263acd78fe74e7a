// The native addon's interface (native/addon/addon.cpp) and its loader. Internal: the public API
// in model.ts validates every argument before calling in here.
import { outsideAsar } from './asar.js';
import { HalfbyteError } from './errors.js';
import { packageRequire, packageRoot } from './root.js';

export interface NativeAbortFlag {
  abort(): void;
  aborted(): boolean;
}

export interface NativeModelInfo {
  architecture: string;
  name: string;
  contextLength: number;
  embeddingLength: number;
  layers: number;
  heads: number;
  kvHeads: number;
  feedForwardLength: number;
  vocabSize: number;
  fileType: number;
  fileSize: number;
  vocabOnly: boolean;
  threads: number;
  tokenizerModel: string;
  tokenizerPre: string;
  bos: number;
  eos: number;
  addBos: boolean;
  addEos: boolean;
  eogTokens: number[];
  tensorTypes: Record<string, number>;
  packedBytes: number;
  packSkipped?: string;
  packCache?: string;
  chatTemplate: string | null;
}

export interface NativeModel {
  info(): NativeModelInfo;
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array;
  tokenPiece(token: number, renderSpecial: boolean): Uint8Array;
  detokenize(tokens: Int32Array, renderSpecial: boolean): Uint8Array;
  isEog(token: number): boolean;
  /** Single-token steps evaluated so far and the batches they ran in (for tests and diagnostics). */
  stepBatchStats(): { batches: number; steps: number };
  dispose(): void;
}

export interface NativeSampler {
  accept(tokens: Int32Array): void;
  /** Frees it now; accept() and steps with it then throw DISPOSED (a step in flight finishes). */
  dispose(): void;
}

export interface NativeGrammar {
  /** Rules written in the grammar text. */
  ruleCount(): number;
}

/** The sampler's parameters as the addon reads them: every field present. */
/** loadModel's options: one flat object, validated and defaulted by lib/model.ts (LoadOptions). */
export interface NativeLoadOptions {
  /** 0: one per core. */
  threads: number;
  vocabOnly: boolean;
  packWeights: boolean;
  /** The folder of the packed-layout cache file (LoadOptions.packCache), if any. */
  packCacheDir?: string;
}

export interface NativeSamplerOptions {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  typicalP: number;
  repeatPenalty: number;
  presencePenalty: number;
  frequencyPenalty: number;
  repeatLastN: number;
  dryMultiplier: number;
  dryBase: number;
  dryAllowedLength: number;
  dryPenaltyLastN: number;
  drySequenceBreakers: string[];
  xtcProbability: number;
  xtcThreshold: number;
  mirostat: 0 | 2;
  mirostatTau: number;
  mirostatEta: number;
  biasTokens: Int32Array;
  biasValues: Float32Array;
  seed: number;
}

export interface NativeStepProbs {
  token: number;
  logprob: number;
  topTokens: Int32Array;
  topLogprobs: Float32Array;
}

export interface NativeContext {
  /** Evaluates tokens after the cached ones; resolves to the last row of logits, or all rows. */
  decode(tokens: Int32Array, allLogits: boolean, abort?: NativeAbortFlag): Promise<Float32Array>;
  /** Evaluates tokens, then samples (and records) the next token. */
  step(tokens: Int32Array, sampler: NativeSampler, abort?: NativeAbortFlag): Promise<number>;
  /** The same, also returning the token's log-probability and the top-k alternatives. */
  step(tokens: Int32Array, sampler: NativeSampler, abort: NativeAbortFlag | undefined, topLogprobs: number): Promise<NativeStepProbs>;
  /** Evaluates tokens; element i is log p(targets[i] | tokens up to i), NaN where targets[i] < 0. */
  scoreTokens(tokens: Int32Array, targets: Int32Array, abort?: NativeAbortFlag): Promise<Float32Array>;
  /** Evaluates tokens; resolves to their final hidden states (after the output norm), n rows of n_embd. */
  decodeHidden(tokens: Int32Array, abort?: NativeAbortFlag): Promise<Float32Array>;
  /** Writes magic, the cached tokens and the KV cache to a file. */
  saveState(path: string, magic: string, tokens: Int32Array): Promise<void>;
  /** Restores a file written by saveState; resolves to its tokens. */
  loadState(path: string, magic: string): Promise<Int32Array>;
  nPast(): number;
  nCtx(): number;
  /** Drops cached tokens from position n on; returns how many are kept (n, or 0 when a sliding-window layer's ring no longer holds the window position n needs). */
  truncate(n: number): number;
  dispose(): void;
}

export interface NativeCpuInfo {
  features: Record<string, boolean>;
  availableIsas: string[];
  activeIsa: string;
}

export interface NativeAddon {
  AbortFlag: new () => NativeAbortFlag;
  ModelHandle: new () => NativeModel;
  /** One flat, validated options object (lib/generation.ts NativeSamplerOptions), and an optional grammar. */
  SamplerHandle: new (model: NativeModel, options: NativeSamplerOptions, grammar?: NativeGrammar) => NativeSampler;
  /** Parses GBNF; throws GRAMMAR_SYNTAX with the line and column. */
  GrammarHandle: new (gbnf: string) => NativeGrammar;
  /** ropeContextSize: the context size presented to the caller when less is allocated (LongRoPE picks its factors by it). */
  ContextHandle: new (model: NativeModel, contextSize: number, ropeContextSize?: number) => NativeContext;
  loadModel(
    path: string,
    options: NativeLoadOptions,
    onProgress?: (loadedBytes: number, totalBytes: number) => void,
    abort?: NativeAbortFlag,
  ): Promise<NativeModel>;
  cpuInfo(): NativeCpuInfo;
  readGgufInfo(path: string): Promise<import('./inspect.js').GgufInfo>;
  setIsa(isa: string): void;
  measureReadBandwidth(threads: number, bytes: number, passes: number): Promise<import('./cpu.js').ReadBandwidth>;
}

let cached: NativeAddon | undefined;

export interface AddonFailure {
  reason: string; // what the loader said
  platform: string;
  arch: string;
  musl: boolean; // a musl libc Linux (Alpine); the prebuilds are built against glibc
  prebuilds: string[]; // the platform-arch folders of prebuilds/ in the package
  hasLocalBuild: boolean; // build/Release exists
}

const BUILD_HINT =
  '`npm rebuild halfbyte` in your project builds it from source (needs python3, make and a C++17 compiler: ' +
  'on Debian or Ubuntu `apt-get install -y python3 make g++`, on Alpine `apk add python3 make g++`).';

/** Why the addon did not load, and what to do, from what the loader said and what is installed. */
export function explainAddonFailure(f: AddonFailure): string {
  const target = `${f.platform}-${f.arch}`;
  const head = `Could not load halfbyte's native addon for ${target} (Node ${process.versions.node}, N-API ${process.versions.napi}).`;
  let why: string;
  if (/wrong ELF class|invalid ELF header|file too short|Exec format error|not a valid Win32 application|mach-o|slice is not valid|incompatible architecture/i.test(f.reason))
    why =
      `The binary it found is for another architecture or operating system, or it is damaged (a truncated download or a copy from another machine). ` +
      `Reinstall halfbyte on this machine (\`npm ci\`), or: ${BUILD_HINT}`;
  else if (f.musl && /(GLIBC|glibc|ld-linux|libc\.so\.6|__fprintf_chk|symbol not found)/.test(f.reason))
    why = `This Linux uses musl libc (Alpine?), and the prebuilt binaries are built for glibc. ${BUILD_HINT}`;
  else if (!f.hasLocalBuild && !f.prebuilds.includes(target))
    why =
      `halfbyte has no prebuilt binary for ${target}${f.musl ? ' with musl libc' : ''} (it ships ${f.prebuilds.length ? f.prebuilds.join(', ') : 'none'}). ${BUILD_HINT}`;
  else if (/NODE_MODULE_VERSION|napi|was compiled against a different Node.js version/i.test(f.reason))
    why = `The binary was built for another Node.js ABI. ${BUILD_HINT}`;
  else why = BUILD_HINT;
  return `${head}\n${why}\nThe loader said: ${f.reason}`;
}

function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  const report = (process.report?.getReport?.() ?? {}) as { header?: { glibcVersionRuntime?: string } };
  return !report.header?.glibcVersionRuntime;
}

/**
 * Loads the addon once: the file HALFBYTE_ADDON names if set (a sanitizer or debug build), else a
 * local build/ if there is one, else the matching prebuild from prebuilds/.
 */
export function addon(): NativeAddon {
  if (cached) return cached;
  try {
    const override = process.env.HALFBYTE_ADDON;
    if (override) cached = packageRequire(override) as NativeAddon;
    else {
      const nodeGypBuild = packageRequire('node-gyp-build') as (dir: string) => NativeAddon;
      cached = nodeGypBuild(outsideAsar(packageRoot)); // a packaged Electron app: the unpacked copy
    }
  } catch (err) {
    const { existsSync, readdirSync } = packageRequire('node:fs') as typeof import('node:fs');
    const { join } = packageRequire('node:path') as typeof import('node:path');
    const prebuildDir = join(packageRoot, 'prebuilds');
    throw new HalfbyteError(
      'ADDON_LOAD_FAILED',
      explainAddonFailure({
        reason: err instanceof Error ? err.message : String(err),
        platform: process.platform,
        arch: process.arch,
        musl: isMusl(),
        prebuilds: existsSync(prebuildDir) ? readdirSync(prebuildDir) : [],
        hasLocalBuild: existsSync(join(packageRoot, 'build', 'Release')),
      }),
      { cause: err },
    );
  }
  return cached;
}
