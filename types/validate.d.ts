import { HalfbyteError } from './errors.js';
export declare function describe(value: unknown): string;
export declare function invalid(expected: string, what: string, value: unknown): HalfbyteError;
/**
 * The option names of T, as a runtime list the compiler checks against T: a name missing from
 * `names`, or one T does not have, is a type error. `optionKeys<LoadOptions>({ threads: true, ... })`.
 */
export declare function optionKeys<T extends object>(names: {
    [K in keyof Required<T>]: true;
}): readonly string[];
export declare function closest(name: string, candidates: readonly string[]): string | undefined;
/**
 * An options object (undefined and null give {}). With `known`, a name that is not an option
 * (a typo such as `maxToken`, or an option of a later version) is an INVALID_ARGUMENT naming the
 * closest valid one, never silently ignored. Only own enumerable keys whose value is not
 * undefined count, so `{ ...defaults, seed: undefined }` stays fine.
 */
export declare function optionsObject<T extends object>(value: T | undefined, what: string, known?: readonly string[]): Partial<T>;
export declare function integer(value: unknown, what: string, min: number, max: number, fallback?: number): number;
export declare function number(value: unknown, what: string, min: number, max: number, fallback?: number): number;
/**
 * A thread count: 1 to 4x the logical CPUs (at least 4). More only adds switching: 1000 threads
 * made the bandwidth probe 70x slower.
 */
export declare function threads(value: unknown, what?: string): number;
export declare function boolean(value: unknown, what: string, fallback: boolean): boolean;
export declare function string(value: unknown, what: string): string;
export declare function signal(value: unknown, what: string): AbortSignal | undefined;
/** Checks a token list and returns it as an Int32Array (ids are range-checked by the engine). */
export declare function tokens(value: unknown, what: string): Int32Array;
