// Option validation: every public option is checked here before it reaches the addon, with
// messages of the form "Expected … for … but received …".
import { availableParallelism } from 'node:os';
import { HalfbyteError } from './errors.js';

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'function') return 'a function';
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}

export function invalid(expected: string, what: string, value: unknown): HalfbyteError {
  return new HalfbyteError('INVALID_ARGUMENT', `Expected ${expected} for ${what} but received ${describe(value)}`);
}

/**
 * The option names of T, as a runtime list the compiler checks against T: a name missing from
 * `names`, or one T does not have, is a type error. `optionKeys<LoadOptions>({ threads: true, ... })`.
 */
export function optionKeys<T extends object>(names: { [K in keyof Required<T>]: true }): readonly string[] {
  return Object.freeze(Object.keys(names));
}

/** Levenshtein distance, for "did you mean" (option names are short). */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(up + 1, row[j - 1]! + 1, diag + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
}

export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestDistance) (best = c), (bestDistance = d);
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/**
 * An options object (undefined and null give {}). With `known`, a name that is not an option
 * (a typo such as `maxToken`, or an option of a later version) is an INVALID_ARGUMENT naming the
 * closest valid one, never silently ignored. Only own enumerable keys whose value is not
 * undefined count, so `{ ...defaults, seed: undefined }` stays fine.
 */
export function optionsObject<T extends object>(value: T | undefined, what: string, known?: readonly string[]): Partial<T> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('an options object', what, value);
  if (known) {
    for (const key of Object.keys(value)) {
      if (known.includes(key) || (value as Record<string, unknown>)[key] === undefined) continue;
      const near = closest(key, known);
      throw new HalfbyteError(
        'INVALID_ARGUMENT',
        `Expected a known option in ${what} but received ${JSON.stringify(key)}` +
          (near ? `: did you mean ${JSON.stringify(near)}?` : ` (the options are ${known.join(', ')})`),
      );
    }
  }
  return value;
}

export function integer(value: unknown, what: string, min: number, max: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw invalid(`an integer from ${min} to ${max}`, what, value);
  return value;
}

export function number(value: unknown, what: string, min: number, max: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max)
    throw invalid(`a number from ${min} to ${max}`, what, value);
  return value;
}

/**
 * A thread count: 1 to 4x the logical CPUs (at least 4). More only adds switching: 1000 threads
 * made the bandwidth probe 70x slower.
 */
export function threads(value: unknown, what = 'threads'): number {
  const max = Math.max(4, 4 * availableParallelism());
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max)
    throw invalid(`an integer from 1 to ${max} (4x the ${availableParallelism()} logical CPUs)`, what, value);
  return value;
}

export function boolean(value: unknown, what: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalid('a boolean', what, value);
  return value;
}

export function string(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalid('a string', what, value);
  return value;
}

export function signal(value: unknown, what: string): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalid('an AbortSignal', what, value);
  return value;
}

/** Checks a token list and returns it as an Int32Array (ids are range-checked by the engine). */
export function tokens(value: unknown, what: string): Int32Array {
  if (value instanceof Int32Array) return value;
  if (value instanceof Uint32Array || Array.isArray(value) || ArrayBuffer.isView(value)) {
    const arr = value as ArrayLike<unknown>;
    const out = new Int32Array(arr.length);
    for (let i = 0; i < arr.length; i++) {
      const t = arr[i];
      if (typeof t !== 'number' || !Number.isInteger(t) || t < -2147483648 || t > 2147483647)
        throw invalid('integer token ids', `${what}[${i}]`, t);
      out[i] = t;
    }
    return out;
  }
  throw invalid('an array of token ids', what, value);
}
