#!/usr/bin/env node
// Writes a random-weight GGUF of a real model's shape, for speed measurements only (outputs are
// meaningless, the work is real), so benchmarks need no download.
//
//   node bench/make-model.mjs OUT.gguf --shape 1b|7b|tiny|qwen3-1.7b|olmoe --type Q4_0|Q8_0|Q4_K_M|Q5_K_M|Q6_K|Q2_K|Q3_K|IQ4_NL|IQ4_XS [--seed N]
//
// Shapes: 1b = TinyLlama-1.1B (dim 2048, 22 layers, 32 heads, 4 KV heads, FFN 5632, vocab 32000),
// 7b = LLaMA-7B (dim 4096, 32 layers, 32 heads, FFN 11008), qwen3-1.7b = Qwen3-1.7B (dim 2048, 28
// layers, 16 heads of 128, 8 KV heads, FFN 6144, vocab 151936, per-head Q/K norms, tied
// embeddings), olmoe = OLMoE-1B-7B (dim 2048, 16 layers, 16 heads, 64 experts of FFN 1024 with 8
// used per token, whole-vector Q/K norms, vocab 50304). Tensor types follow llama-quantize:
// matrices in TYPE, output.weight (or the tied token_embd) Q6_K, norms and the expert router F32;
// Q4_K_M / Q5_K_M give attn_v and ffn_down Q6_K in the layers llama.cpp's "use more bits" rule
// picks and Q4_K / Q5_K elsewhere.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';

const SHAPES = {
  // dim, layers, heads, kv heads, ffn, vocab; arch and extras
  '1b': { dims: [2048, 22, 32, 4, 5632, 32000], arch: 'llama' },
  '7b': { dims: [4096, 32, 32, 32, 11008, 32000], arch: 'llama' },
  tiny: { dims: [256, 2, 8, 4, 768, 512], arch: 'llama' },
  'qwen3-1.7b': { dims: [2048, 28, 16, 8, 6144, 151936], arch: 'qwen3', hd: 128, qkNorm: 'head', tied: true, base: 1e6 },
  olmoe: { dims: [2048, 16, 16, 16, 1024, 50304], arch: 'olmoe', hd: 128, qkNorm: 'whole', experts: 64, used: 8 },
};
// GGUF type id, elements per block, bytes per block
const TYPES = {
  F32: [0, 1, 4],
  Q4_0: [2, 32, 18],
  Q8_0: [8, 32, 34],
  Q4_K: [12, 256, 144],
  Q5_K: [13, 256, 176],
  Q6_K: [14, 256, 210],
  Q2_K: [10, 256, 84],
  Q3_K: [11, 256, 110],
  IQ4_NL: [20, 32, 18],
  IQ4_XS: [23, 256, 136],
};
// llama_ftype of each --type (Q3_K: Q3_K_S, every matrix Q3_K)
const FILE_TYPE = { Q4_0: 2, Q8_0: 7, Q4_K_M: 15, Q5_K_M: 17, Q6_K: 18, Q2_K: 10, Q3_K: 11, IQ4_NL: 25, IQ4_XS: 30 };

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    shape: { type: 'string', default: '1b' },
    type: { type: 'string', default: 'Q4_0' },
    seed: { type: 'string', default: '1' },
    // A vocabulary-only GGUF whose tokenizer to use (its size replaces the shape's vocabulary),
    // e.g. test/fixtures/tokenizer/ggml-vocab-llama-bpe.gguf for Llama 3's 128k tokens.
    vocab: { type: 'string' },
  },
});
const out = positionals[0];
if (!out || !SHAPES[values.shape] || !FILE_TYPE[values.type]) {
  console.error(`usage: node bench/make-model.mjs OUT.gguf --shape ${Object.keys(SHAPES).join('|')} --type ${Object.keys(FILE_TYPE).join('|')} [--seed N]`);
  process.exit(2);
}
const shape = SHAPES[values.shape];
const [dim, L, H, KV, FF] = shape.dims;
const vocabKvs = values.vocab ? tokenizerKvs(values.vocab) : null;
const V = vocabKvs ? vocabKvs.nTokens : shape.dims[5];

// The encoded tokenizer.* key/values of a GGUF file, and its token count.
function tokenizerKvs(path) {
  const b = readFileSync(path);
  const sizes = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  let p = 8;
  const u32 = () => ((p += 4), b.readUInt32LE(p - 4));
  const u64 = () => ((p += 8), Number(b.readBigUInt64LE(p - 8)));
  const str = () => { const n = u64(); p += n; return b.subarray(p - n, p).toString('utf8'); };
  const skip = (t) => { if (t === 8) str(); else if (t === 9) { const et = u32(); const n = u64(); for (let i = 0; i < n; i++) skip(et); } else p += sizes[t]; };
  u64();
  const nKv = u64();
  const kvs = [];
  let nTokens = 0;
  for (let i = 0; i < nKv; i++) {
    const start = p;
    const key = str();
    const type = u32();
    if (key === 'tokenizer.ggml.tokens') { const at = p; u32(); nTokens = u64(); p = at; }
    skip(type);
    if (key.startsWith('tokenizer.')) kvs.push(Buffer.from(b.subarray(start, p)));
  }
  return { kvs, nTokens };
}
const arch = shape.arch;
const hd = shape.hd ?? dim / H;
const E = shape.experts ?? 0;

// xorshift32: seeded and fast enough to fill gigabytes.
let state = (Number(values.seed) >>> 0) || 1;
function fillRandom(buf) {
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >> 2);
  let x = state;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  state = x;
}
function f16(v) {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0];
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  return ((u >>> 16) & 0x8000) | (exp << 10) | ((u >>> 13) & 0x3ff);
}
// Block scales between 0.002 and 0.02 keep activations finite through the layers.
const scales = Array.from({ length: 256 }, (_, i) => f16(0.002 + (0.018 * i) / 255));

function tensorBytes(type, rows, cols) {
  const [, bs, ts] = TYPES[type];
  return (rows * cols) / bs * ts;
}

// Writes one tensor's random blocks in chunks, fixing up each block's scale fields.
function writeBlocks(fd, type, rows, cols) {
  const [, bs, ts] = TYPES[type];
  const nBlocks = (rows * cols) / bs;
  const perChunk = Math.max(1, Math.floor((8 << 20) / ts));
  const chunk = Buffer.alloc(Math.ceil((perChunk * ts) / 4) * 4);
  for (let b0 = 0; b0 < nBlocks; b0 += perChunk) {
    const n = Math.min(perChunk, nBlocks - b0);
    fillRandom(chunk);
    for (let b = 0; b < n; b++) {
      const o = b * ts;
      const d = scales[chunk[o + 3] ?? 0];
      if (type === 'Q4_0' || type === 'Q8_0' || type === 'IQ4_NL') chunk.writeUInt16LE(d, o);
      else if (type === 'IQ4_XS') chunk.writeUInt16LE(scales[chunk[o + 3] >> 5], o); // 6-bit sub-scales multiply d
      else if (type === 'Q2_K') {
        // 4-bit sub-block scales and minimums multiply d and dmin
        chunk.writeUInt16LE(scales[chunk[o + 81] >> 4], o + 80);
        chunk.writeUInt16LE(scales[chunk[o + 83] >> 4], o + 82);
      } else if (type === 'Q3_K') chunk.writeUInt16LE(scales[chunk[o + 109] >> 5], o + 108);
      else if (type === 'Q4_K' || type === 'Q5_K') {
        // 6-bit sub-block scales multiply d, so keep d small.
        chunk.writeUInt16LE(scales[chunk[o + 3] >> 5], o);
        chunk.writeUInt16LE(scales[chunk[o + 5] >> 5], o + 2); // dmin
      } else if (type === 'Q6_K') {
        for (let s = 0; s < 16; s++) chunk[o + 192 + s] = 1 + (chunk[o + 192 + s] % 31);
        chunk.writeUInt16LE(d, o + 208);
      }
    }
    writeSync(fd, chunk, 0, n * ts);
  }
}

const tensors = []; // { name, ne, type, rows, cols, experts }
function add(name, rows, cols, type, experts = 0) {
  tensors.push({ name, ne: experts ? [cols, rows, experts] : rows > 1 ? [cols, rows] : [cols], type, rows: rows * (experts || 1), cols });
}
const mixed = { Q4_K_M: 'Q4_K', Q5_K_M: 'Q5_K' }[values.type];
const base = mixed ?? values.type;
const moreBits = (i) => i < L / 8 || i >= (7 * L) / 8 || (i - Math.floor(L / 8)) % 3 === 2;
add('token_embd.weight', V, dim, shape.tied ? 'Q6_K' : base);
add('output_norm.weight', 1, dim, 'F32');
if (!shape.tied) add('output.weight', V, dim, 'Q6_K');
for (let l = 0; l < L; l++) {
  const b = `blk.${l}.`;
  const big = mixed && moreBits(l) ? 'Q6_K' : base;
  add(b + 'attn_norm.weight', 1, dim, 'F32');
  add(b + 'attn_q.weight', H * hd, dim, base);
  add(b + 'attn_k.weight', KV * hd, dim, base);
  add(b + 'attn_v.weight', KV * hd, dim, big);
  if (shape.qkNorm === 'head') {
    add(b + 'attn_q_norm.weight', 1, hd, 'F32');
    add(b + 'attn_k_norm.weight', 1, hd, 'F32');
  } else if (shape.qkNorm === 'whole') {
    add(b + 'attn_q_norm.weight', 1, H * hd, 'F32');
    add(b + 'attn_k_norm.weight', 1, KV * hd, 'F32');
  }
  add(b + 'attn_output.weight', dim, H * hd, base);
  add(b + 'ffn_norm.weight', 1, dim, 'F32');
  if (E) {
    add(b + 'ffn_gate_inp.weight', E, dim, 'F32');
    add(b + 'ffn_gate_exps.weight', FF, dim, base, E);
    add(b + 'ffn_up_exps.weight', FF, dim, base, E);
    add(b + 'ffn_down_exps.weight', dim, FF, big, E);
  } else {
    add(b + 'ffn_gate.weight', FF, dim, base);
    add(b + 'ffn_up.weight', FF, dim, base);
    add(b + 'ffn_down.weight', dim, FF, big);
  }
}

// Metadata
const parts = [];
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
const f32 = (v) => { const b = Buffer.alloc(4); b.writeFloatLE(v); return b; };
const str = (s) => { const x = Buffer.from(s, 'utf8'); return Buffer.concat([u64(x.length), x]); };
const kv = [];
const kvU32 = (k, v) => kv.push(Buffer.concat([str(k), u32(4), u32(v)]));
const kvF32 = (k, v) => kv.push(Buffer.concat([str(k), u32(6), f32(v)]));
const kvStr = (k, v) => kv.push(Buffer.concat([str(k), u32(8), str(v)]));
const kvBool = (k, v) => kv.push(Buffer.concat([str(k), u32(7), Buffer.from([v ? 1 : 0])]));
const kvArr = (k, sub, items, enc) => kv.push(Buffer.concat([str(k), u32(9), u32(sub), u64(items.length), ...items.map(enc)]));
kvStr('general.architecture', arch);
kvStr('general.name', `bench-${values.shape}-${values.type}`);
kvU32('general.file_type', FILE_TYPE[values.type]);
kvU32('general.quantization_version', 2);
kvU32(`${arch}.context_length`, 4096);
kvU32(`${arch}.embedding_length`, dim);
kvU32(`${arch}.block_count`, L);
kvU32(`${arch}.feed_forward_length`, FF);
kvU32(`${arch}.attention.head_count`, H);
kvU32(`${arch}.attention.head_count_kv`, KV);
if (shape.hd) {
  kvU32(`${arch}.attention.key_length`, hd);
  kvU32(`${arch}.attention.value_length`, hd);
}
kvU32(`${arch}.rope.dimension_count`, hd);
kvF32(`${arch}.rope.freq_base`, shape.base ?? 10000);
kvF32(`${arch}.attention.layer_norm_rms_epsilon`, 1e-5);
if (E) {
  kvU32(`${arch}.expert_count`, E);
  kvU32(`${arch}.expert_used_count`, shape.used);
}
if (vocabKvs) kv.push(...vocabKvs.kvs);
const toks = vocabKvs ? [] : ['<unk>', '<s>', '</s>'];
if (!vocabKvs) {
  for (let i = 0; i < 256; i++) toks.push(`<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`);
  for (let i = 0; toks.length < V; i++) toks.push(`\u2581t${i}`);
}
if (!vocabKvs) {
  kvStr('tokenizer.ggml.model', 'llama');
  kvArr('tokenizer.ggml.tokens', 8, toks, str);
  kvArr('tokenizer.ggml.scores', 6, toks.map((_, i) => (i < 259 ? 0 : -(i - 259))), f32);
  kvArr('tokenizer.ggml.token_type', 5, toks.map((_, i) => u32(i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1)), (b) => b);
  kvU32('tokenizer.ggml.bos_token_id', 1);
  kvU32('tokenizer.ggml.eos_token_id', 2);
  kvU32('tokenizer.ggml.unknown_token_id', 0);
  kvBool('tokenizer.ggml.add_bos_token', true);
}

const ALIGN = 32;
parts.push(Buffer.from('GGUF'), u32(3), u64(tensors.length), u64(kv.length), ...kv);
let off = 0;
for (const t of tensors) {
  t.offset = off;
  parts.push(str(t.name), u32(t.ne.length), ...t.ne.map(u64), u32(TYPES[t.type][0]), u64(off));
  off += Math.ceil(tensorBytes(t.type, t.rows, t.cols) / ALIGN) * ALIGN;
}
let head = Buffer.concat(parts);
head = Buffer.concat([head, Buffer.alloc((ALIGN - (head.length % ALIGN)) % ALIGN)]);
const fd = openSync(out, 'w');
writeSync(fd, head);
for (const t of tensors) {
  const n = tensorBytes(t.type, t.rows, t.cols);
  if (t.type === 'F32') {
    // Norm weights near 1; a matrix (the expert router) random, so tokens pick varied experts.
    const b = Buffer.alloc(n);
    for (let i = 0; i < t.rows * t.cols; i++) b.writeFloatLE(t.rows > 1 ? 0.05 * Math.sin(i * 12.9898 + 78.233 * (i % 97)) : 1 + 0.01 * Math.sin(i), i * 4);
    writeSync(fd, b);
  } else writeBlocks(fd, t.type, t.rows, t.cols);
  const pad = (ALIGN - (n % ALIGN)) % ALIGN;
  if (pad) writeSync(fd, Buffer.alloc(pad));
}
closeSync(fd);
console.log(`wrote ${out}: ${values.shape} ${values.type}, ${(head.length + off) / 2 ** 20 | 0} MiB`);
