// A small GGUF reader/writer for tests: reads a fixture, lets a test change one thing (drop a
// key or tensor, change a shape or type), and writes it back, so each malformed case is exact.
import { readFileSync, writeFileSync } from 'node:fs';

export interface KV {
  key: string;
  type: number;
  raw: Buffer; // the encoded value, type tag excluded
}
export interface TensorInfo {
  name: string;
  ne: bigint[];
  type: number;
  offset: bigint;
}
export interface GgufImage {
  version: number;
  kvs: KV[];
  tensors: TensorInfo[];
  alignment: number;
  data: Buffer; // the tensor data section
}

const scalarSize: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

export function readGguf(path: string): GgufImage {
  const b = readFileSync(path);
  let p = 0;
  const u32 = () => ((p += 4), b.readUInt32LE(p - 4));
  const u64 = () => ((p += 8), b.readBigUInt64LE(p - 8));
  const str = () => {
    const n = Number(u64());
    p += n;
    return b.subarray(p - n, p).toString('utf8');
  };
  const skipValue = (type: number): void => {
    if (type === 8) str();
    else if (type === 9) {
      const et = u32();
      const n = Number(u64());
      for (let i = 0; i < n; i++) skipValue(et);
    } else p += scalarSize[type];
  };
  p = 4;
  const version = u32();
  const nTensors = Number(u64());
  const nKv = Number(u64());
  const kvs: KV[] = [];
  let alignment = 32;
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const type = u32();
    const start = p;
    skipValue(type);
    const raw = Buffer.from(b.subarray(start, p));
    if (key === 'general.alignment') alignment = raw.readUInt32LE(0);
    kvs.push({ key, type, raw });
  }
  const tensors: TensorInfo[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const nd = u32();
    const ne: bigint[] = [];
    for (let d = 0; d < nd; d++) ne.push(u64());
    tensors.push({ name, ne, type: u32(), offset: u64() });
  }
  const dataStart = Math.ceil(p / alignment) * alignment;
  return { version, kvs, tensors, alignment, data: Buffer.from(b.subarray(dataStart)) };
}

export function encodeGguf(img: GgufImage): Buffer {
  const parts: Buffer[] = [];
  const u32 = (v: number) => {
    const x = Buffer.alloc(4);
    x.writeUInt32LE(v);
    parts.push(x);
  };
  const u64 = (v: bigint | number) => {
    const x = Buffer.alloc(8);
    x.writeBigUInt64LE(BigInt(v));
    parts.push(x);
  };
  const str = (s: string) => {
    const x = Buffer.from(s, 'utf8');
    u64(x.length);
    parts.push(x);
  };
  parts.push(Buffer.from('GGUF'));
  u32(img.version);
  u64(img.tensors.length);
  u64(img.kvs.length);
  for (const kv of img.kvs) {
    str(kv.key);
    u32(kv.type);
    parts.push(kv.raw);
  }
  for (const t of img.tensors) {
    str(t.name);
    u32(t.ne.length);
    for (const d of t.ne) u64(d);
    u32(t.type);
    u64(t.offset);
  }
  let head = Buffer.concat(parts);
  const pad = (img.alignment - (head.length % img.alignment)) % img.alignment;
  head = Buffer.concat([head, Buffer.alloc(pad)]);
  return Buffer.concat([head, img.data]);
}

export function writeGguf(path: string, img: GgufImage): void {
  writeFileSync(path, encodeGguf(img));
}

export function stringValue(s: string): Buffer {
  const x = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(x.length));
  return Buffer.concat([len, x]);
}
