import { HalfbyteError } from './errors.js';
export declare function describe(value: unknown): string;
export declare function invalid(expected: string, what: string, value: unknown): HalfbyteError;
export declare function optionsObject<T extends object>(value: T | undefined, what: string): Partial<T>;
export declare function integer(value: unknown, what: string, min: number, max: number, fallback?: number): number;
export declare function number(value: unknown, what: string, min: number, max: number, fallback?: number): number;
export declare function boolean(value: unknown, what: string, fallback: boolean): boolean;
export declare function string(value: unknown, what: string): string;
export declare function signal(value: unknown, what: string): AbortSignal | undefined;
/** Checks a token list and returns it as an Int32Array (ids are range-checked by the engine). */
export declare function tokens(value: unknown, what: string): Int32Array;
