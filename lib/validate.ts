// Option validation: every public option is checked here before it reaches the addon, with
// messages of the form "Expected … for … but received …".
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

export function optionsObject<T extends object>(value: T | undefined, what: string): Partial<T> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('an options object', what, value);
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
