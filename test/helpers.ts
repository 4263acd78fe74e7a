// Shared test helpers: fixture paths, reference files, logit comparisons.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { getCpuInfo, HalfbyteError } from '../lib/index.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const fixtures = fileURLToPath(new URL('./fixtures', import.meta.url));
export const modelPath = (name: string) => join(fixtures, 'models', name);

export interface RefCase {
  prompt: string;
  tokens: number[];
  positions: number[];
  logits: number[][];
  greedy: number[];
  /** llama.cpp's top-1 minus top-2 logit at each greedy step (newer fixtures only). */
  greedy_margin?: number[];
  greedy_text_hex: string;
}

/** Whether the active kernel set has the 8-row layouts that packWeights repacks into (x86-64's). */
export const activeKernelsPack = () => ['avx2', 'avx512', 'avx512amx'].includes(getCpuInfo().activeIsa);

export function readRef(name: string): RefCase[] {
  return JSON.parse(readFileSync(modelPath(name), 'utf8'));
}

/** log softmax of a logit row, in double. */
export function logSoftmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i] - lse;
  return out;
}

/** KL(ref || ours) of the softmax distributions of two logit rows. */
export function kl(ref: ArrayLike<number>, ours: ArrayLike<number>): number {
  const p = logSoftmax(ref);
  const q = logSoftmax(ours);
  let s = 0;
  for (let i = 0; i < p.length; i++) s += Math.exp(p[i]) * (p[i] - q[i]);
  return s;
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Difference between the largest and second-largest logit. */
export function top1Margin(row: ArrayLike<number>): number {
  let a = -Infinity;
  let b = -Infinity;
  for (let i = 0; i < row.length; i++) {
    if (row[i] > a) {
      b = a;
      a = row[i];
    } else if (row[i] > b) b = row[i];
  }
  return a - b;
}

/** The token ids a generation yields. */
export async function tokensOf(it: AsyncIterable<{ token: number }>): Promise<number[]> {
  const out: number[] = [];
  for await (const c of it) out.push(c.token);
  return out;
}

/** The code of the HalfbyteError a promise rejects with ('no error' if it resolves). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(HalfbyteError);
    return (err as HalfbyteError).code;
  }
  return 'no error';
}
