#!/usr/bin/env node
// Writes the seeded random-weight F32 fixture of one architecture (test/fixtures/models/tiny-<name>-F32.gguf),
// for parity tests against llama.cpp. The quantized fixtures are made from it with halfbyte's quantizer
// (`halfbyte quantize IN OUT --type Q8_0|Q4_K_M`), the references with ../shared/tools/ref.cpp.
//
//   node scripts/make-arch-fixture.mjs NAME OUT.gguf      (NAME: one of SPECS below; --list lists them)
//
// Every fixture uses the stories260K vocabulary (512 tokens, copied from tiny-llama-F32.gguf) and a
// shape chosen to exercise what its architecture does differently: a key_length that is not
// width / heads, grouped-query attention, a sliding window shorter than the long test prompt (295
// tokens), 4 experts with 2 used, an original context shorter than that prompt for rope scaling.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const vocabSource = join(root, 'test/fixtures/models/tiny-llama-F32.gguf');

// d: width, L: layers, H / KV: query / KV heads, hd: key_length (0: d / H), F: FFN width.
// keys: arch-prefixed metadata; tensors(L) adds what the architecture needs beyond the base.
const SPECS = {
  qwen3: {
    arch: 'qwen3', d: 256, L: 2, H: 8, KV: 4, hd: 64, F: 512, tied: true,
    keys: { 'rope.freq_base': ['f32', 1000000] },
    layer: ['qk_norm'],
  },
  qwen3moe: {
    arch: 'qwen3moe', d: 256, L: 2, H: 4, KV: 2, hd: 64, F: 512, tied: false,
    keys: { 'rope.freq_base': ['f32', 1000000], expert_count: ['u32', 4], expert_used_count: ['u32', 2], expert_feed_forward_length: ['u32', 256] },
    layer: ['qk_norm', 'moe'],
    // Seed 0 put one expert choice of the short prompt's Q8_0 file at a near-tie (position 7),
    // which the engines' different attention rounding (llama.cpp's flash attention rounds short
    // batches' Q and V sums to F16) tipped either way: the comparison then measured rounding,
    // not routing. This seed has no such tie on the test prompts.
    seed: 1,
  },
  olmoe: {
    // Q/K norms over the whole vectors (so KV heads = heads), experts of FFN width, weights not renormalized.
    arch: 'olmoe', d: 256, L: 2, H: 4, KV: 4, hd: 0, F: 256, tied: false,
    keys: { expert_count: ['u32', 4], expert_used_count: ['u32', 2] },
    layer: ['qk_norm_whole', 'moe'],
  },
  'llama-moe': {
    arch: 'llama', d: 256, L: 2, H: 8, KV: 4, hd: 0, F: 256, tied: false,
    keys: { expert_count: ['u32', 4], expert_used_count: ['u32', 2] },
    layer: ['moe'],
  },
  gemma2: {
    arch: 'gemma2', d: 256, L: 2, H: 4, KV: 2, hd: 64, F: 512, tied: true,
    keys: {
      'attention.sliding_window': ['u32', 24], attn_logit_softcapping: ['f32', 50], final_logit_softcapping: ['f32', 30],
      'attention.layer_norm_rms_epsilon': ['f32', 1e-6],
    },
    layer: ['post_norms'],
  },
  gemma3: {
    arch: 'gemma3', d: 256, L: 6, H: 4, KV: 2, hd: 64, F: 512, tied: true,
    keys: {
      'attention.sliding_window': ['u32', 40], 'rope.freq_base': ['f32', 1000000], 'rope.scaling.type': ['str', 'linear'],
      'rope.scaling.factor': ['f32', 8], 'attention.layer_norm_rms_epsilon': ['f32', 1e-6],
    },
    layer: ['post_norms', 'qk_norm'],
  },
  phi3: {
    arch: 'phi3', d: 256, L: 2, H: 8, KV: 4, hd: 0, F: 512, tied: false, ctx: 4096,
    keys: { 'rope.scaling.original_context_length': ['u32', 512], 'rope.scaling.attn_factor': ['f32', 1.1902380714238083] },
    layer: ['fused'],
    longrope: true,
  },
  'qwen2-yarn': {
    arch: 'qwen2', d: 256, L: 2, H: 8, KV: 4, hd: 0, F: 512, tied: true,
    keys: {
      'rope.freq_base': ['f32', 1000000], 'rope.scaling.type': ['str', 'yarn'], 'rope.scaling.factor': ['f32', 4],
      'rope.scaling.original_context_length': ['u32', 64],
    },
    layer: ['qkv_bias'],
  },
  'llama-rope-freqs': {
    arch: 'llama', d: 256, L: 2, H: 8, KV: 4, hd: 0, F: 512, tied: false,
    keys: { 'rope.freq_base': ['f32', 500000] },
    layer: [],
    ropeFreqs: true,
  },
};

// --micro: the same architecture at the smallest shape it allows (width 32, one layer), as a
// fuzzing seed (scripts/fuzz.mjs): every code path, a few tens of KB.
const micro = process.argv.includes('--micro');
const [name, out] = process.argv.slice(2).filter((a) => a !== '--micro');
if (name === '--list') {
  console.log(Object.keys(SPECS).join('\n'));
  process.exit(0);
}
const spec = SPECS[name];
if (!spec || !out) {
  console.error(`usage: node scripts/make-arch-fixture.mjs NAME OUT.gguf   (NAME: ${Object.keys(SPECS).join(', ')})`);
  process.exit(2);
}

// --- the tokenizer keys of the source fixture, copied as encoded bytes ---
const scalarSize = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
function tokenizerKvs(path) {
  const b = readFileSync(path);
  let p = 8;
  const u32 = () => ((p += 4), b.readUInt32LE(p - 4));
  const u64 = () => ((p += 8), Number(b.readBigUInt64LE(p - 8)));
  const str = () => { const n = u64(); p += n; return b.subarray(p - n, p).toString('utf8'); };
  const skip = (t) => {
    if (t === 8) str();
    else if (t === 9) { const et = u32(); const n = u64(); for (let i = 0; i < n; i++) skip(et); }
    else p += scalarSize[t];
  };
  u64();
  const nKv = u64();
  const kvs = [];
  for (let i = 0; i < nKv; i++) {
    const start = p;
    const key = str();
    skip(u32());
    if (key.startsWith('tokenizer.')) kvs.push(Buffer.from(b.subarray(start, p)));
  }
  return kvs;
}

// --- encoding ---
const u32b = (v) => { const x = Buffer.alloc(4); x.writeUInt32LE(v); return x; };
const u64b = (v) => { const x = Buffer.alloc(8); x.writeBigUInt64LE(BigInt(v)); return x; };
const strb = (s) => { const x = Buffer.from(s, 'utf8'); return Buffer.concat([u64b(x.length), x]); };
const kvs = [];
const kv = (key, type, value) => {
  const enc = { u32: [4, u32b], f32: [6, (v) => { const x = Buffer.alloc(4); x.writeFloatLE(v); return x; }], str: [8, strb] }[type];
  kvs.push(Buffer.concat([strb(key), u32b(enc[0]), enc[1](value)]));
};

// mulberry32: seeded by the fixture name (and spec.seed), so each file is reproducible.
let seed = [...name].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 0x9e3779b9 + (spec.seed ?? 0));
function rand() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

if (micro) {
  Object.assign(spec, { d: 32, L: Math.min(spec.L, 2), H: 2, KV: spec.KV === spec.H ? 2 : 1, F: 64, hd: spec.hd ? 32 : 0 });
  if (spec.keys.expert_feed_forward_length) spec.keys.expert_feed_forward_length = ['u32', 32];
  for (const k of ['attention.sliding_window']) if (spec.keys[k]) spec.keys[k] = ['u32', 4];
}
const { arch, d, L, H, KV, F } = spec;
const hd = spec.hd || d / H;
const V = 512;
const tensors = []; // { name, ne, data: Float32Array }
// A matrix of `rows` x `cols` (GGUF ne = [cols, rows, experts]) uniform in +-gain*sqrt(3/cols): unit
// variance in, about `gain` out.
function matrix(tname, rows, cols, gain = 1, experts = 0) {
  const n = rows * cols * (experts || 1);
  const data = new Float32Array(n);
  const a = gain * Math.sqrt(3 / cols);
  for (let i = 0; i < n; i++) data[i] = (2 * rand() - 1) * a;
  tensors.push({ name: tname, ne: experts ? [cols, rows, experts] : [cols, rows], data });
}
function vector(tname, n, base = 1, spread = 0.1) {
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = base + spread * (2 * rand() - 1);
  tensors.push({ name: tname, ne: [n], data });
}

const nExpert = spec.keys.expert_count?.[1] ?? 0;
const nFfExp = spec.keys.expert_feed_forward_length?.[1] ?? F;
// Untied: entries uniform in +-1. Tied, the same matrix makes the logits, so its rows are kept
// small enough that logits spread by a few units (about 3) rather than tens.
matrix('token_embd.weight', V, d, (spec.tied ? 0.2 : 1) * Math.sqrt(d / 3));
// Tied, an output norm of ~1 would make each row's logits favour the token it came from (the
// residual stream carries its embedding): weights of random sign break that.
vector('output_norm.weight', d, spec.tied ? 0 : 1, spec.tied ? 1.5 : 0.1);
if (!spec.tied) matrix('output.weight', V, d, 3);
if (spec.ropeFreqs) {
  // Llama 3.1's rope_freqs: 1 for high frequencies, the factor for low ones, a smooth ramp between
  // (factor 8, low/high frequency factors 1 and 4, original context 64 so most pairs are scaled).
  const half = hd / 2, base = spec.keys['rope.freq_base'][1], factor = 8, lowF = 1, highF = 4, orig = 64;
  const data = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const wavelen = 2 * Math.PI * base ** ((2 * i) / hd);
    if (wavelen < orig / highF) data[i] = 1;
    else if (wavelen > orig / lowF) data[i] = factor;
    else {
      const smooth = (orig / wavelen - lowF) / (highF - lowF);
      data[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  tensors.push({ name: 'rope_freqs.weight', ne: [half], data });
}
if (spec.longrope) {
  for (const [which, lo, hi] of [['long', 1, 12], ['short', 1, 1.5]]) {
    const half = hd / 2, data = new Float32Array(half);
    for (let i = 0; i < half; i++) data[i] = lo + ((hi - lo) * i) / (half - 1);
    tensors.push({ name: `rope_factors_${which}.weight`, ne: [half], data });
  }
}
for (let l = 0; l < L; l++) {
  const b = `blk.${l}.`;
  const has = (f) => spec.layer.includes(f);
  vector(b + 'attn_norm.weight', d);
  if (has('fused')) matrix(b + 'attn_qkv.weight', H * hd + 2 * KV * hd, d);
  else {
    matrix(b + 'attn_q.weight', H * hd, d);
    matrix(b + 'attn_k.weight', KV * hd, d);
    matrix(b + 'attn_v.weight', KV * hd, d);
  }
  if (has('qkv_bias')) {
    vector(b + 'attn_q.bias', H * hd, 0, 0.2);
    vector(b + 'attn_k.bias', KV * hd, 0, 0.2);
    vector(b + 'attn_v.bias', KV * hd, 0, 0.2);
  }
  if (has('qk_norm')) {
    vector(b + 'attn_q_norm.weight', hd);
    vector(b + 'attn_k_norm.weight', hd);
  }
  if (has('qk_norm_whole')) {
    vector(b + 'attn_q_norm.weight', H * hd);
    vector(b + 'attn_k_norm.weight', KV * hd);
  }
  matrix(b + 'attn_output.weight', d, H * hd, 0.5);
  if (has('post_norms')) vector(b + 'post_attention_norm.weight', d);
  vector(b + 'ffn_norm.weight', d);
  if (has('moe')) {
    matrix(b + 'ffn_gate_inp.weight', nExpert, d, 2);
    matrix(b + 'ffn_gate_exps.weight', nFfExp, d, 1, nExpert);
    matrix(b + 'ffn_up_exps.weight', nFfExp, d, 1, nExpert);
    matrix(b + 'ffn_down_exps.weight', d, nFfExp, 0.5, nExpert);
  } else {
    if (has('fused')) matrix(b + 'ffn_up.weight', 2 * F, d);
    else {
      matrix(b + 'ffn_gate.weight', F, d);
      matrix(b + 'ffn_up.weight', F, d);
    }
    matrix(b + 'ffn_down.weight', d, F, 0.5);
  }
  if (has('post_norms')) vector(b + 'post_ffw_norm.weight', d);
}

kv('general.architecture', 'str', arch);
// (not "phi3" in the name: llama.cpp then sets attributes of Phi-3 special tokens this vocabulary lacks)
kv('general.name', 'str', `tiny-${name}`.replace('phi3', 'phi'));
kv('general.file_type', 'u32', 0);
kv(`${arch}.context_length`, 'u32', spec.ctx ?? 2048);
kv(`${arch}.embedding_length`, 'u32', d);
kv(`${arch}.block_count`, 'u32', L);
kv(`${arch}.feed_forward_length`, 'u32', F);
kv(`${arch}.attention.head_count`, 'u32', H);
kv(`${arch}.attention.head_count_kv`, 'u32', KV);
if (spec.hd) {
  kv(`${arch}.attention.key_length`, 'u32', hd);
  kv(`${arch}.attention.value_length`, 'u32', hd);
}
kv(`${arch}.rope.dimension_count`, 'u32', hd);
if (!spec.keys['attention.layer_norm_rms_epsilon']) kv(`${arch}.attention.layer_norm_rms_epsilon`, 'f32', 1e-5);
for (const [k, [t, v]] of Object.entries(spec.keys)) kv(`${arch}.${k}`, t, v);
const tokKvs = tokenizerKvs(vocabSource);

const ALIGN = 32;
const head = [Buffer.from('GGUF'), u32b(3), u64b(tensors.length), u64b(kvs.length + tokKvs.length), ...kvs, ...tokKvs];
let off = 0;
for (const t of tensors) {
  head.push(strb(t.name), u32b(t.ne.length), ...t.ne.map(u64b), u32b(0), u64b(off));
  off += Math.ceil((t.data.length * 4) / ALIGN) * ALIGN;
}
let h = Buffer.concat(head);
h = Buffer.concat([h, Buffer.alloc((ALIGN - (h.length % ALIGN)) % ALIGN)]);
const body = Buffer.alloc(off);
off = 0;
for (const t of tensors) {
  Buffer.from(t.data.buffer).copy(body, off);
  off += Math.ceil((t.data.length * 4) / ALIGN) * ALIGN;
}
writeFileSync(out, Buffer.concat([h, body]));
console.log(`wrote ${out}: ${arch} (${name}), ${tensors.length} tensors, ${((h.length + body.length) / 1024) | 0} KiB`);
